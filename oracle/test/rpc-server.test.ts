import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import { GalacticError, RpcResponse } from '@galactic/schemas'
import { RpcServer, type RpcHandlers } from '../src/rpc-server.js'
import { until } from '../../test/support/until.js'

const status = { graphId: 'g', requester: 'r', nonce: 'n', priority: 'cost', pluginMode: 'efficiency', state: 'running', submittedAt: 0, finishedAt: null, ops: [] } as const

const handlers = {
  'oracle.info': () => ({ version: 't', peerId: 'p', multiaddrs: [] }),
  'graph.status': () => status,
  'graph.subscribe': (p: { graphId: string; ops: boolean }, ctx: { subscribe(g: string, ops: boolean): string }) => ({ subscriptionId: ctx.subscribe(p.graphId, p.ops), status }),
} as unknown as RpcHandlers

let http: Server | undefined
let rpc: RpcServer | undefined
const sockets: WebSocket[] = []

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate()
  await rpc?.stop()
  await new Promise<void>((resolve) => (http === undefined ? resolve() : http.close(() => resolve())))
  http = rpc = undefined
})

async function serve(init: ConstructorParameters<typeof RpcServer>[0], log = pino({ level: 'silent' }), host = '127.0.0.1'): Promise<string> {
  rpc = new RpcServer(init, handlers, log)
  http = createServer()
  rpc.attach(http)
  await new Promise<void>((resolve) => http?.listen(0, host, resolve))
  return `ws://${host.includes(':') ? `[${host}]` : host}:${(http.address() as AddressInfo).port}`
}

/** A raw client that queues every message and close it gets. */
async function open(url: string): Promise<{ ws: WebSocket; next(): Promise<RpcResponse>; closed: Promise<number> }> {
  const ws = new WebSocket(url)
  sockets.push(ws)
  const queue: unknown[] = []
  const waiters: Array<(v: unknown) => void> = []
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as unknown
    const w = waiters.shift()
    if (w !== undefined) w(msg)
    else queue.push(msg)
  })
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return {
    ws,
    closed,
    next: async () => RpcResponse.parse(queue.length > 0 ? queue.shift() : await new Promise((resolve) => waiters.push(resolve))),
  }
}

/** The next `n` replies, ordered by request id (refusals are sent before handled requests finish). */
async function replies(c: { next(): Promise<RpcResponse> }, n: number): Promise<RpcResponse[]> {
  const out: RpcResponse[] = []
  for (let i = 0; i < n; i++) out.push(await c.next())
  return out.sort((x, y) => Number(x.id) - Number(y.id))
}

function errorCode(res: RpcResponse): string | undefined {
  return 'error' in res ? res.error.data?.code : undefined
}

describe('the requester transport under load and abuse', () => {
  it('answers RATE_LIMITED over the limit, serves again once refilled, and disconnects a persistent abuser', async () => {
    let now = 0
    const url = await serve({ maxMessageBytes: 1024 * 1024, rateLimit: { perSecond: 10, burst: 3, maxStrikes: 2 }, now: () => now })
    const c = await open(url)
    const send = (id: number): void => c.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'oracle.info', params: {} }))
    for (let id = 1; id <= 4; id++) send(id)
    const first = await replies(c, 4)
    expect(first.map(errorCode)).toEqual([undefined, undefined, undefined, 'RATE_LIMITED'])
    expect(first[3]?.id).toBe(4)
    now += 1000 // the bucket refills: served again, strikes forgiven
    send(5)
    expect(errorCode(await c.next())).toBeUndefined()
    send(6)
    send(7)
    expect((await replies(c, 2)).map(errorCode)).toEqual([undefined, undefined])
    for (let id = 8; id <= 11; id++) send(id)
    expect((await replies(c, 3)).map(errorCode)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED'])
    expect(await c.closed).toBe(1008)
    // Another connection is unaffected.
    const d = await open(url)
    d.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'oracle.info', params: {} }))
    expect(errorCode(await d.next())).toBeUndefined()
  })

  it('caps open subscriptions per connection', async () => {
    const url = await serve({ maxMessageBytes: 1024 * 1024, maxSubscriptionsPerConnection: 2 })
    const c = await open(url)
    for (let id = 1; id <= 3; id++) c.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'graph.subscribe', params: { graphId: 'g' } }))
    expect((await replies(c, 3)).map(errorCode)).toEqual([undefined, undefined, 'INVALID_INPUT'])
  })

  it('closes a connection that sends a message over the size limit (1009) and keeps serving others', async () => {
    const url = await serve({ maxMessageBytes: 1024 })
    const c = await open(url)
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'oracle.info', params: { pad: 'x'.repeat(2048) } }))
    expect(await c.closed).toBe(1009)
    const d = await open(url)
    d.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'oracle.info', params: {} }))
    expect(errorCode(await d.next())).toBeUndefined()
  })

  it('answers binary frames, deep nesting and unknown fields with errors naming the problem', async () => {
    const url = await serve({ maxMessageBytes: 1024 * 1024 })
    const c = await open(url)
    c.ws.send(Buffer.from([0xff, 0x00, 0x7b]), { binary: true })
    expect(errorCode(await c.next())).toBe('PROTOCOL_ERROR')
    c.ws.send(`{"jsonrpc":"2.0","id":2,"method":"oracle.info","params":${'['.repeat(5000)}${']'.repeat(5000)}}`)
    const deep = await c.next()
    expect(deep.id).toBe(2)
    expect(errorCode(deep)).toBe('INVALID_INPUT')
    expect('error' in deep && deep.error.message).toContain('nested deeper than 64')
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'graph.status', params: { graphId: 'g', extra: 1 } }))
    const unknown = await c.next()
    expect(errorCode(unknown)).toBe('INVALID_INPUT')
    expect('error' in unknown && unknown.error.message).toContain('extra')
  })
})

