import type { IncomingMessage, Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { isIP } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Logger } from 'pino'
import {
  assertJsonDepth,
  GalacticError,
  MAX_JSON_DEPTH,
  parseOrThrow,
  RPC_ERROR,
  RPC_METHODS,
  RpcRequest,
  zodIssues,
  type GraphEvent,
  type GraphEventNotification,
  type RpcMethod,
  type RpcParams,
  type RpcResult,
} from '@galactic/schemas'
import { TokenBucket, type RateLimitInit } from './security/token-bucket.js'

/** What the requester protocol needs from the oracle. */
export type RpcHandlers = { [M in RpcMethod]: (params: RpcParams<M>, ctx: RpcContext) => Promise<RpcResult<M>> | RpcResult<M> }

export interface RpcContext {
  /** Registers a subscription for this connection, delivered until it closes; `ops` false: graph events only. */
  subscribe(graphId: string, ops: boolean): string
  unsubscribe(subscriptionId: string): boolean
}

export interface RpcServerInit {
  /** Largest message accepted from a requester. */
  maxMessageBytes: number
  /** Subscriptions one connection may hold. @default 64 */
  maxSubscriptionsPerConnection?: number
  /**
   * Requests per second one connection may send. Over it a request is answered with
   * RATE_LIMITED; past `maxStrikes` refusals the connection is closed (1008, policy violation).
   * @default { perSecond: 200, burst: 400, maxStrikes: 100 }
   */
  rateLimit?: RateLimitInit
  /** Deepest nesting of arrays and objects in a request. @default MAX_JSON_DEPTH (64) */
  maxJsonDepth?: number
  /** Milliseconds clock for the rate limit. @default Date.now */
  now?: () => number
  /**
   * Web origins (`scheme://host[:port]`) whose pages may open a WebSocket to the oracle, besides
   * the oracle's own (see {@link originAllowed}). Upgrades without an Origin header (the SDK, the
   * CLI, any non-browser client) are always accepted. @default []
   */
  allowedOrigins?: string[]
}

export const DEFAULT_RPC_RATE_LIMIT: RateLimitInit = { perSecond: 200, burst: 400, maxStrikes: 100 }

/**
 * The requester transport: JSON-RPC 2.0 over WebSocket. Every request's params are parsed
 * with the method's schema before a handler sees them; errors go back with the galactic
 * ErrorObject in `error.data`. Malformed input never reaches the core and never closes
 * the server.
 */
export class RpcServer {
  private wss: WebSocketServer | undefined
  private readonly subs = new Map<string, { ws: WebSocket; graphId: string; ops: boolean }>()
  /** Notifications waiting for the end of this event-loop turn, per connection (see publish). */
  private readonly outgoing = new Map<WebSocket, GraphEventNotification[]>()
  private readonly byGraph = new Map<string, Set<string>>()
  private readonly init: RpcServerInit
  private readonly handlers: RpcHandlers
  private readonly log: Logger
  private readonly allowedOrigins: ReadonlySet<string>

  constructor(init: RpcServerInit, handlers: RpcHandlers, log: Logger) {
    this.init = init
    this.handlers = handlers
    this.log = log
    this.allowedOrigins = new Set((init.allowedOrigins ?? []).map((o, i) => parseOrigin(o, `allowedOrigins[${i}]`)))
  }

