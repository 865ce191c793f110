import {
  GalacticError,
  LineReader,
  PLUGIN_METHODS,
  PLUGIN_PROTOCOL_VERSION,
  PluginResponse,
  pluginKey,
  zodIssues,
  type ErrorObject,
  type PluginManifest,
  type PluginMethod,
  type PluginParams,
  type PluginResult,
} from '@galactic/schemas'
import type { JsonValue, PluginInstance } from './types.js'

/** Settings every stdio-speaking instance needs; each runtime fills them from its own options. */
export interface StdioInstanceOptions {
  /** Milliseconds between asking the plugin to stop (on `close()`) and killing it. */
  closeGraceMs: number
  /** How many of the plugin's last stderr lines go into a PLUGIN_FAILED error. */
  stderrTailLines: number
  /** Longest protocol line, each way (bytes, without the newline). */
  maxMessageBytes: number
  /** Receives each stderr line and diagnostics, prefixed with `name@version[id]: `. */
  log: (line: string) => void
}

/** How the plugin ended, for PLUGIN_FAILED errors: `exited with code 3`, plus details such as `exitCode`. */
export interface ExitDescription {
  how: string
  details: Record<string, unknown>
}

interface Pending {
  method: PluginMethod
  resolve: (result: unknown) => void
  reject: (err: GalacticError) => void
}

/** Plugin error codes passed through as they are; any other error result becomes PLUGIN_FAILED. */
const PASS_THROUGH = new Set<string>(['TASK_INVALID', 'TASK_CANCELLED'])

/** Longest stderr line kept (characters); longer ones are cut. */
const MAX_STDERR_LINE = 2000

/** Longest stderr line read (bytes); longer ones are dropped. */
const MAX_STDERR_READ = 64 * 1024

/** After the plugin exited, how long to wait for the rest of its output before giving up on it. */
export const DRAIN_MS = 500

/**
 * The client side of the plugin protocol over a byte pipe (stdin/stdout/stderr), shared by every
 * runtime: requests, responses, framing limits, errors, and the close-then-kill lifecycle. A
 * subclass connects the pipes (a child process, a container attach stream) and reports what
 * happens to them through the protected methods.
 *
 * Lifecycle, as a subclass reports it: {@link markReady} (or {@link markStartFailed}), then output
 * through {@link pushStdout}/{@link pushStderr}, then {@link markExited} when the plugin is gone and
 * {@link finalize} once its output was read (and, for a container, it was removed).
 */
/**
 * Waits until a just-launched instance is ready; an abort while waiting closes it and rejects
 * ABORTED. Both runtimes end their `launch` with this.
 */
export async function readyOrClose<I extends StdioPluginInstance>(instance: I, key: string, signal: AbortSignal | undefined): Promise<I> {
  const onAbort = (): void => void instance.close()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await instance.ready
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  if (signal?.aborted === true) {
    await instance.close()
    throw new GalacticError('ABORTED', `launch of ${key} aborted`)
  }
  return instance
}

export abstract class StdioPluginInstance implements PluginInstance {
  readonly manifest: PluginManifest
  /** `name@version` of the plugin. */
  readonly key: string
  /** Resolves once the plugin is running; rejects PLUGIN_FAILED when it could not start. */
  readonly ready: Promise<void>
  /** Resolves once the plugin has exited, its output was read and its resources freed. */
  readonly exited: Promise<void>

  protected readonly opts: StdioInstanceOptions
  readonly #pending = new Map<number, Pending>()
  /** Calls given up on (aborted): their late replies are ignored. */
  readonly #abandoned = new Set<number>()
  readonly #stderrTail: string[] = []
  readonly #stdout: LineReader
  readonly #stderr: LineReader
  #nextId = 1
  #started = false
  #initialized = false
  #closing = false
  #exitSeen = false
  #finalized = false
  #failure: GalacticError | undefined
  #closePromise: Promise<void> | undefined
  /** Request lines of this event-loop turn, written together at its end (one pipe write for many tasks). */
  #queued: string[] = []
  #resolveReady!: () => void
  #rejectReady!: (err: GalacticError) => void
  #resolveExited!: () => void