/** Opens a WebSocket sending `origin` (none when undefined): 'open', or the HTTP status and body of the refusal. */
async function upgrade(url: string, origin?: string): Promise<'open' | { status: number; body: string }> {
  const ws = new WebSocket(url, origin === undefined ? {} : { origin })
  sockets.push(ws)
  ws.on('error', () => undefined) // a refused handshake also ends in an error event, after the answer below
  return await new Promise((resolve, reject) => {
    ws.once('open', () => resolve('open'))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    ws.once('close', () => reject(new Error('closed before an answer')))
  })
}

describe('graph events', () => {
  /** A connection to a fresh server that keeps every message it gets, as sent (batches stay arrays). */
  async function listener(): Promise<{ ws: WebSocket; raw: unknown[]; received: (n: number) => Promise<unknown> }> {
    const url = await serve({ maxMessageBytes: 1 << 20 })
    const raw: unknown[] = []
    const ws = new WebSocket(url)
    sockets.push(ws)
    ws.on('message', (data) => raw.push(JSON.parse(data.toString())))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    return { ws, raw, received: (n) => until(`${n} messages`, async () => (raw.length >= n ? true : undefined), 5_000, 10) }
  }

  it("sends one turn's events for a connection as one JSON-RPC batch, and a lone event as one notification", async () => {
    const { ws, raw, received } = await listener()
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'graph.subscribe', params: { graphId: 'g' } }))
    await received(1)
    const subscriptionId = (raw[0] as { result: { subscriptionId: string } }).result.subscriptionId
    const event = (opId: string, state: 'ready' | 'running') =>
      ({ type: 'op', graphId: 'g', opId, state, attempt: 1, deviceIds: null, outputs: null, error: null, at: 1 }) as const
    const server = rpc as RpcServer
    server.publish(event('a', 'ready'))
    server.publish(event('a', 'running'))
    server.publish({ ...event('b', 'ready'), graphId: 'other' }) // nobody here subscribed to it
    await received(2)
    server.publish(event('c', 'ready'))
    await received(3)
    const note = (e: ReturnType<typeof event>) => ({ jsonrpc: '2.0', method: 'graph.event', params: { subscriptionId, event: e } })
    expect(raw.slice(1)).toEqual([[note(event('a', 'ready')), note(event('a', 'running'))], note(event('c', 'ready'))])
  })

  it('sends a subscription made with ops: false only the graph events, and op events to the one beside it', async () => {
    const { ws, raw, received } = await listener()
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'graph.subscribe', params: { graphId: 'g', ops: false } }))
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'graph.subscribe', params: { graphId: 'g' } }))
    await received(2)
    const idOf = (id: number) => (raw.find((m) => (m as { id?: number }).id === id) as { result: { subscriptionId: string } }).result.subscriptionId
    const [graphOnly, everything] = [idOf(1), idOf(2)]
    const op = { type: 'op', graphId: 'g', opId: 'a', state: 'succeeded', attempt: 1, deviceIds: null, outputs: null, error: null, at: 1 } as const
    const end = { type: 'graph', graphId: 'g', state: 'succeeded', at: 2 } as const
    const server = rpc as RpcServer
    server.publish(op)
    await received(3)
    server.publish(end)
    await received(4)
    const note = (subscriptionId: string, event: unknown) => ({ jsonrpc: '2.0', method: 'graph.event', params: { subscriptionId, event } })
    expect(raw.slice(2)).toEqual([note(everything, op), [note(graphOnly, end), note(everything, end)]])
  })
})