  /**
   * Serves WebSocket upgrades of `server` (the oracle's HTTP server) on any path. An upgrade
   * from a web page of another origin is refused with HTTP 403 before the handshake (no
   * cross-site WebSocket hijacking: a page elsewhere cannot drive the oracle from a visitor's browser).
   */
  attach(server: Server): void {
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.init.maxMessageBytes })
    wss.on('error', (err) => this.log.error({ err }, 'websocket server error'))
    wss.on('connection', (ws, req) => this.onConnection(ws, req))
    server.on('upgrade', (req, socket, head) => {
      const origin = originHeader(req)
      if (origin !== undefined && !originAllowed(origin, req, this.allowedOrigins)) {
        this.log.warn({ origin: origin.slice(0, 200), remote: req.socket.remoteAddress }, 'websocket upgrade refused: origin not allowed (add it to allowedOrigins to admit it)')
        refuse(socket, 403, 'Forbidden', 'origin not allowed\n')
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    })
    this.wss = wss
  }

  async stop(): Promise<void> {
    const wss = this.wss
    if (wss === undefined) return
    this.wss = undefined
    for (const ws of wss.clients) ws.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  }

  /**
   * Sends `event` to its graph's subscribers (op events only to those that asked for them). The
   * notifications for one connection in one event-loop turn go out as one message: a JSON-RPC 2.0
   * batch (an array) when there are several.
   */
  publish(event: GraphEvent): void {
    const ids = this.byGraph.get(event.graphId)
    if (ids === undefined) return
    for (const subscriptionId of ids) {
      const sub = this.subs.get(subscriptionId)
      if (sub === undefined || (event.type === 'op' && !sub.ops)) continue
      const note: GraphEventNotification = { jsonrpc: '2.0', method: 'graph.event', params: { subscriptionId, event } }
      let queue = this.outgoing.get(sub.ws)
      if (queue === undefined) {
        if (this.outgoing.size === 0) setImmediate(() => this.flushNotes())
        this.outgoing.set(sub.ws, (queue = []))
      }
      queue.push(note)
    }
  }

  private flushNotes(): void {
    for (const [ws, notes] of this.outgoing) {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(notes.length === 1 ? notes[0] : notes))
    }
    this.outgoing.clear()
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const mine = new Set<string>()
    const max = this.init.maxSubscriptionsPerConnection ?? 64
    const ctx: RpcContext = {
      subscribe: (graphId, ops) => {
        if (mine.size >= max) throw new GalacticError('INVALID_INPUT', `at most ${max} subscriptions per connection`)
        const id = randomUUID()
        mine.add(id)
        this.subs.set(id, { ws, graphId, ops })
        let set = this.byGraph.get(graphId)
        if (set === undefined) this.byGraph.set(graphId, (set = new Set()))
        set.add(id)
        return id
      },
      unsubscribe: (id) => {
        if (!mine.has(id)) return false
        mine.delete(id)
        this.drop(id)
        return true
      },
    }
    this.log.debug({ remote: req.socket.remoteAddress }, 'requester connected')
    const limit = this.init.rateLimit ?? DEFAULT_RPC_RATE_LIMIT
    const bucket = new TokenBucket(limit, this.init.now ?? Date.now)
    ws.on('message', (data, isBinary) => {
      if (ws.readyState !== ws.OPEN) return
      const text = isBinary ? null : data.toString()
      const verdict = bucket.take()
      if (verdict !== 'ok') {
        const error = new GalacticError('RATE_LIMITED', `more than ${limit.perSecond} requests per second${verdict === 'abusive' ? ', persistently: disconnected' : ''}`)
        reply(ws, requestId(text), RPC_ERROR.server, error)
        if (verdict === 'abusive') {
          this.log.warn({ remote: req.socket.remoteAddress }, 'requester over its rate limit too often: disconnected')
          ws.close(1008, 'rate limit exceeded')
        }
        return
      }
      void this.onMessage(ws, ctx, text)
    })
    ws.on('error', (err) => this.log.debug({ err }, 'requester connection error'))
    ws.on('close', () => {
      for (const id of mine) this.drop(id)
      mine.clear()
    })
  }

  private drop(subscriptionId: string): void {
    const sub = this.subs.get(subscriptionId)
    if (sub === undefined) return
    this.subs.delete(subscriptionId)
    const set = this.byGraph.get(sub.graphId)
    set?.delete(subscriptionId)
    if (set?.size === 0) this.byGraph.delete(sub.graphId)
  }

  private async onMessage(ws: WebSocket, ctx: RpcContext, text: string | null): Promise<void> {
    let json: unknown
    try {
      if (text === null) throw new Error('binary frame')
      json = JSON.parse(text)
    } catch {
      reply(ws, null, RPC_ERROR.parse, new GalacticError('PROTOCOL_ERROR', 'message is not JSON text'))
      return
    }
    try {
      assertJsonDepth(json, this.init.maxJsonDepth ?? MAX_JSON_DEPTH, 'request')
    } catch (err) {
      reply(ws, requestIdOf(json), RPC_ERROR.invalidRequest, GalacticError.from(err))
      return
    }
    const request = RpcRequest.safeParse(json)
    if (!request.success) {
      const issues = zodIssues(request.error)
      const first = issues[0]
      reply(ws, requestIdOf(json), RPC_ERROR.invalidRequest, new GalacticError('PROTOCOL_ERROR', `not a JSON-RPC 2.0 request: ${first?.path}: ${first?.message}`, { issues }))
      return
    }
    const { id, method } = request.data
    if (!Object.hasOwn(RPC_METHODS, method)) {
      reply(ws, id, RPC_ERROR.methodNotFound, new GalacticError('NOT_FOUND', `unknown method ${method}`))
      return
    }
    const m = method as RpcMethod
    let params: unknown
    try {
      params = parseOrThrow(RPC_METHODS[m].params, request.data.params ?? {}, `${m} params`)
    } catch (err) {
      reply(ws, id, RPC_ERROR.invalidParams, GalacticError.from(err))
      return
    }
    try {
      const handler = this.handlers[m] as (p: unknown, c: RpcContext) => Promise<unknown> | unknown
      const result = await handler(params, ctx)
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ jsonrpc: '2.0', id, result }))
    } catch (err) {
      const error = GalacticError.from(err)
      if (error.code === 'INTERNAL') this.log.error({ err, method: m }, 'request failed')
      reply(ws, id, RPC_ERROR.server, error)
    }
  }
}

