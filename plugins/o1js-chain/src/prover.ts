import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { GalacticError } from '@galactic/schemas'
import type { JsonProof } from './chain.js'
import { KeyCache, PLUGIN_DIR } from './keys.js'
import { ProverMessage, type ProofStats, type ProverRequest } from './prover-protocol.js'

/** The prover process' entry point (built: the plugin runs from dist/ in every runtime). */
export const PROVER_ENTRY = join(PLUGIN_DIR, 'dist', 'prover-process.js')

/** A proof and what it cost. */
export interface ProofResult {
  proof: JsonProof
  stats: ProofStats
}

/** What a prover process said when it was ready. */
export interface ProverReady {
  pid: number
  verificationKeyHash: string
  backend: 'native' | 'wasm'
  /** Compiling the program with the key cache. */
  compileMs: number
}

export interface ProverInit {
  /** @default new KeyCache() */
  keys?: KeyCache
  /** Diagnostics: the prover process' own output and its starts and ends. @default none */
  log?: (line: string) => void
  /**
   * A prover process whose resident memory is above this after a proof is ended, and the next proof
   * starts a new one (o1js keeps memory: measured, a process grows about 200 MB a merge). @default 2048
   */
  recycleAboveMiB?: number
}

type Body = { op: 'leaf'; start: string; offset: number } | { op: 'merge'; left: JsonProof; right: JsonProof }

interface Session {
  child: ChildProcess
  ready: Promise<ProverReady>
  pending: Map<number, { resolve: (r: ProofResult) => void; reject: (err: unknown) => void }>
  exited: Promise<void>
  /** Why it was killed on purpose (the abort reason), if it was. */
  killedFor?: unknown
  /** Set when it has exited: what its requests fail with. */
  ended?: unknown
}

/** Rejects with the signal's reason once it aborts (never settles otherwise). */
function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (signal === undefined) return
    if (signal.aborted) reject(signal.reason)
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

/**
 * Makes proofs in a separate process (prover-process.ts) that it starts on the first proof and
 * keeps for the next ones. One proof at a time, in call order. Aborting a proof kills that
 * process (o1js cannot be interrupted inside a proof); the next proof starts a new one, which
 * compiles again (seconds, with the key cache). A process that has grown past `recycleAboveMiB`
 * is ended after its proof the same way.
 */
export class Prover {
  readonly keys: KeyCache
  readonly #log: (line: string) => void
  readonly #recycleAboveMiB: number
  #session: Session | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #nextId = 1
  #closed = false

  constructor(init: ProverInit = {}) {
    this.keys = init.keys ?? new KeyCache()
    this.#log = init.log ?? (() => {})
    this.#recycleAboveMiB = init.recycleAboveMiB ?? 2048
  }

  /** The prover process' pid, while one runs. */
  get pid(): number | undefined {
    return this.#session?.child.pid
  }

  /** A leaf proof: 16 steps from `start` = s(offset). */
  leaf(start: string, offset: number, signal?: AbortSignal): Promise<ProofResult> {
    return this.#request({ op: 'leaf', start, offset }, signal)
  }

  /** A merge proof of `left` then `right` (the prover process verifies both first). */
  merge(left: JsonProof, right: JsonProof, signal?: AbortSignal): Promise<ProofResult> {
    return this.#request({ op: 'merge', left, right }, signal)
  }

  /** Starts the prover process (if none runs) and waits until it has compiled. */
  async ready(signal?: AbortSignal): Promise<ProverReady> {
    const session = this.#start()
    return Promise.race([session.ready, aborted(signal)])
  }

