import WebSocket from 'ws'
import type { Signer } from 'ethers'
import {
  contentHash,
  GalacticError,
  GraphEventNotification,
  RPC_METHODS,
  RpcResponse,
  type ContentHash,
  type GraphEvent,
  type GraphInput,
  type GraphStatus,
  type LedgerEntry,
  type PGasEpoch,
  type Quote,
  type RpcMethod,
  type RpcParams,
  type RpcResult,
} from '@galactic/schemas'
import { signSubmission, type SubmitGraphInput } from './signing.js'

export interface GalacticClientInit {
  /** The oracle's WebSocket URL. @default 'ws://127.0.0.1:7700' */
  url?: string
  /** How long one request may wait for its reply. @default 30_000 */
  requestTimeoutMs?: number
  /** Largest message accepted from the oracle. @default 96 MiB (a 64 MiB blob in base64) */
  maxMessageBytes?: number
  /**
   * Signs every submission (EIP-712, see docs/security.md) and fills `requester` with the
   * signer's address when the graph leaves it out. @default none: submissions go unsigned
   */
  signer?: Signer
  /** How long a signed submission stays valid. @default 600 */
  signatureTtlSeconds?: number
}

export interface CallOptions {
  signal?: AbortSignal
}

/** What {@link GalacticClient.watch} yields: a snapshot on (re)subscribing, then each change. */
export type WatchEvent = { type: 'snapshot'; status: GraphStatus } | GraphEvent

export interface WatchOptions extends CallOptions {
  /** Reconnect and resubscribe when the connection drops (an oracle restart). @default true */
  reconnect?: boolean
  /** Longest pause between reconnect attempts. @default 2_000 */
  maxBackoffMs?: number
  /**
   * Each op's changes too, not only the graph's. `false` saves the oracle and the requester one
   * notification per op state change (about four per op). @default true
   */
  ops?: boolean
}

/** One output of a finished graph, with its bytes, checked against its content hash. */
export interface GraphOutput {
  opId: string
  name: string
  hash: ContentHash
  size: number
  data: Uint8Array
}

export interface GraphResult {
  status: GraphStatus
  /** Outputs of the graph's sink ops (ops no other op consumes). */
  outputs: GraphOutput[]
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: GalacticError) => void
}

const TERMINAL = new Set(['succeeded', 'failed'])

/**
 * A requester's client for a galactic oracle, over WebSocket (JSON-RPC 2.0).
 * It connects on first use and again after the connection drops.
 *
 * @example
 * const client = new GalacticClient({ url: 'ws://127.0.0.1:7700' })
 * const { graphId } = await client.submit(graph)
 * const status = await client.wait(graphId)
 * const { outputs } = await client.result(graphId)
 * client.close()
 */
export class GalacticClient {
  readonly url: string
  private readonly requestTimeoutMs: number
  private readonly maxMessageBytes: number
  private readonly signer: Signer | undefined
  private readonly signatureTtlSeconds: number
  private socket: Promise<WebSocket> | undefined
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly subscriptions = new Map<string, (event: GraphEvent) => void>()
  private closed = false

  constructor(init: GalacticClientInit = {}) {
    this.url = init.url ?? 'ws://127.0.0.1:7700'
    this.requestTimeoutMs = init.requestTimeoutMs ?? 30_000
    this.maxMessageBytes = init.maxMessageBytes ?? 96 * 1024 * 1024
    this.signer = init.signer
    this.signatureTtlSeconds = init.signatureTtlSeconds ?? 600
  }

  /**
   * Submits a graph. Submitting the same graph with the same nonce again returns the same id.
   * With a `signer`, the graph is signed first and `requester` may be left out.
   */
  async submit(graph: GraphInput | SubmitGraphInput, options: CallOptions = {}): Promise<RpcResult<'graph.submit'>> {
    if (this.signer === undefined) return this.call('graph.submit', { graph }, options)
    const params = await signSubmission(this.signer, graph, { ttlSeconds: this.signatureTtlSeconds })
    return this.call('graph.submit', params, options)
  }