describe('WebSocket origins (cross-site WebSocket hijacking)', () => {
  const lines: string[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) })

  it("accepts clients without an Origin and pages of the oracle's own origin; refuses other sites with 403 and a log line", async () => {
    lines.length = 0
    const url = await serve({ maxMessageBytes: 1024 * 1024 }, log)
    const port = new URL(url).port
    // The SDK and the CLI send no Origin: served.
    expect(await upgrade(url)).toBe('open')
    const c = await open(url)
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'oracle.info', params: {} }))
    expect(errorCode(await c.next())).toBeUndefined()
    // The dashboard, loaded from the oracle itself, by address or as localhost.
    expect(await upgrade(url, `http://127.0.0.1:${port}`)).toBe('open')
    expect(await upgrade(url, `http://localhost:${port}`)).toBe('open')
    // Other sites, another local web app (other port), a DNS-rebinding name on the oracle's port,
    // the oracle's address over https (not what it serves), an opaque origin: refused before the handshake.
    for (const origin of ['https://evil.example', `http://127.0.0.1:${Number(port) === 65535 ? 1 : Number(port) + 1}`, `http://evil.example:${port}`, `https://127.0.0.1:${port}`, 'null', 'not a url']) {
      const answer = await upgrade(url, origin)
      expect(answer, origin).toEqual({ status: 403, body: 'origin not allowed\n' })
    }
    expect(rpc?.['wss']?.clients.size).toBe(4) // the four accepted above; no refused one got through
    const refusals = lines.map((l) => JSON.parse(l) as { level: number; msg: string; origin: string })
    expect(refusals).toHaveLength(6)
    expect(refusals[0]).toMatchObject({ level: 40, origin: 'https://evil.example' })
    expect(refusals[0]?.msg).toContain('origin not allowed')
  })

  it('accepts the origins of allowedOrigins, exactly', async () => {
    const url = await serve({ maxMessageBytes: 1024 * 1024, allowedOrigins: ['https://Dash.Example.org/', 'http://10.0.0.5:8080'] })
    expect(await upgrade(url, 'https://dash.example.org')).toBe('open')
    expect(await upgrade(url, 'http://10.0.0.5:8080')).toBe('open')
    expect(await upgrade(url, 'https://dash.example.org:8443')).toMatchObject({ status: 403 })
    expect(await upgrade(url, 'http://dash.example.org')).toMatchObject({ status: 403 })
    expect(await upgrade(url, 'https://evil.dash.example.org')).toMatchObject({ status: 403 })
  })

  it("takes [::1] and localhost for the oracle's own origin on IPv6 loopback", async () => {
    const url = await serve({ maxMessageBytes: 1024 * 1024 }, pino({ level: 'silent' }), '::1')
    const port = new URL(url).port
    expect(await upgrade(url, `http://[::1]:${port}`)).toBe('open')
    expect(await upgrade(url, `http://localhost:${port}`)).toBe('open')
    expect(await upgrade(url, `http://127.0.0.1:${port}`)).toMatchObject({ status: 403 })
  })

  it('refuses a bad allowedOrigins entry, naming it', () => {
    for (const [origins, field] of [[['https://ok.example', 'ftp://x.example'], 'allowedOrigins[1]'], [['https://x.example/app'], 'allowedOrigins[0]'], [['*'], 'allowedOrigins[0]']] as const) {
      let err: unknown
      try {
        new RpcServer({ maxMessageBytes: 1024, allowedOrigins: [...origins] }, handlers, pino({ level: 'silent' }))
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(GalacticError)
      expect((err as GalacticError).code).toBe('INVALID_INPUT')
      expect((err as GalacticError).message.startsWith(`${field}:`)).toBe(true)
    }
  })
})