  /** Kills the prover process, if any, and refuses proofs from now on. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    const session = this.#session
    if (session === undefined) return
    this.#kill(session, new GalacticError('TASK_CANCELLED', 'the prover was closed'))
    await session.exited
  }

  #request(body: Body, signal: AbortSignal | undefined): Promise<ProofResult> {
    const run = async (): Promise<ProofResult> => {
      signal?.throwIfAborted()
      const session = this.#start()
      const onAbort = (): void => this.#kill(session, signal?.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        await session.ready
        // It may have exited since it was ready (killed, out of memory): its pending list is closed.
        if (session.ended !== undefined) throw session.ended
        const id = this.#nextId++
        return await new Promise<ProofResult>((resolve, reject) => {
          session.pending.set(id, { resolve, reject })
          session.child.send({ id, ...body } satisfies ProverRequest)
        })
      } finally {
        signal?.removeEventListener('abort', onAbort)
      }
    }
    const result = this.#queue.then(run, run)
    this.#queue = result.catch(() => {})
    // A request still waiting for its turn answers an abort at once.
    return Promise.race([result, aborted(signal)])
  }

  #start(): Session {
    if (this.#closed) throw new GalacticError('PLUGIN_FAILED', 'the prover is closed')
    if (this.#session !== undefined) return this.#session
    if (!existsSync(PROVER_ENTRY)) {
      throw new GalacticError('PLUGIN_FAILED', `${PROVER_ENTRY} is missing: build the plugin first (npx tsc -b)`, { missing: PROVER_ENTRY })
    }
    // execArgv: none of this process' flags (a test runner's loaders), just node.
    const child = fork(PROVER_ENTRY, [this.keys.dir, String(process.pid)], { silent: true, execArgv: [], serialization: 'json' })
    const pid = child.pid ?? 0
    this.#log(`prover process ${pid} started`)
    for (const stream of [child.stdout, child.stderr]) {
      if (stream !== null) createInterface({ input: stream }).on('line', (line) => this.#log(`prover ${pid}: ${line}`))
    }
    let onReady!: (r: ProverReady) => void
    let onFail!: (err: unknown) => void
    const ready = new Promise<ProverReady>((resolve, reject) => {
      onReady = resolve
      onFail = reject
    })
    ready.catch(() => {}) // observed by the requests; a failed start must not be an unhandled rejection
    const session: Session = {
      child,
      ready,
      pending: new Map(),
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    }
    child.on('message', (raw: unknown) => {
      const parsed = ProverMessage.safeParse(raw)
      if (!parsed.success) {
        this.#kill(session, new GalacticError('PLUGIN_FAILED', `the prover process sent a bad message: ${parsed.error.issues[0]?.message ?? ''}`))
        return
      }
      const m = parsed.data
      if (m.type === 'ready') {
        this.#log(`prover process ${pid} ready (${m.backend} backend, compiled in ${(m.compileMs / 1000).toFixed(1)} s)`)
        onReady({ pid, verificationKeyHash: m.verificationKeyHash, backend: m.backend, compileMs: m.compileMs })
      } else if (m.type === 'fatal') {
        onFail(new GalacticError(m.code, m.message))
      } else {
        const waiter = session.pending.get(m.id)
        session.pending.delete(m.id)
        if (m.type === 'proof') waiter?.resolve({ proof: m.proof, stats: m.stats })
        else waiter?.reject(new GalacticError(m.code, m.message))
        if (m.type === 'proof' && m.stats.rssMiB > this.#recycleAboveMiB) {
          this.#log(`prover process ${pid} uses ${Math.round(m.stats.rssMiB)} MiB after a proof (limit ${this.#recycleAboveMiB}): the next proof starts a new one`)
          this.#kill(session, new GalacticError('INTERNAL', 'the prover process was recycled'))
        }
      }
    })
    child.once('exit', (code, sig) => {
      if (this.#session === session) this.#session = undefined
      const err =
        session.killedFor ?? new GalacticError('PLUGIN_FAILED', `the prover process exited (${sig ?? `code ${code}`}) before answering`, { exitCode: code, signal: sig })
      this.#log(`prover process ${pid} ended (${sig ?? `code ${code}`})`)
      session.ended = err
      onFail(err)
      for (const waiter of session.pending.values()) waiter.reject(err)
      session.pending.clear()
    })
    child.on('error', (err) => this.#log(`prover process ${pid}: ${err.message}`))
    this.#session = session
    return session
  }

  #kill(session: Session, reason: unknown): void {
    session.killedFor ??= reason
    if (this.#session === session) this.#session = undefined
    if (session.child.exitCode === null && session.child.signalCode === null) session.child.kill('SIGKILL')
  }
}