  protected constructor(manifest: PluginManifest, opts: StdioInstanceOptions) {
    this.manifest = manifest
    this.key = pluginKey(manifest)
    this.opts = opts
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve))
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    // Rejections of `ready` are reported by launch(); keep them from counting as unhandled here.
    this.ready.catch(() => {})
    this.#stdout = new LineReader(
      opts.maxMessageBytes,
      (line) => this.#onLine(line),
      () =>
        this.#fail(`wrote a stdout line over ${opts.maxMessageBytes} bytes`, {
          limitBytes: opts.maxMessageBytes,
          reason: 'PAYLOAD_TOO_LARGE',
        }),
    )
    this.#stderr = new LineReader(
      MAX_STDERR_READ,
      (line) => this.#onStderr(line),
      () => this.#onStderr('[stderr line over 64 KiB dropped]'),
    )
  }

  // ---- what a subclass provides ----

  /** Writes one request line (the newline included) to the plugin's stdin. */
  protected abstract writeLine(line: string): void
  /** Closes the plugin's stdin (the plugin should then exit). */
  protected abstract endInput(): void
  /** Whether the plugin's stdin still takes writes. */
  protected abstract get inputOpen(): boolean
  /** Kills the plugin now. Must lead to {@link finalize}, even when the kill itself fails. */
  protected abstract kill(): void
  /** How the plugin ended, once {@link markExited} was called. */
  protected abstract describeExit(): ExitDescription
  /** Short id for log lines: a pid or a container id. */
  protected abstract get instanceId(): string

  // ---- what a subclass reports ----

  /** The plugin runs: calls may be written. */
  protected markReady(): void {
    this.#started = true
    this.#resolveReady()
  }

  /** The plugin could not be started: `ready` rejects with `err`, and the instance is finished. */
  protected markStartFailed(err: GalacticError): void {
    if (this.#started) return
    this.#failure = err
    this.#rejectReady(err)
    this.finalize()
  }

  protected get started(): boolean {
    return this.#started
  }

  /** Bytes from the plugin's stdout. */
  protected pushStdout(chunk: Buffer): void {
    this.#stdout.push(chunk)
  }

  /** Bytes from the plugin's stderr. */
  protected pushStderr(chunk: Buffer): void {
    this.#stderr.push(chunk)
  }

  /** The plugin's stderr ended: emits an unterminated last line. */
  protected endStderr(): void {
    this.#stderr.end()
  }

  /** The plugin has exited (its output may still be draining): no more calls are written. */
  protected markExited(): void {
    this.#exitSeen = true
  }

  /** The plugin is gone and its output read: whatever is still pending never gets an answer. */
  protected finalize(): void {
    if (this.#finalized) return
    this.#finalized = true
    this.#exitSeen = true
    if (this.#failure === undefined) this.#rejectAll(this.#closing ? this.#closedError() : this.#exitError())
    this.#resolveExited()
  }

  protected get exitSeen(): boolean {
    return this.#exitSeen
  }

  protected get finalized(): boolean {
    return this.#finalized
  }

  // ---- PluginInstance ----

  get closed(): boolean {
    return this.#closing || this.#finalized || this.#failure !== undefined
  }

  /** The plugin's last stderr lines. */
  get stderrTail(): readonly string[] {
    return this.#stderrTail
  }

  async describe(signal?: AbortSignal): Promise<PluginResult<'describe'>> {
    return this.#callAbortable('describe', {}, signal, () => new GalacticError('ABORTED', `describe of ${this.key} aborted`))
  }

  async init(config: JsonValue, signal?: AbortSignal): Promise<PluginResult<'init'>> {
    const result = await this.#callAbortable('init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config }, signal, () => {
      return new GalacticError('ABORTED', `init of ${this.key} aborted`)
    })
    this.#initialized = true
    return result
  }

  async start(params: PluginParams<'start'>, signal?: AbortSignal): Promise<PluginResult<'start'>> {
    if (!this.#initialized && !this.closed) throw this.#notInitialized('start')
    return this.#callAbortable('start', params, signal, () => {
      this.stop(params.taskId).catch((err: unknown) => this.opts.log(`${this.#prefix()}: stop ${params.taskId}: ${String(err)}`))
      return new GalacticError('TASK_CANCELLED', `task ${params.taskId} cancelled`, { taskId: params.taskId })
    })
  }

  async verify(params: PluginParams<'verify'>, signal?: AbortSignal): Promise<PluginResult<'verify'>> {
    if (!this.#initialized && !this.closed) throw this.#notInitialized('verify')
    return this.#callAbortable('verify', params, signal, () => new GalacticError('TASK_CANCELLED', `verify of ${params.op} on ${this.key} cancelled`))
  }

  async stop(taskId?: string): Promise<void> {
    if (taskId === undefined) {
      if (this.closed) return
      this.#closing = true
    } else if (this.closed) {
      return
    }
    try {
      await this.#call('stop', taskId === undefined ? {} : { taskId }).promise
    } catch (err) {
      // The plugin may exit right after answering a full stop; a closing instance owes no answer.
      if (taskId !== undefined && !this.closed) throw err
    }
  }

  close(): Promise<void> {
    this.#closePromise ??= this.#close()
    return this.#closePromise
  }

  async #close(): Promise<void> {
    this.#closing = true
    if (this.#finalized) return
    await this.ready.catch(() => {})
    if (!this.#finalized && this.#failure === undefined && !this.#exitSeen) {
      this.#call('stop', {}).promise.catch(() => {})
      this.#flushLines()
      this.endInput()
    }
    let timer: NodeJS.Timeout | undefined
    const graceful = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.opts.closeGraceMs))),
    ])
    clearTimeout(timer)
    if (!graceful) {
      this.opts.log(`${this.#prefix()}: did not stop within ${this.opts.closeGraceMs} ms, killing it`)
      this.kill()
      await this.exited
    }
  }

  #prefix(): string {
    return `${this.key}[${this.instanceId}]`
  }

  #notInitialized(method: string): GalacticError {
    return new GalacticError('PROTOCOL_ERROR', `${method} before init: plugin ${this.key} must be initialised first`, {
      plugin: this.key,
      method,
    })
  }

  #callAbortable<M extends PluginMethod>(
    method: M,
    params: PluginParams<M>,
    signal: AbortSignal | undefined,
    onAbort: () => GalacticError,
  ): Promise<PluginResult<M>> {
    if (signal?.aborted === true) return Promise.reject(onAbort())
    const { id, promise } = this.#call(method, params)
    if (signal === undefined) return promise
    return new Promise<PluginResult<M>>((resolve, reject) => {
      const abort = (): void => {
        if (this.#pending.delete(id)) this.#abandoned.add(id)
        reject(onAbort())
      }
      signal.addEventListener('abort', abort, { once: true })
      promise.then(
        (result) => {
          signal.removeEventListener('abort', abort)
          resolve(result)
        },
        (err: unknown) => {
          signal.removeEventListener('abort', abort)
          reject(err)
        },
      )
    })
  }

  #call<M extends PluginMethod>(method: M, params: PluginParams<M>): { id: number; promise: Promise<PluginResult<M>> } {
    const id = this.#nextId++
    const promise = new Promise<PluginResult<M>>((resolve, reject) => {
      if (this.#failure !== undefined) return reject(this.#failure)
      if (this.#finalized || this.#exitSeen || !this.inputOpen) {
        return reject(this.#closing ? this.#closedError() : this.#exitError())
      }
      if (this.#closing && method !== 'stop') return reject(this.#closedError())
      const checked = PLUGIN_METHODS[method].params.safeParse(params)
      if (!checked.success) {
        const issues = zodIssues(checked.error, 'params')
        return reject(new GalacticError('INVALID_INPUT', `invalid ${method} request: ${issues[0]?.path}: ${issues[0]?.message}`, { issues }))
      }
      const line = JSON.stringify({ jsonrpc: '2.0', id, method, params })
      if (Buffer.byteLength(line) > this.opts.maxMessageBytes) {
        return reject(new GalacticError('PAYLOAD_TOO_LARGE', `${method} request over ${this.opts.maxMessageBytes} bytes`))
      }
      this.#pending.set(id, { method, resolve: resolve as (result: unknown) => void, reject })
      if (this.#queued.length === 0) setImmediate(() => this.#flushLines())
      this.#queued.push(`${line}\n`)
    })
    return { id, promise }
  }

  #flushLines(): void {
    if (this.#queued.length === 0) return
    const text = this.#queued.join('')
    this.#queued = []
    if (this.inputOpen) this.writeLine(text)
  }

  #onLine(line: string): void {
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      this.#fail(`wrote a stdout line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`)
      return
    }
    const parsed = PluginResponse.safeParse(message)
    if (!parsed.success) {
      this.#fail(`wrote a stdout line that is not a JSON-RPC response: ${JSON.stringify(line.slice(0, 200))}`)
      return
    }
    const response = parsed.data
    if (response.id === null) {
      // An error the plugin could not tie to a request: nothing waits for it.
      if ('error' in response) this.opts.log(`${this.#prefix()}: error without id: ${response.error.code}: ${response.error.message}`)
      return
    }
    const pending = this.#pending.get(response.id)
    if (pending === undefined) {
      if (this.#abandoned.delete(response.id)) return
      this.#fail(`answered request ${response.id}, which is not pending`)
      return
    }
    this.#pending.delete(response.id)
    if ('error' in response) {
      pending.reject(this.#pluginError(response.error))
      return
    }
    const result = PLUGIN_METHODS[pending.method].result.safeParse(response.result)
    if (!result.success) {
      const issues = zodIssues(result.error, 'result')
      pending.reject(
        new GalacticError('PLUGIN_FAILED', `plugin ${this.key} sent a bad ${pending.method} result: ${issues[0]?.path}: ${issues[0]?.message}`, {
          plugin: this.key,
          issues,
        }),
      )
      return
    }
    pending.resolve(result.data)
  }

  #pluginError(error: ErrorObject): GalacticError {
    if (PASS_THROUGH.has(error.code)) return GalacticError.fromObject(error)
    return new GalacticError('PLUGIN_FAILED', `plugin ${this.key} failed: ${error.code}: ${error.message}`, {
      plugin: this.key,
      pluginError: error,
    })
  }

  #onStderr(line: string): void {
    const kept = line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}...` : line
    this.#stderrTail.push(kept)
    if (this.#stderrTail.length > this.opts.stderrTailLines) this.#stderrTail.shift()
    this.opts.log(`${this.#prefix()}: ${kept}`)
  }

  /** The plugin broke the protocol: fail every pending call and kill it. */
  #fail(why: string, details: Record<string, unknown> = {}): void {
    if (this.#failure !== undefined) return
    this.#failure = new GalacticError('PLUGIN_FAILED', `plugin ${this.key} ${why}`, { plugin: this.key, ...details, stderr: [...this.#stderrTail] })
    this.opts.log(`${this.#prefix()}: ${why}; killing it`)
    this.#rejectAll(this.#failure)
    if (!this.#finalized) this.kill()
  }

  #exitError(): GalacticError {
    const { how, details } = this.#exitSeen ? this.describeExit() : { how: 'stopped', details: {} }
    const tail = this.#stderrTail.slice(-5)
    return new GalacticError('PLUGIN_FAILED', `plugin ${this.key} ${how}${tail.length > 0 ? `; stderr: ${tail.join(' | ')}` : ''}`.slice(0, 4000), {
      plugin: this.key,
      ...details,
      stderr: [...this.#stderrTail],
    })
  }

  #closedError(): GalacticError {
    return new GalacticError('TASK_CANCELLED', `plugin ${this.key} was closed`, { plugin: this.key })
  }

  #rejectAll(err: GalacticError): void {
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    this.#abandoned.clear()
    for (const p of pending) p.reject(err)
  }
}