/** The Origin a browser sent with an upgrade (`Sec-WebSocket-Origin` in protocol version 8), if any. */
function originHeader(req: IncomingMessage): string | undefined {
  const value = req.headers.origin ?? req.headers['sec-websocket-origin']
  return Array.isArray(value) ? value.join(',') : value
}

/**
 * Whether a page of `origin` may open a WebSocket on this connection: an origin in `allowed`, or
 * the oracle's own http origin as this connection reached it, i.e. `http://<address>:<port>` with
 * the IP address and port the connection came in on (`localhost` too when that address is a
 * loopback one): the dashboard the oracle serves. A DNS name is never taken for the oracle's own
 * origin (a DNS-rebinding page would pass a check against the Host header): list it in `allowed`.
 * Opaque origins (`null`: files, sandboxed frames) are refused.
 */
export function originAllowed(origin: string, req: IncomingMessage, allowed: ReadonlySet<string>): boolean {
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  if (url.origin === 'null') return false
  if (allowed.has(url.origin)) return true
  if (url.protocol !== 'http:') return false
  const port = url.port === '' ? 80 : Number(url.port)
  if (port !== req.socket.localPort) return false
  const local = unmapIp(req.socket.localAddress ?? '')
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  if (host === 'localhost') return isLoopback(local)
  return isIP(host) !== 0 && unmapIp(host) === local
}

/** `scheme://host[:port]` as the URL standard serializes it, or an INVALID_INPUT error naming `field`. */
function parseOrigin(value: string, field: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new GalacticError('INVALID_INPUT', `${field}: not an origin (scheme://host[:port]): ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GalacticError('INVALID_INPUT', `${field}: an origin is http:// or https://, got ${JSON.stringify(value)}`)
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new GalacticError('INVALID_INPUT', `${field}: an origin has no path, query, fragment or credentials: ${JSON.stringify(value)}`)
  }
  return url.origin
}

function unmapIp(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1')
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address)
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuse(socket: Duplex, status: number, reason: string, body: string): void {
  // After 'upgrade' the HTTP server no longer listens for socket errors: a reset must not crash the oracle.
  socket.on('error', () => socket.destroy())
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}

/** The id of a request, when it has a usable one, for the error reply. */
function requestIdOf(json: unknown): string | number | null {
  const id = typeof json === 'object' && json !== null ? (json as { id?: unknown }).id : undefined
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id
  if (typeof id === 'string' && id.length <= 128) return id
  return null
}

/** The id of a request we will not process (rate limited): parsed only when small. */
function requestId(text: string | null): string | number | null {
  if (text === null || text.length > 64 * 1024) return null
  try {
    return requestIdOf(JSON.parse(text))
  } catch {
    return null
  }
}

function reply(ws: WebSocket, id: string | number | null, code: number, error: GalacticError): void {
  if (ws.readyState !== ws.OPEN) return
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message: error.message, data: error.toObject() } }))
}