  /** A graph's state and every op's state, prover and outputs. */
  async status(graphId: string, options: CallOptions = {}): Promise<GraphStatus> {
    return this.call('graph.status', { graphId }, options)
  }

  /** Graphs the oracle knows, newest first, without their ops. */
  async graphs(options: CallOptions & { limit?: number } = {}): Promise<RpcResult<'graph.list'>['graphs']> {
    return (await this.call('graph.list', { limit: options.limit ?? 100 }, options)).graphs
  }

  /** Why an op is not placed yet: per placement plugin, how many provers it rejected and why. */
  async explain(graphId: string, opId: string, options: CallOptions = {}): Promise<RpcResult<'graph.explain'>> {
    return this.call('graph.explain', { graphId, opId }, options)
  }

  /** Every prover the oracle knows, with its device, liveness and running tasks. */
  async provers(options: CallOptions = {}): Promise<RpcResult<'prover.list'>['provers']> {
    return (await this.call('prover.list', {}, options)).provers
  }

  /**
   * The price of a graph at the current P_gas, before submitting it: each op's gas and price,
   * the total gas, and the most the graph can cost (every redundant prover paid). Ops whose
   * plugin has no known cost model yet have `gas: null` and are counted in `unpriced`.
   */
  async quote(graph: GraphInput, options: CallOptions = {}): Promise<Quote> {
    return this.call('gas.quote', { graph }, options)
  }

  /** The current P_gas (wei per gas) and, with `history`, the last epochs oldest first. */
  async pGas(options: CallOptions & { history?: number } = {}): Promise<RpcResult<'pgas.get'>> {
    return this.call('pgas.get', { history: options.history ?? 0 }, options)
  }

