import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { isAbsolute, resolve } from 'node:path'
import {
  GalacticError,
  LIMITS,
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
import { LineReader } from '@galactic/schemas'
import type { JsonValue, PluginInstance, PluginRuntime, PluginRuntimeComponents } from './types.js'

export interface ProcessRuntimeInit {
  /** Milliseconds between asking a plugin to stop (on `close()`) and killing it with SIGKILL. @default 2000 */
  closeGraceMs?: number
  /** Environment variables added to the agent's own for every plugin process. @default {} */
  env?: Record<string, string>
  /** How many of a plugin's last stderr lines go into a PLUGIN_FAILED error. @default 20 */
  stderrTailLines?: number
}

export type ProcessRuntimeComponents = PluginRuntimeComponents

/** Read through a call so the compiler doesn't assume `aborted` keeps the value it had before an await. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

/** Plugin error codes passed through as they are; any other error result becomes PLUGIN_FAILED. */
const PASS_THROUGH = new Set<string>(['TASK_INVALID', 'TASK_CANCELLED'])

/** Longest stderr line kept (characters); longer ones are cut. */
const MAX_STDERR_LINE = 2000

/**
 * Runs each plugin instance as a local child process (`manifest.runtime.command`), speaking the
 * plugin protocol over its stdin/stdout. `node` as the command means this Node (process.execPath);
 * a command with a path separator is resolved from the manifest's folder, which is also the
 * process's working directory (so relative arguments such as `dist/main.js` work).
 *
 * @example
 * const runtime = new ProcessRuntime({}, { log: (line) => console.error(line) })
 * const plugin = await runtime.launch(manifest, dir)
 * await plugin.init({})
 * const { outputs } = await plugin.start({ taskId: 't1', op: 'split', params, inputs: [] })
 * await plugin.close()
 */
export class ProcessRuntime implements PluginRuntime {
  readonly kind = 'process'
  readonly #init: Required<ProcessRuntimeInit>
  readonly #components: ProcessRuntimeComponents

  /** `log` may be given in either argument (`new ProcessRuntime({ log })` works); `components` wins. */
  constructor(init: ProcessRuntimeInit & ProcessRuntimeComponents = {}, components: ProcessRuntimeComponents = {}) {
    this.#init = { closeGraceMs: init.closeGraceMs ?? 2000, env: init.env ?? {}, stderrTailLines: init.stderrTailLines ?? 20 }
    const log = components.log ?? init.log
    this.#components = log === undefined ? {} : { log }
  }

  async launch(manifest: PluginManifest, manifestDir: string, signal?: AbortSignal): Promise<ProcessPluginInstance> {
    const key = pluginKey(manifest)
    const type: string = manifest.runtime.type
    if (type !== 'process') {
      throw new GalacticError('PLUGIN_FAILED', `plugin ${key}: runtime ${type} is not served by the process runtime`)
    }
    if (signal?.aborted === true) throw new GalacticError('ABORTED', `launch of ${key} aborted`)
    const dir = resolve(manifestDir)
    const [command, ...args] = manifest.runtime.command as [string, ...string[]]
    const file = command === 'node' ? process.execPath : isAbsolute(command) || !/[\\/]/.test(command) ? command : resolve(dir, command)
    const child = spawn(file, args, {
      cwd: dir,
      env: { ...process.env, ...this.#init.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    })
    const instance = new ProcessPluginInstance(manifest, child, this.#init, this.#components)
    const onAbort = (): void => void instance.close()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await instance.ready
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    if (isAborted(signal)) {
      await instance.close()
      throw new GalacticError('ABORTED', `launch of ${key} aborted`)
    }
    return instance
  }
}

interface Pending {
  method: PluginMethod
  resolve: (result: unknown) => void
  reject: (err: GalacticError) => void
}

/** One plugin process. Made by {@link ProcessRuntime.launch}. */
export class ProcessPluginInstance implements PluginInstance {
  readonly manifest: PluginManifest
  /** `name@version` of the plugin. */
  readonly key: string
  /** Resolves once the process is running; rejects PLUGIN_FAILED when it could not start. */
  readonly ready: Promise<void>
  /** Resolves once the process has exited and its output was read. */
  readonly exited: Promise<void>

  readonly #child: ChildProcessWithoutNullStreams
  readonly #opts: Required<ProcessRuntimeInit>
  readonly #log: (line: string) => void
  readonly #pending = new Map<number, Pending>()
  /** Calls given up on (aborted): their late replies are ignored. */
  readonly #abandoned = new Set<number>()
  readonly #stderrTail: string[] = []
  #nextId = 1
  #spawned = false
  #closing = false
  #exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined
  #finalized = false
  #failure: GalacticError | undefined
  #closePromise: Promise<void> | undefined
  #resolveExited!: () => void

  constructor(manifest: PluginManifest, child: ChildProcessWithoutNullStreams, opts: Required<ProcessRuntimeInit>, components: ProcessRuntimeComponents) {
    this.manifest = manifest
    this.key = pluginKey(manifest)
    this.#child = child
    this.#opts = opts
    this.#log = components.log ?? (() => {})
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve))
    this.ready = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => {
        this.#spawned = true
        resolve()
      })
      child.once('error', (err) => {
        if (this.#spawned) return
        const error = new GalacticError('PLUGIN_FAILED', `plugin ${this.key} could not start: ${err.message}`, { plugin: this.key })
        this.#failure = error
        reject(error)
        this.#finalize()
      })
    })
    // Rejections of `ready` are reported by launch(); keep them from counting as unhandled here.
    this.ready.catch(() => {})
    child.on('error', (err) => {
      if (this.#spawned) this.#log(`${this.#prefix()}: ${err.message}`)
    })

    const stdout = new LineReader(
      LIMITS.maxMessageBytes,
      (line) => this.#onLine(line),
      () => this.#fail(`wrote a stdout line over ${LIMITS.maxMessageBytes} bytes`),
    )
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    // No stdout.end(): a response is a whole line, and an unterminated last line means the plugin
    // died mid-write; its exit (code, stderr) explains that better than "not JSON" would.
    const stderr = new LineReader(
      64 * 1024,
      (line) => this.#onStderr(line),
      () => this.#onStderr('[stderr line over 64 KiB dropped]'),
    )
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    child.stderr.on('end', () => stderr.end())
    child.stdin.on('error', (err) => this.#log(`${this.#prefix()}: stdin: ${err.message}`))

    child.once('exit', (code, signal) => {
      this.#exitInfo = { code, signal }
      // 'close' follows once stdout/stderr are drained; don't wait forever if a grandchild holds them.
      setTimeout(() => this.#finalize(), 500).unref()
    })
    child.once('close', () => this.#finalize())
  }

  /** The plugin's process id. */
  get pid(): number | undefined {
    return this.#child.pid
  }

  get closed(): boolean {
    return this.#closing || this.#finalized || this.#failure !== undefined
  }

  /** The plugin's last stderr lines. */
  get stderrTail(): readonly string[] {
    return this.#stderrTail
  }

  async init(config: JsonValue, signal?: AbortSignal): Promise<PluginResult<'init'>> {
    return this.#callAbortable('init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config }, signal, () => {
      return new GalacticError('ABORTED', `init of ${this.key} aborted`)
    })
  }

  async start(params: PluginParams<'start'>, signal?: AbortSignal): Promise<PluginResult<'start'>> {
    return this.#callAbortable('start', params, signal, () => {
      this.stop(params.taskId).catch((err: unknown) => this.#log(`${this.#prefix()}: stop ${params.taskId}: ${String(err)}`))
      return new GalacticError('TASK_CANCELLED', `task ${params.taskId} cancelled`, { taskId: params.taskId })
    })
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
    if (!this.#finalized && this.#failure === undefined) {
      this.#call('stop', {}).promise.catch(() => {})
      this.#child.stdin.end()
    }
    let timer: NodeJS.Timeout | undefined
    const graceful = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.#opts.closeGraceMs))),
    ])
    clearTimeout(timer)
    if (!graceful) {
      this.#log(`${this.#prefix()}: did not stop within ${this.#opts.closeGraceMs} ms, killing it`)
      this.#kill()
      await this.exited
    }
  }

  #kill(): void {
    if (this.#exitInfo === undefined && this.#spawned) this.#child.kill('SIGKILL')
  }

  #prefix(): string {
    return `${this.key}[${this.#child.pid ?? '?'}]`
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
      if (this.#finalized || this.#exitInfo !== undefined || this.#child.stdin.writableEnded) {
        return reject(this.#closing ? this.#closedError() : this.#exitError())
      }
      if (this.#closing && method !== 'stop') return reject(this.#closedError())
      const checked = PLUGIN_METHODS[method].params.safeParse(params)
      if (!checked.success) {
        const issues = zodIssues(checked.error, 'params')
        return reject(new GalacticError('INVALID_INPUT', `invalid ${method} request: ${issues[0]?.path}: ${issues[0]?.message}`, { issues }))
      }
      const line = JSON.stringify({ jsonrpc: '2.0', id, method, params })
      if (Buffer.byteLength(line) > LIMITS.maxMessageBytes) {
        return reject(new GalacticError('PAYLOAD_TOO_LARGE', `${method} request over ${LIMITS.maxMessageBytes} bytes`))
      }
      this.#pending.set(id, { method, resolve: resolve as (result: unknown) => void, reject })
      this.#child.stdin.write(`${line}\n`)
    })
    return { id, promise }
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
      if ('error' in response) this.#log(`${this.#prefix()}: error without id: ${response.error.code}: ${response.error.message}`)
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
    if (this.#stderrTail.length > this.#opts.stderrTailLines) this.#stderrTail.shift()
    this.#log(`${this.#prefix()}: ${kept}`)
  }

  /** The plugin broke the protocol: fail every pending call and kill it. */
  #fail(why: string): void {
    if (this.#failure !== undefined) return
    this.#failure = new GalacticError('PLUGIN_FAILED', `plugin ${this.key} ${why}`, { plugin: this.key, stderr: [...this.#stderrTail] })
    this.#log(`${this.#prefix()}: ${why}; killing it`)
    this.#rejectAll(this.#failure)
    this.#kill()
  }

  #exitError(): GalacticError {
    const info = this.#exitInfo
    const how = info === undefined ? 'stopped' : info.signal !== null ? `was killed by ${info.signal}` : `exited with code ${info.code}`
    const tail = this.#stderrTail.slice(-5)
    return new GalacticError('PLUGIN_FAILED', `plugin ${this.key} ${how}${tail.length > 0 ? `; stderr: ${tail.join(' | ')}` : ''}`.slice(0, 4000), {
      plugin: this.key,
      exitCode: info?.code ?? null,
      signal: info?.signal ?? null,
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

  /** The process is gone and its output read: whatever is still pending never gets an answer. */
  #finalize(): void {
    if (this.#finalized) return
    this.#finalized = true
    if (this.#failure === undefined) this.#rejectAll(this.#closing ? this.#closedError() : this.#exitError())
    this.#resolveExited()
  }
}
