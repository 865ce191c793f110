import type { AbortOptions, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { decodeUint8ArrayList, encodeUint8Array, encodingLength } from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import type { z } from 'zod'
import { GalacticError, LIMITS, parseOrThrow } from '@galactic/schemas'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Bytes received and not yet read that a stream may hold beyond its largest frame before it is reset. */
const READ_SLACK_BYTES = 4 * 1024 * 1024

/**
 * A libp2p stream carrying length-prefixed JSON messages (an unsigned varint, then the bytes: the
 * framing of libp2p's `lpStream`), each parsed with a zod schema on arrival. Frames over
 * `maxMessageBytes`, bad UTF-8, bad JSON and messages that fail the schema are PROTOCOL_ERRORs
 * (PAYLOAD_TOO_LARGE for size); the caller decides whether to answer or hang up.
 *
 * Incoming bytes are cut into frames as they arrive, every complete frame of a chunk at once, and
 * queued for `read`: one promise per message instead of `lpStream`'s read per byte of the length
 * prefix (each with its own promise, abort listener and, while the prefix is incomplete, a thrown
 * RangeError).
 */
export class FramedStream<In, Out> {
  readonly stream: Stream
  private readonly schema: z.ZodType<In>
  private readonly what: string
  private readonly maxMessageBytes: number
  /** The longest length prefix a frame of maxMessageBytes needs. */
  private readonly maxPrefixBytes: number
  /** Frames sent since the last write, written together at the end of this event-loop turn. */
  private queued: Uint8Array[] = []
  private queuedWrite: Promise<void> | undefined
  /** Received bytes not yet cut into frames. */
  private readonly pending = new Uint8ArrayList()
  /** Complete frames not yet read, and the bytes they hold. */
  private readonly frames: Uint8Array[] = []
  private framesBytes = 0
  /** Why no more frames will come (the stream ended, or its bytes broke the framing). */
  private ended: GalacticError | undefined
  private waiting: { resolve: (frame: Uint8Array) => void; reject: (err: unknown) => void } | undefined

  constructor(stream: Stream, schema: z.ZodType<In>, what: string, maxMessageBytes: number = LIMITS.maxMessageBytes) {
    this.stream = stream
    this.schema = schema
    this.what = what
    this.maxMessageBytes = maxMessageBytes
    this.maxPrefixBytes = encodingLength(maxMessageBytes)
    stream.addEventListener('message', (evt: StreamMessageEvent) => this.onData(evt.data))
    // 'end': the remote closed its side and every byte it sent has been dispatched as a message.
    const remoteEnded = (): void => this.end(new GalacticError('CONNECTION_CLOSED', 'stream ended: the remote closed it'))
    if (stream.readableEnded) remoteEnded()
    else stream.addEventListener('end', remoteEnded)
    stream.addEventListener('close', (evt: StreamCloseEvent) => {
      const why = evt.error === undefined ? 'closed' : evt.error.message
      this.end(new GalacticError('CONNECTION_CLOSED', `stream ended: ${why}`, undefined, evt.error === undefined ? {} : { cause: evt.error }))
    })
  }

  /**
   * Sends a message. Messages sent in one event-loop turn go out in one write (one yamux frame,
   * one noise record, one syscall), in order: an oracle acting on a burst of results, or an agent
   * reporting several, wakes its peer once. Resolves when that write is done.
   */
  send(message: Out, options?: AbortOptions): Promise<void> {
    return this.enqueue(encoder.encode(JSON.stringify(message)), options)
  }

  /** Writes raw bytes as one frame (used for blob data after a header), after any queued message. */
  sendBytes(bytes: Uint8Array, options?: AbortOptions): Promise<void> {
    return this.enqueue(bytes, options)
  }

  private enqueue(frame: Uint8Array, options: AbortOptions | undefined): Promise<void> {
    this.queued.push(frame)
    this.queuedWrite ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const frames = this.queued
      this.queued = []
      this.queuedWrite = undefined
      return this.write(frames, options)
    })
    return this.queuedWrite
  }

  /** Writes frames as one buffer, each behind its length; waits for `drain` when the stream asks. */
  private async write(frames: Uint8Array[], options: AbortOptions | undefined): Promise<void> {
    let size = 0
    for (const f of frames) size += encodingLength(f.byteLength) + f.byteLength
    const out = new Uint8Array(size)
    let at = 0
    for (const f of frames) {
      encodeUint8Array(f.byteLength, out, at)
      at += encodingLength(f.byteLength)
      out.set(f, at)
      at += f.byteLength
    }
    if (!this.stream.send(out)) await drained(this.stream, options)
  }

  /** Reads the next frame as raw bytes. Throws CONNECTION_CLOSED at the end of the stream. */
  readBytes(options?: AbortOptions): Promise<Uint8Array> {
    const frame = this.frames.shift()
    if (frame !== undefined) {
      this.framesBytes -= frame.byteLength
      return Promise.resolve(frame)
    }
    if (this.ended !== undefined) return Promise.reject(this.ended)
    if (this.waiting !== undefined) return Promise.reject(new GalacticError('INTERNAL', `${this.what}: read while another read waits`))
    const signal = options?.signal
    if (signal?.aborted === true) return Promise.reject(streamError(signal.reason))
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting = undefined
        reject(streamError(signal?.reason))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting = {
        resolve: (f) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(f)
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
    })
  }

  /** Reads and parses the next message. Throws CONNECTION_CLOSED at the end of the stream. */
  async read(options?: AbortOptions): Promise<In> {
    const bytes = await this.readBytes(options)
    let json: unknown
    try {
      json = JSON.parse(decoder.decode(bytes))
    } catch (err) {
      throw new GalacticError('PROTOCOL_ERROR', `${this.what}: frame is not UTF-8 JSON`, undefined, { cause: err })
    }
    try {
      return parseOrThrow(this.schema, json, this.what)
    } catch (err) {
      throw new GalacticError('PROTOCOL_ERROR', (err as Error).message, (err as GalacticError).details)
    }
  }

  /** Ends the stream once the messages already sent are written. */
  async close(): Promise<void> {
    try {
      await this.queuedWrite
      await this.stream.close()
    } catch {
      this.stream.abort(new Error('close failed'))
    }
  }

  abort(reason: string): void {
    this.stream.abort(new Error(reason))
  }

  /** Cuts every complete frame out of the bytes received so far. */
  private onData(data: Uint8Array | Uint8ArrayList): void {
    if (this.ended !== undefined) return
    this.pending.append(data)
    for (;;) {
      const prefix = prefixLength(this.pending, this.maxPrefixBytes)
      if (prefix === 0) break // the length itself is not all here yet
      if (prefix < 0) {
        return this.fail(new GalacticError('PAYLOAD_TOO_LARGE', `${this.what}: frame length prefix longer than a ${this.maxMessageBytes}-byte frame needs`))
      }
      const length = decodeUint8ArrayList(this.pending, 0)
      if (length > this.maxMessageBytes) {
        return this.fail(new GalacticError('PAYLOAD_TOO_LARGE', `${this.what}: frame of ${length} bytes, more than the ${this.maxMessageBytes} allowed`))
      }
      if (this.pending.byteLength < prefix + length) break
      const frame = this.pending.subarray(prefix, prefix + length)
      this.pending.consume(prefix + length)
      this.deliver(frame)
    }
    if (this.pending.byteLength + this.framesBytes > this.maxMessageBytes + READ_SLACK_BYTES) {
      this.fail(new GalacticError('PAYLOAD_TOO_LARGE', `${this.what}: more than ${this.maxMessageBytes + READ_SLACK_BYTES} bytes received and not read`))
    }
  }

  private deliver(frame: Uint8Array): void {
    const waiting = this.waiting
    if (waiting !== undefined) {
      this.waiting = undefined
      waiting.resolve(frame)
      return
    }
    this.frames.push(frame)
    this.framesBytes += frame.byteLength
  }

  /** No more frames: a waiting read gets `why` (frames already cut are still read first). */
  private end(why: GalacticError): void {
    if (this.ended !== undefined) return
    if (this.pending.byteLength > 0 && why.code === 'CONNECTION_CLOSED') {
      why = new GalacticError('CONNECTION_CLOSED', `${why.message}, ${this.pending.byteLength} bytes into a frame`, undefined, { cause: why })
    }
    this.ended = why
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.reject(why)
  }

  /**
   * The bytes broke the framing: reading ends with `error` and what arrives later is dropped. The
   * stream stays open for the caller to answer (an `error` message) and hang up.
   */
  private fail(error: GalacticError): void {
    this.end(error)
    this.pending.consume(this.pending.byteLength)
  }
}

