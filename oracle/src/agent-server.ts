import type { Logger } from 'pino'
import { FramedStream, type Connection, type Stream } from '@galactic/net'
import { TokenBucket, type RateLimitInit } from './security/token-bucket.js'
import {
  AgentMessage,
  GalacticError,
  type OracleMessage,
  type TaskOutcome,
  type TaskRef,
  type TaskResultEntry,
} from '@galactic/schemas'

/** What the agent transport needs from the oracle: one call per message, each returning when committed. */
export interface AgentHandlers {
  register(msg: Extract<AgentMessage, { type: 'register' }>, peerId: string, session: AgentSession): Promise<void> | void
  heartbeat(proverId: string, running: TaskRef[]): Promise<void> | void
  started(proverId: string, ref: TaskRef): Promise<void> | void
  result(proverId: string, ref: TaskRef, outcome: TaskOutcome): Promise<void> | void
  disconnected(proverId: string, session: AgentSession): Promise<void> | void
}

export interface AgentServerInit {
  /** How long a new stream may take to send `register`. @default 10_000 */
  registerTimeoutMs?: number
  /**
   * Checks registrations (signature, peer id, one address per prover id) and result signatures.
   * @default none: registrations are taken as they come (tests of the transport alone)
   */
  security?: AgentSecurity
  /**
   * Messages per second one agent stream may send after `register`. Over it a message is
   * dropped with a non-fatal RATE_LIMITED error; past `maxStrikes` refusals the stream is closed.
   * @default { perSecond: 100, burst: 200, maxStrikes: 20 }
   */
  rateLimit?: RateLimitInit
  /** Milliseconds clock for the rate limit. @default Date.now */
  now?: () => number
}

/** What the agent transport asks of the oracle's security: see OracleSecurity. */
export interface AgentSecurity {
  /** Returns the prover's address as checkResults takes it (EIP-55 checksummed). */
  checkRegistration(msg: Extract<AgentMessage, { type: 'register' }>, connectionPeerId: string): string
  checkResults(proverId: string, address: string, peerId: string, results: TaskResultEntry[], signature: string): void
}

export const DEFAULT_AGENT_RATE_LIMIT: RateLimitInit = { perSecond: 100, burst: 200, maxStrikes: 20 }

/** One agent's long-lived stream. Messages to the agent go through `send`. */
export class AgentSession {
  readonly proverId: string
  readonly peerId: string
  private readonly framed: FramedStream<AgentMessage, OracleMessage>
  private readonly bucket: TokenBucket | undefined
  private closed = false

  constructor(proverId: string, peerId: string, framed: FramedStream<AgentMessage, OracleMessage>, bucket?: TokenBucket) {
    this.proverId = proverId
    this.peerId = peerId
    this.framed = framed
    this.bucket = bucket
  }

  /** Sends a message; a dead stream is logged by the caller's loop, never thrown here. */
  send(message: OracleMessage): void {
    if (this.closed) return
    // The task's start and result are owed to us: they do not count against the rate limit.
    if (message.type === 'task.assign') this.bucket?.credit(2)
    this.framed.send(message).catch(() => {
      this.close('send failed')
    })
  }

  close(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.framed.abort(reason)
  }

  get isClosed(): boolean {
    return this.closed
  }
}

/**
 * The agent transport: `/galactic/agent/1.0.0` streams over libp2p. The first message must
 * be `register`; after that heartbeats, task starts and results flow in, each parsed with
 * the schema and handed to the oracle in order. A protocol error is answered with an
 * `error` message and ends the stream; the prover then times out like any lost prover.
 */
export class AgentServer {
  private readonly handlers: AgentHandlers
  private readonly log: Logger
  private readonly registerTimeoutMs: number
  private readonly security: AgentSecurity | undefined
  private readonly rateLimit: RateLimitInit
  private readonly now: () => number

  constructor(init: AgentServerInit, handlers: AgentHandlers, log: Logger) {
    this.handlers = handlers
    this.log = log
    this.registerTimeoutMs = init.registerTimeoutMs ?? 10_000
    this.security = init.security
    this.rateLimit = init.rateLimit ?? DEFAULT_AGENT_RATE_LIMIT
    this.now = init.now ?? Date.now
  }

  async handle(stream: Stream, connection: Connection): Promise<void> {
    const framed = new FramedStream<AgentMessage, OracleMessage>(stream, AgentMessage, 'agent message')
    const peerId = connection.remotePeer.toString()
    let session: AgentSession | undefined
    try {
      const first = await framed.read({ signal: AbortSignal.timeout(this.registerTimeoutMs) })
      if (first.type !== 'register') throw new GalacticError('PROTOCOL_ERROR', `first message must be register, got ${first.type}`)
      const address = this.security?.checkRegistration(first, peerId) ?? first.address
      const bucket = new TokenBucket(this.rateLimit, this.now)
      session = new AgentSession(first.proverId, peerId, framed, bucket)
      await this.handlers.register(first, peerId, session)
      const log = this.log.child({ prover: first.proverId })
      log.info({ peerId, device: first.device.cpu.model, plugins: first.device.plugins.length }, 'prover registered')
      // Results are handled one after another, but off the read loop: verifying one can take
      // seconds (a recursive proof), and the heartbeats behind it must still count meanwhile.
      let results: Promise<void> = Promise.resolve()
      const current = session
      for (;;) {
        const msg = await framed.read()
        const verdict = bucket.take()
        if (verdict === 'abusive') throw new GalacticError('RATE_LIMITED', `more than ${this.rateLimit.perSecond} messages per second, persistently: disconnected`)
        if (verdict === 'limited') {
          session.send({ type: 'error', error: { code: 'RATE_LIMITED', message: `${msg.type} dropped: more than ${this.rateLimit.perSecond} messages per second` }, fatal: false })
          continue
        }
        switch (msg.type) {
          case 'heartbeat':
            await this.handlers.heartbeat(session.proverId, msg.running)
            break
          case 'task.started':
            await this.handlers.started(session.proverId, { graphId: msg.graphId, opId: msg.opId, attempt: msg.attempt })
            break
          case 'task.results': {
            // A bad signature ends the stream here; the chain keeps this agent's results in order.
            this.security?.checkResults(session.proverId, address, peerId, msg.results, msg.signature)
            results = results
              .then(async () => {
                for (const { outcome, ...ref } of msg.results) await this.handlers.result(current.proverId, ref, outcome)
              })
              .catch(async (err: unknown) => {
                // As if it had failed in the loop: tell the agent and end the stream; it sends the result again.
                const error = GalacticError.from(err)
                log.warn({ code: error.code, err: error.message }, 'result not taken: closing the stream')
                await framed.send({ type: 'error', error: error.toObject(), fatal: true }).catch(() => {})
                current.close(`result not taken: ${error.message}`)
              })
            break
          }
          case 'register':
            throw new GalacticError('PROTOCOL_ERROR', 'register sent twice on one stream')
        }
      }
    } catch (err) {
      const error = GalacticError.from(err)
      if (error.code !== 'CONNECTION_CLOSED') {
        this.log.warn({ peerId, code: error.code, err: error.message }, 'agent stream ended with an error')
        await framed.send({ type: 'error', error: error.toObject(), fatal: true }).catch(() => {})
      }
    } finally {
      if (session !== undefined) {
        session.close('stream ended')
        await this.handlers.disconnected(session.proverId, session)
      } else {
        framed.abort('stream ended')
      }
    }
  }
}
