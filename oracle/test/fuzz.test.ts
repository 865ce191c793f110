import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FramedStream } from '@galactic/net'
import { ErrorCode, OracleMessage, RpcResponse, type AgentMessage, type GraphStatus } from '@galactic/schemas'
import { OracleNode } from '../src/oracle-node.js'
import { Journal } from '../src/journal/index.js'
import { AgentPeer, drain } from './agent-peer.js'
import { PLUGIN } from './helpers.js'

/**
 * Hostile input, generated: thousands of malformed requests over a real WebSocket and junk
 * frames over the real libp2p agent protocol, against one in-process oracle. It must answer
 * each with an error naming the problem, keep serving, and keep its journal intact.
 */

const CODES = new Set<string>(ErrorCode.options)

/** One WebSocket, one request at a time: each send is answered by the next message. */
class Wire {
  private readonly waiters: Array<(text: string) => void> = []
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.waiters.shift()?.(data.toString()))
  }
  static async open(url: string): Promise<Wire> {
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 })
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    return new Wire(ws)
  }
  async send(data: string | Uint8Array, binary = false): Promise<RpcResponse> {
    const reply = new Promise<string>((resolve) => this.waiters.push(resolve))
    this.ws.send(data, { binary })
    return RpcResponse.parse(JSON.parse(await reply))
  }
  submit(graph: unknown): Promise<RpcResponse> {
    return this.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'graph.submit', params: { graph } }))
  }
}

/** Asserts a JSON-RPC error with a known galactic code and a message; returns the error. */
function expectError(res: RpcResponse): { code: string; message: string; issues: Array<{ path: string; message: string }> } {
  if (!('error' in res)) throw new Error(`expected an error, got ${JSON.stringify(res).slice(0, 300)}`)
  const data = res.error.data
  expect(data).toBeDefined()
  expect(CODES.has(data?.code as string)).toBe(true)
  expect(res.error.message.length).toBeGreaterThan(0)
  const issues = (data?.details?.['issues'] ?? []) as Array<{ path: string; message: string }>
  return { code: data?.code as string, message: res.error.message, issues }
}

/** A validation error must name the field: issues with paths, the first one in the message. */
function expectNamed(err: { message: string; issues: Array<{ path: string }> }): void {
  expect(err.issues.length).toBeGreaterThan(0)
  for (const issue of err.issues) expect(typeof issue.path).toBe('string')
  expect(err.message).toContain(err.issues[0]?.path)
}

function baseGraph(nonce: string): Record<string, unknown> {
  return {
    requester: 'fuzzer',
    nonce,
    ops: [
      { id: 'a', name: 'split', plugin: { ...PLUGIN, version: '9.9.9' }, params: { seed: 's', n: 1 } },
      { id: 'b', name: 'prove', inputs: ['a'], plugin: { ...PLUGIN, version: '9.9.9' }, timeoutMs: 1000 },
      { id: 'c', name: 'snark', inputs: ['b'], plugin: { ...PLUGIN, version: '9.9.9' }, requirements: { minMemoryMiB: 1 } },
    ],
  }
}

/** Every path into a JSON value: [] is the root. */
function paths(value: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  const out = [at]
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...at, i])))
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...at, k]))
  return out
}

function nest(depth: number): unknown {
  let v: unknown = 0
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v }
  return v
}

type Mutation = { kind: 'set'; value: unknown } | { kind: 'delete' } | { kind: 'unknown-key'; key: string; value: unknown } | { kind: 'cycle' }

function mutate(graph: Record<string, unknown>, path: Array<string | number>, m: Mutation): unknown {
  if (m.kind === 'cycle') {
    const ops = graph['ops'] as Array<Record<string, unknown>>
    ;(ops[0] as Record<string, unknown>)['inputs'] = ['c']
    return graph
  }
  if (path.length === 0) return m.kind === 'set' ? m.value : m.kind === 'delete' ? undefined : { ...graph, [m.key]: m.value }
  let parent: unknown = graph
  for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[key]
  const last = path[path.length - 1] as string | number
  const p = parent as Record<string | number, unknown>
  if (m.kind === 'set') p[last] = m.value
  else if (m.kind === 'delete') {
    if (Array.isArray(p) && typeof last === 'number') p.splice(last, 1)
    else delete p[last]
  } else {
    const target = p[last]
    if (target !== null && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, unknown>)[m.key] = m.value
    else p[last] = { [m.key]: m.value }
  }
  return graph
}

