import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { GalacticError, type SignedResult } from '@galactic/schemas'

/** One signature to check, as sent to the worker: over a list of results (EIP-712 `TaskResults`). */
export interface ResultCheck {
  id: number
  address: string
  results: SignedResult[]
  signature: string
}

/** The worker's answer: who signed, and whether it is `address`. */
export interface ResultVerdict {
  id: number
  signer: string | null
  ok: boolean
}

// Built to dist/ next to this file; from the sources (tests) the built worker is used too.
const WORKER = fileURLToPath(new URL('../../dist/security/signature-worker.js', import.meta.url))

/**
 * Checks result signatures on a worker thread: the oracle's event loop only hashes the outcome.
 * Checks asked for in one event-loop turn go to the worker as one message.
 */
export class SignatureChecker {
  private worker: Worker | undefined
  private nextId = 1
  private readonly waiting = new Map<number, { resolve: (v: ResultVerdict) => void; reject: (e: Error) => void }>()
  private queued: ResultCheck[] = []

  /** Who signed `results`, and whether it is `address` (checksummed or not). */
  check(address: string, results: SignedResult[], signature: string): Promise<ResultVerdict> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      if (this.queued.length === 0) setImmediate(() => this.send())
      this.queued.push({ id, address, results, signature })
    })
  }

  private send(): void {
    const batch = this.queued
    this.queued = []
    if (batch.length === 0) return
    this.thread().postMessage(batch)
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker
    const worker = new Worker(WORKER)
    worker.unref()
    worker.on('message', (verdicts: ResultVerdict[]) => {
      for (const v of verdicts) {
        const w = this.waiting.get(v.id)
        this.waiting.delete(v.id)
        w?.resolve(v)
      }
    })
    const fail = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined
      for (const w of this.waiting.values()) w.reject(new GalacticError('INTERNAL', `signature worker failed: ${err.message}`, undefined, { cause: err }))
      this.waiting.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)))
    this.worker = worker
    return worker
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    await worker?.terminate()
  }
}
