import type { AbortOptions, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { z } from 'zod'
import { GalacticError, LIMITS, parseOrThrow } from '@galactic/schemas'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * A libp2p stream carrying length-prefixed JSON messages, each parsed with a zod schema on
 * arrival. Frames over `maxMessageBytes`, bad UTF-8, bad JSON and messages that fail the
 * schema are PROTOCOL_ERRORs (PAYLOAD_TOO_LARGE for size); the caller decides whether to
 * answer or hang up.
 */
export class FramedStream<In, Out> {
  readonly stream: Stream
  private readonly lp: LengthPrefixedStream<Stream>
  private readonly schema: z.ZodType<In>
  private readonly what: string
  /** Frames sent since the last write, written together at the end of this event-loop turn. */
  private queued: Uint8Array[] = []
  private queuedWrite: Promise<void> | undefined

  constructor(stream: Stream, schema: z.ZodType<In>, what: string, maxMessageBytes: number = LIMITS.maxMessageBytes) {
    this.stream = stream
    this.schema = schema
    this.what = what
    this.lp = lpStream(stream, { maxDataLength: maxMessageBytes })
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
      return this.lp.writeV(frames, options)
    })
    return this.queuedWrite
  }

  /** Reads the next frame as raw bytes. */
  async readBytes(options?: AbortOptions): Promise<Uint8Array> {
    try {
      return (await this.lp.read(options)).subarray()
    } catch (err) {
      throw streamError(err)
    }
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
}

function streamError(err: unknown): GalacticError {
  if (err instanceof GalacticError) return err
  const name = (err as Error | undefined)?.name ?? ''
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError') {
    return new GalacticError('PAYLOAD_TOO_LARGE', `frame larger than allowed: ${(err as Error).message}`, undefined, { cause: err })
  }
  if (name === 'AbortError') return new GalacticError('ABORTED', 'aborted', undefined, { cause: err })
  return new GalacticError('CONNECTION_CLOSED', `stream ended: ${(err as Error | undefined)?.message ?? String(err)}`, undefined, {
    cause: err,
  })
}