const hugeNumber = fc.constantFrom(1e308, -1e308, Number.MAX_VALUE, 2 ** 53 + 2, -(2 ** 63), 1e21, 4294967297, 0.5, -1, Number.MIN_VALUE)

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({ kind: fc.constant('set' as const), value: hugeNumber }),
  fc.record({ kind: fc.constant('set' as const), value: fc.integer({ min: 65, max: 3000 }).map(nest) }),
  fc.record({ kind: fc.constant('set' as const), value: fc.string({ minLength: 200, maxLength: 2000 }) }),
  fc.constant({ kind: 'delete' as const }),
  fc.record({ kind: fc.constant('unknown-key' as const), key: fc.string({ minLength: 1, maxLength: 12 }), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.constant({ kind: 'cycle' as const }),
)

function varint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

describe('an oracle under generated hostile input', () => {
  let dir: string
  let oracle: OracleNode
  let wire: Wire
  let peer: AgentPeer
  const accepted = new Map<string, GraphStatus>()
  let nonce = 0

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-fuzz-'))
    oracle = new OracleNode({
      dataDir: join(dir, 'oracle'),
      wsPort: 0,
      p2pPort: 0,
      verifyMode: 'off',
      // The fuzzer is one very busy connection; rate limits are tested elsewhere.
      rpcRateLimit: { perSecond: 1e9, burst: 1e9, maxStrikes: 1 },
    })
    await oracle.start()
    wire = await Wire.open(oracle.wsUrl)
    for (const n of ['keep-1', 'keep-2']) {
      const res = await wire.submit(baseGraph(n))
      if (!('result' in res)) throw new Error('setup graph refused')
      const { graphId } = res.result as { graphId: string }
      const status = await wire.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'graph.status', params: { graphId } }))
      accepted.set(graphId, (status as { result: GraphStatus }).result)
    }
    peer = await AgentPeer.start(dir, 'fuzz-peer', oracle.multiaddrs[0] as string)
  })

  afterAll(async () => {
    wire?.ws.terminate()
    await peer?.stop()
    await oracle?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers arbitrary JSON, arbitrary text and binary frames with JSON-RPC errors', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
        expectError(await wire.send(JSON.stringify(value)))
      }),
      { numRuns: 1000 },
    )
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 300 }), async (text) => {
        expectError(await wire.send(text))
      }),
      { numRuns: 500 },
    )
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) => {
        expect(expectError(await wire.send(bytes, true)).code).toBe('PROTOCOL_ERROR')
      }),
      { numRuns: 300 },
    )
  })

  it('answers mutated graphs (wrong types, unknown fields, huge numbers, deep nesting, cycles) naming the field', async () => {
    const allPaths = paths(baseGraph('x'))
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...allPaths), mutation, async (path, m) => {
        const graph = mutate(baseGraph(`m-${nonce++}`), path, m)
        const res = await wire.submit(graph)
        if ('result' in res) return // the mutation happened to keep the graph valid
        const err = expectError(res)
        expect(['INVALID_GRAPH', 'INVALID_INPUT', 'NONCE_CONFLICT']).toContain(err.code)
        if (err.code !== 'NONCE_CONFLICT') expectNamed(err)
      }),
      { numRuns: 1500 },
    )
    // A cycle and a huge number each, for certain.
    const cyc = expectError(await wire.submit(mutate(baseGraph(`c-${nonce++}`), [], { kind: 'cycle' })))
    expect(cyc.message).toContain('cycle')
    const huge = expectError(await wire.submit(mutate(baseGraph(`h-${nonce++}`), ['ops', 1, 'timeoutMs'], { kind: 'set', value: 1e300 })))
    expect(huge.issues[0]?.path).toBe('ops[1].timeoutMs')
    const deep = expectError(await wire.submit(mutate(baseGraph(`d-${nonce++}`), ['ops', 0, 'params'], { kind: 'set', value: nest(3000) })))
    expect(deep.code).toBe('INVALID_INPUT')
    expect(deep.issues[0]?.path).toMatch(/^params\.graph\.ops\[0\]\.params/)
  })

  it('answers junk on the libp2p agent protocol with an error frame or a clean close', async () => {
    const exchange = async (bytes: Uint8Array): Promise<OracleMessage[]> => {
      const stream = await peer.stream()
      const framed = new FramedStream<OracleMessage, AgentMessage>(stream, OracleMessage, 'oracle message')
      stream.send(bytes)
      await stream.close()
      return drain(framed)
    }
    // Whole frames of junk: always a PROTOCOL_ERROR naming the problem.
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v)))), async (body) => {
        const replies = await exchange(Uint8Array.from([...varint(body.length), ...body]))
        expect(replies).toHaveLength(1)
        expect(replies[0]).toMatchObject({ type: 'error', fatal: true, error: { code: 'PROTOCOL_ERROR' } })
      }),
      { numRuns: 150 },
    )
    // A length prefix over the limit: PAYLOAD_TOO_LARGE before any body is read.
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 16 * 1024 * 1024 + 1, max: 2 ** 31 }), async (len) => {
        const replies = await exchange(varint(len))
        expect(replies).toEqual([expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }) })])
      }),
      { numRuns: 30 },
    )
    // Arbitrary bytes: an error frame (PROTOCOL_ERROR or PAYLOAD_TOO_LARGE) or, for half a frame, a close.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
        const replies = await exchange(bytes)
        expect(replies.length).toBeLessThanOrEqual(1)
        for (const r of replies) {
          expect(r.type).toBe('error')
          expect(['PROTOCOL_ERROR', 'PAYLOAD_TOO_LARGE']).toContain(r.type === 'error' ? r.error.code : '')
        }
      }),
      { numRuns: 150 },
    )
    // An honest registration still works on the same connection.
    const { framed, reply } = await peer.connect(await peer.register('after-fuzz'))
    expect(reply.type).toBe('registered')
    framed.abort('done')
  })

  it('still serves, and its journal is intact with the accepted graphs unchanged', async () => {
    const info = await wire.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'oracle.info', params: {} }))
    expect('result' in info).toBe(true)
    for (const [graphId, before] of accepted) {
      const now = await wire.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'graph.status', params: { graphId } }))
      expect((now as { result: GraphStatus }).result).toEqual(before)
    }
    await oracle.stop()
    const journal = Journal.open({ path: join(dir, 'oracle', 'journal.sqlite') })
    try {
      expect(journal.integrityCheck()).toBe(true)
      const snapshot = journal.load()
      for (const graphId of accepted.keys()) expect(snapshot.graphs.some((g) => g.graphId === graphId)).toBe(true)
      expect(snapshot.ops.filter((o) => accepted.has(o.graphId)).map((o) => o.state)).toEqual(['ready', 'pending', 'pending', 'ready', 'pending', 'pending'])
    } finally {
      journal.close()
    }
  })
})