/**
 * How many bytes the varint length at the start of `list` takes: 0 while it is incomplete, -1 when
 * its first `max` bytes all say "more follows" (longer than any allowed frame needs).
 */
function prefixLength(list: Uint8ArrayList, max: number): number {
  const n = Math.min(list.byteLength, max)
  for (let i = 0; i < n; i++) if ((list.get(i) & 0x80) === 0) return i + 1
  return n === max ? -1 : 0
}

/** Resolves on the stream's next `drain`; rejects if it closes first or `options.signal` aborts. */
function drained(stream: Stream, options: AbortOptions | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const signal = options?.signal
    const done = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = (): void => {
      done()
      resolve()
    }
    const onClose = (evt: StreamCloseEvent): void => {
      done()
      reject(streamError(evt.error ?? new Error('stream closed while waiting to write')))
    }
    const onAbort = (): void => {
      done()
      reject(streamError(signal?.reason))
    }
    if (signal?.aborted === true) return onAbort()
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

function streamError(err: unknown): GalacticError {
  if (err instanceof GalacticError) return err
  const name = (err as Error | undefined)?.name ?? ''
  if (name === 'AbortError') return new GalacticError('ABORTED', 'aborted', undefined, { cause: err })
  return new GalacticError('CONNECTION_CLOSED', `stream ended: ${(err as Error | undefined)?.message ?? String(err)}`, undefined, {
    cause: err,
  })
}
