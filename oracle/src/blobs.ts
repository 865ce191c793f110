import type { BlobStore } from '@galactic/net'
import { contentHash, GalacticError, LIMITS, type ContentHash, type ProducedOutput, type Task } from '@galactic/schemas'
import type { Journal } from './journal/index.js'

/**
 * The oracle's blobs in two places: small outputs (at most LIMITS.inlineBlobBytes) come inline
 * with their result and are kept in the journal, in the transaction that accepts the result;
 * larger ones come over the blob protocol into `files`. Between a result's arrival and its
 * commit its inline outputs are staged here, so verification (which runs first) can read them.
 */
export class OracleBlobs implements BlobStore {
  private readonly files: BlobStore
  private readonly journal: () => Journal | undefined
  private readonly count: (direction: 'in' | 'out', bytes: number) => void
  /** Inline outputs received and not yet committed (or dropped), counted by result. */
  private readonly staged = new Map<string, { bytes: Uint8Array; refs: number }>()

  /** `count` is told the bytes that arrive (inline outputs) and leave (inline inputs) in messages. */
  constructor(files: BlobStore, journal: () => Journal | undefined, count: (direction: 'in' | 'out', bytes: number) => void = () => {}) {
    this.files = files
    this.journal = journal
    this.count = count
  }

  async has(hash: ContentHash): Promise<boolean> {
    return this.small(hash) !== undefined || (await this.files.has(hash))
  }

  async get(hash: ContentHash): Promise<Uint8Array | undefined> {
    return this.small(hash) ?? (await this.files.get(hash))
  }

  /** Blobs pushed over the blob protocol: files. */
  put(hash: ContentHash, bytes: Uint8Array): Promise<void> {
    return this.files.put(hash, bytes)
  }

  /** A small blob, staged or in the journal, read synchronously; undefined otherwise. */
  small(hash: string): Uint8Array | undefined {
    return this.staged.get(hash)?.bytes ?? this.journal()?.blob(hash)
  }

  /**
   * Checks and stages the inline outputs of one result. Returns them for the journal entry that
   * accepts the result, and a `release` to call once that entry is committed or dropped.
   *
   * @throws GalacticError `PROTOCOL_ERROR` naming the output whose bytes do not match its size or hash.
   */
  stage(outputs: ProducedOutput[]): { blobs: Array<{ hash: string; bytes: Uint8Array }>; release: () => void } {
    const blobs: Array<{ hash: string; bytes: Uint8Array }> = []
    for (const out of outputs) {
      if (out.data === undefined) continue
      const bytes = new Uint8Array(Buffer.from(out.data, 'base64'))
      if (bytes.byteLength !== out.size || bytes.byteLength > LIMITS.inlineBlobBytes || contentHash(bytes) !== out.hash) {
        throw new GalacticError('PROTOCOL_ERROR', `output ${out.name}: inline data is ${bytes.byteLength} bytes hashing to ${contentHash(bytes)}, the result says ${out.size} bytes, ${out.hash}`)
      }
      blobs.push({ hash: out.hash, bytes })
    }
    for (const b of blobs) this.count('in', b.bytes.byteLength)
    for (const b of blobs) {
      const entry = this.staged.get(b.hash)
      if (entry === undefined) this.staged.set(b.hash, { bytes: b.bytes, refs: 1 })
      else entry.refs++
    }
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      for (const b of blobs) {
        const entry = this.staged.get(b.hash)
        if (entry !== undefined && --entry.refs === 0) this.staged.delete(b.hash)
      }
    }
    return { blobs, release }
  }

  /**
   * The task with its small inputs' bytes inline, up to LIMITS.inlineBytesPerTask in all: the
   * agent then fetches only the large ones.
   */
  inline(task: Task): Task {
    let budget: number = LIMITS.inlineBytesPerTask
    let changed = false
    const inputs = task.inputs.map((input) => ({
      ...input,
      outputs: input.outputs.map((out) => {
        if (out.data !== undefined || out.size > LIMITS.inlineBlobBytes || out.size > budget) return out
        const bytes = this.small(out.hash)
        if (bytes === undefined) return out
        budget -= bytes.byteLength
        changed = true
        this.count('out', bytes.byteLength)
        return { ...out, data: Buffer.from(bytes).toString('base64') }
      }),
    }))
    return changed ? { ...task, inputs } : task
  }
}