  /**
   * Follows P_gas: yields the current epoch, then each new one (polled every `epochMs`), until
   * `signal` aborts.
   */
  async *watchPGas(options: CallOptions = {}): AsyncGenerator<PGasEpoch> {
    let last = -1
    while (options.signal?.aborted !== true) {
      const { current, epochMs } = await this.pGas(options)
      if (current.epoch !== last) {
        last = current.epoch
        yield current
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, Math.max(100, epochMs / 2))
        options.signal?.addEventListener('abort', done, { once: true })
      })
    }
  }

  /** Ledger balances: what each requester owes and each prover earned (or one account's). */
  async balances(options: CallOptions & { account?: string } = {}): Promise<RpcResult<'ledger.balances'>> {
    return this.call('ledger.balances', options.account === undefined ? {} : { account: options.account }, options)
  }

  /** Ledger lines, oldest first, of one graph and/or one account. */
  async ledger(options: CallOptions & { graphId?: string; account?: string; limit?: number } = {}): Promise<LedgerEntry[]> {
    const { graphId, account, limit } = options
    const params = { limit: limit ?? 1000, ...(graphId === undefined ? {} : { graphId }), ...(account === undefined ? {} : { account }) }
    return (await this.call('ledger.entries', params, options)).entries
  }

  /** The oracle's peer id and the libp2p addresses agents dial. */
  async info(options: CallOptions = {}): Promise<RpcResult<'oracle.info'>> {
    return this.call('oracle.info', {}, options)
  }

  /** A blob's bytes by content hash, checked against the hash. */
  async blob(hash: ContentHash, options: CallOptions = {}): Promise<Uint8Array> {
    const reply = await this.call('blob.get', { hash }, options)
    const bytes = new Uint8Array(Buffer.from(reply.data, 'base64'))
    const actual = contentHash(bytes)
    if (actual !== hash) throw new GalacticError('PROTOCOL_ERROR', `oracle sent bytes hashing to ${actual} for ${hash}`)
    return bytes
  }

  /**
   * Follows a graph: a snapshot first (again after each reconnect), then every change,
   * ending after the graph succeeds or fails, or when `signal` aborts.
   */
  async *watch(graphId: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    const reconnect = options.reconnect ?? true
    const maxBackoff = options.maxBackoffMs ?? 2_000
    let backoff = 100
    for (;;) {
      const queue: GraphEvent[] = []
      let wake: (() => void) | undefined
      let dropped: GalacticError | undefined
      let subscriptionId: string | undefined
      const onDrop = (err: GalacticError): void => {
        dropped = err
        wake?.()
      }
      const onAbort = (): void => wake?.()
      options.signal?.addEventListener('abort', onAbort)
      try {
        const sub = await this.subscribe(graphId, options.ops ?? true, (event) => {
          queue.push(event)
          wake?.()
        }, onDrop, options)
        subscriptionId = sub.subscriptionId
        backoff = 100
        yield { type: 'snapshot', status: sub.status }
        if (TERMINAL.has(sub.status.state)) return
        for (;;) {
          while (queue.length > 0) {
            const event = queue.shift() as GraphEvent
            yield event
            if (event.type === 'graph' && TERMINAL.has(event.state)) return
          }
          if (dropped !== undefined) throw dropped
          throwIfAborted(options.signal)
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          wake = undefined
        }
      } catch (err) {
        const error = GalacticError.from(err)
        if (!reconnect || error.code !== 'CONNECTION_CLOSED' || this.closed) throw error
        await sleep(backoff, options.signal)
        backoff = Math.min(backoff * 2, maxBackoff)
      } finally {
        options.signal?.removeEventListener('abort', onAbort)
        if (subscriptionId !== undefined) {
          this.subscriptions.delete(subscriptionId)
          if (dropped === undefined && !this.closed) {
            this.call('graph.unsubscribe', { subscriptionId }).catch(() => {})
          }
        }
      }
    }
  }

  /**
   * Waits until the graph succeeds or fails; returns its final status. Op events are asked for
   * only when `onEvent` is given (or `ops: true`).
   */
  async wait(graphId: string, options: WatchOptions & { onEvent?: (event: WatchEvent) => void } = {}): Promise<GraphStatus> {
    let last: GraphStatus | undefined
    for await (const event of this.watch(graphId, { ...options, ops: options.ops ?? options.onEvent !== undefined })) {
      options.onEvent?.(event)
      if (event.type === 'snapshot') last = event.status
    }
    // The stream ended on a terminal event: read the final state once.
    const status = await this.status(graphId, options)
    if (!TERMINAL.has(status.state) && last !== undefined && TERMINAL.has(last.state)) return last
    return status
  }

  /** The outputs of a finished graph's sink ops, with their bytes. */
  async result(graphId: string, options: CallOptions = {}): Promise<GraphResult> {
    const status = await this.status(graphId, options)
    if (status.state !== 'succeeded') {
      throw new GalacticError('NOT_FOUND', `graph ${graphId} has no result: it is ${status.state}`, { graphId, state: status.state })
    }
    const consumed = new Set(status.ops.flatMap((op) => op.inputs))
    const outputs: GraphOutput[] = []
    for (const op of status.ops) {
      if (consumed.has(op.id)) continue
      for (const out of op.outputs ?? []) {
        outputs.push({ opId: op.id, name: out.name, hash: out.hash, size: out.size, data: await this.blob(out.hash, options) })
      }
    }
    return { status, outputs }
  }

  /** Closes the connection; pending calls fail with CONNECTION_CLOSED. */
  close(): void {
    this.closed = true
    const socket = this.socket
    this.socket = undefined
    void socket?.then((ws) => ws.close()).catch(() => {})
    this.failAll(new GalacticError('CONNECTION_CLOSED', 'client closed'))
  }

  private async subscribe(
    graphId: string,
    ops: boolean,
    onEvent: (event: GraphEvent) => void,
    onDrop: (err: GalacticError) => void,
    options: CallOptions,
  ): Promise<RpcResult<'graph.subscribe'>> {
    const ws = await this.connection(options.signal)
    ws.once('close', () => onDrop(new GalacticError('CONNECTION_CLOSED', 'connection to the oracle closed')))
    const sub = await this.call('graph.subscribe', { graphId, ops }, options)
    this.subscriptions.set(sub.subscriptionId, onEvent)
    return sub
  }

  /** Calls one method of the oracle, with params and result checked by the shared schemas. */
  async call<M extends RpcMethod>(method: M, params: RpcParams<M>, options: CallOptions = {}): Promise<RpcResult<M>> {
    throwIfAborted(options.signal)
    const ws = await this.connection(options.signal)
    const id = this.nextId++
    const raw = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new GalacticError('TIMEOUT', `${method} got no reply in ${this.requestTimeoutMs} ms`))
      }, this.requestTimeoutMs)
      const onAbort = (): void => {
        this.pending.delete(id)
        clearTimeout(timer)
        reject(new GalacticError('ABORTED', `${method} aborted`))
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', onAbort)
          resolve(value)
        },
        reject: (err) => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', onAbort)
          reject(err)
        },
      })
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }), (err) => {
        if (err !== undefined && err !== null) this.pending.get(id)?.reject(new GalacticError('CONNECTION_CLOSED', err.message))
      })
    })
    const parsed = RPC_METHODS[method].result.safeParse(raw)
    if (!parsed.success) throw new GalacticError('PROTOCOL_ERROR', `oracle sent a malformed ${method} result: ${parsed.error.message}`)
    return parsed.data as RpcResult<M>
  }

  private connection(signal?: AbortSignal): Promise<WebSocket> {
    if (this.closed) return Promise.reject(new GalacticError('CONNECTION_CLOSED', 'client closed'))
    this.socket ??= this.open(signal)
    return this.socket
  }

  private open(signal?: AbortSignal): Promise<WebSocket> {
    const attempt = new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(this.url, { maxPayload: this.maxMessageBytes })
      const fail = (err: Error): void => reject(new GalacticError('CONNECTION_CLOSED', `cannot reach the oracle at ${this.url}: ${err.message}`))
      ws.once('error', fail)
      ws.once('open', () => {
        ws.off('error', fail)
        ws.on('error', () => {})
        resolve(ws)
      })
      ws.on('message', (data) => this.onMessage(data.toString()))
      ws.once('close', () => {
        if (this.socket === attempt) this.socket = undefined
        this.failAll(new GalacticError('CONNECTION_CLOSED', 'connection to the oracle closed'))
      })
      signal?.addEventListener('abort', () => reject(new GalacticError('ABORTED', 'connect aborted')), { once: true })
    })
    attempt.catch(() => {
      if (this.socket === attempt) this.socket = undefined
    })
    return attempt
  }

  private onMessage(text: string): void {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return
    }
    // The oracle sends the notifications of one moment as a JSON-RPC batch.
    if (Array.isArray(json)) {
      for (const item of json) this.onJson(item)
      return
    }
    this.onJson(json)
  }

  private onJson(json: unknown): void {
    const note = GraphEventNotification.safeParse(json)
    if (note.success) {
      this.subscriptions.get(note.data.params.subscriptionId)?.(note.data.params.event)
      return
    }
    const res = RpcResponse.safeParse(json)
    if (!res.success || res.data.id === null || typeof res.data.id !== 'number') return
    const pending = this.pending.get(res.data.id)
    if (pending === undefined) return
    this.pending.delete(res.data.id)
    if ('error' in res.data) {
      const e = res.data.error
      pending.reject(e.data !== undefined ? GalacticError.fromObject(e.data) : new GalacticError('INTERNAL', e.message))
    } else {
      pending.resolve(res.data.result)
    }
  }

  private failAll(err: GalacticError): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id)
      p.reject(err)
    }
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new GalacticError('ABORTED', 'aborted')
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        reject(new GalacticError('ABORTED', 'aborted'))
      },
      { once: true },
    )
  })
}
