import {
  GalacticError,
  LIMITS,
  PLUGIN_METHODS,
  PLUGIN_PROTOCOL_VERSION,
  PluginRequest,
  parseOrThrow,
  type ErrorObject,
  type PluginMethod,
  type PluginParams,
  type PluginResult,
} from '@galactic/schemas'
import type { MaybePromise, PluginContext, PluginDefinition } from './definition.js'

export interface PluginServerComponents {
  /** Writes one response line (without its newline) to the agent. */
  send: (line: string) => void
  /** Ends the process after a `stop` without taskId has been answered. */
  exit: (code: number) => void
  /** Diagnostics (stderr in a process): each task's end, invalid verifies, the hooks' own. @default none */
  log?: (message: string) => void
}

/** A task or a verification in flight. */
interface Running {
  controller: AbortController
  done: Promise<void>
}

type Handlers = { [M in PluginMethod]: (id: number, params: PluginParams<M>) => void }

/** Longest error message sent; the rest is cut. */
const MAX_ERROR_MESSAGE = 4096

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/**
 * The plugin side of the plugin protocol (docs/plugin-protocol.md) around a {@link PluginDefinition}:
 * takes request lines, runs tasks and verifications (several at once, each with its own
 * AbortController), writes one response line per request. Transport-free, so tests can drive it
 * directly; {@link runPluginProcess} puts it on stdin/stdout.
 *
 * - `describe` is answered at any time; `init` checks the protocol version, runs the definition's
 *   `init` hook and answers the name, version and op names of `describe`.
 * - `start`/`verify` before a successful `init` are refused with PROTOCOL_ERROR (unless the
 *   definition says `requireInit: false`).
 * - `stop { taskId }` aborts that task (it answers TASK_CANCELLED) and answers `{}` at once;
 *   `stop {}` cancels everything, waits for their answers, runs the `close` hook, answers `{}` and
 *   exits 0. Requests after it are refused with PROTOCOL_ERROR.
 * - Errors are `GalacticError.from(err)` as an ErrorObject; a line that is not JSON, or not a
 *   request (an unknown method), is PROTOCOL_ERROR, with `id: null` when its id is unknown.
 *
 * A hook that answers synchronously is answered synchronously, inside `handleLine`.
 */
export class PluginServer {
  readonly #definition: PluginDefinition
  readonly #send: (line: string) => void
  readonly #exit: (code: number) => void
  readonly #log: (message: string) => void
  readonly #context: PluginContext
  readonly #requireInit: boolean
  readonly #tasks = new Map<string, Running>()
  readonly #checks = new Set<Running>()
  readonly #handlers: Handlers
  #initialized = false
  #stopping = false
  #closed: Promise<void> | undefined

  constructor(definition: PluginDefinition, components: PluginServerComponents) {
    this.#definition = definition
    this.#send = components.send
    this.#exit = components.exit
    this.#log = components.log ?? (() => {})
    this.#context = { log: this.#log }
    this.#requireInit = definition.requireInit ?? true
    this.#handlers = {
      describe: (id) => this.#reply(id, this.#describe()),
      init: (id, params) => this.#init(id, params),
      start: (id, params) => this.#start(id, params),
      verify: (id, params) => this.#verify(id, params),
      stop: (id, params) => this.#stop(id, params),
    }
  }

  /** Number of tasks and verifications running now. */
  get running(): number {
    return this.#tasks.size + this.#checks.size
  }

  /** Whether an `init` has succeeded. */
  get initialized(): boolean {
    return this.#initialized
  }

  /** Whether the server is shutting down (`stop {}`, {@link shutdown}): it refuses every request. */
  get stopping(): boolean {
    return this.#stopping
  }

  /** A line too long to read arrived (its id is unknown). */
  handleOverflow(): void {
    this.#error(null, new GalacticError('PAYLOAD_TOO_LARGE', `request line over ${LIMITS.maxMessageBytes} bytes`))
  }

  /** Handles one request line (without its newline). */
  handleLine(line: string): void {
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      this.#error(null, new GalacticError('PROTOCOL_ERROR', 'request is not JSON'))
      return
    }
    const request = PluginRequest.safeParse(message)
    if (!request.success) {
      const id = (message as { id?: unknown } | null)?.id
      const method = (message as { method?: unknown } | null)?.method
      const why = typeof method === 'string' && !(method in PLUGIN_METHODS) ? `unknown method ${JSON.stringify(method)}` : 'not a JSON-RPC 2.0 request'
      this.#error(Number.isSafeInteger(id) ? (id as number) : null, new GalacticError('PROTOCOL_ERROR', why))
      return
    }
    const { id, method, params } = request.data
    if (this.#stopping) {
      this.#error(id, new GalacticError('PROTOCOL_ERROR', 'plugin is shutting down'))
      return
    }
    try {
      if ((method === 'start' || method === 'verify') && this.#requireInit && !this.#initialized) {
        throw new GalacticError('PROTOCOL_ERROR', `${method} before init: call init first`)
      }
      this.#dispatch(id, method, params)
    } catch (err) {
      this.#error(id, GalacticError.from(err))
    }
  }

  /**
   * Cancels every running task and verification, waits for them to answer, then runs the
   * definition's `close` hook. Refuses requests from now on. Idempotent: later calls share the first.
   */
  shutdown(): Promise<void> {
    this.#stopping = true
    this.#closed ??= this.#close()
    return this.#closed
  }

  async #close(): Promise<void> {
    const done = [...this.#tasks.values(), ...this.#checks].map((t) => {
      t.controller.abort()
      return t.done
    })
    await Promise.allSettled(done)
    const close = this.#definition.close
    if (close === undefined) return
    try {
      await close.call(this.#definition, this.#context)
    } catch (err) {
      this.#log(`close: ${GalacticError.from(err).message}`)
    }
  }

  #dispatch<M extends PluginMethod>(id: number, method: M, raw: unknown): void {
    const params = parseOrThrow(PLUGIN_METHODS[method].params, raw, `${method} params`, 'PROTOCOL_ERROR') as PluginParams<M>
    this.#handlers[method](id, params)
  }

  /** `describe`'s answer, with the definition's `gas` cost model when it has one. */
  #describe(): PluginResult<'describe'> {
    const answer = this.#definition.describe()
    const gas = this.#definition.gas
    return gas === undefined ? answer : { ...answer, gas }
  }

  #init(id: number, params: PluginParams<'init'>): void {
    if (params.protocolVersion !== PLUGIN_PROTOCOL_VERSION) {
      throw new GalacticError('PROTOCOL_ERROR', `protocol version ${params.protocolVersion} not supported (this plugin speaks ${PLUGIN_PROTOCOL_VERSION})`)
    }
    const answer = (): void => {
      this.#initialized = true
      const { name, version, ops } = this.#definition.describe()
      const result: PluginResult<'init'> = { name, version, ops: ops.map((op) => op.name) }
      this.#reply(id, result)
    }
    const hooked = this.#definition.init?.(params.config, this.#context)
    if (isPromise(hooked)) void hooked.then(answer, (err: unknown) => this.#error(id, GalacticError.from(err)))
    else answer()
  }

  #start(id: number, task: PluginParams<'start'>): void {
    const { taskId, op } = task
    if (this.#tasks.has(taskId)) throw new GalacticError('TASK_INVALID', `task ${taskId} is already running`)
    const started = performance.now()
    const running = this.#run(
      id,
      `task ${taskId}`,
      (signal) => this.#definition.start(task, signal),
      () => this.#log(`task ${taskId} (${op}) done in ${(performance.now() - started).toFixed(1)} ms`),
      (error) => this.#log(`task ${taskId} (${op}) failed: ${error.code}: ${error.message}`),
    )
    if (running === undefined) return
    const entry = { controller: running.controller, done: running.done.finally(() => this.#tasks.delete(taskId)) }
    this.#tasks.set(taskId, entry)
  }

  /** Runs a verification like a task, so a full stop cancels it. */
  #verify(id: number, task: PluginParams<'verify'>): void {
    const running = this.#run(
      id,
      `verify ${id}`,
      (signal) => this.#definition.verify(task, signal),
      (result) => {
        if (!result.valid) this.#log(`verify ${id} (${task.op}): invalid: ${result.reason ?? ''}`)
      },
    )
    if (running === undefined) return
    const entry: Running = { controller: running.controller, done: running.done.finally(() => this.#checks.delete(entry)) }
    this.#checks.add(entry)
  }

  /**
   * Calls `work` with a fresh signal and answers request `id` with its result or error (TASK_CANCELLED
   * once the signal aborted). Returns what to track while it runs; nothing when it answered at once.
   */
  #run<T>(
    id: number,
    what: string,
    work: (signal: AbortSignal) => MaybePromise<T>,
    onResult: (result: T) => void,
    onError: (error: GalacticError) => void = () => {},
  ): Running | undefined {
    const controller = new AbortController()
    const succeed = (result: T): void => {
      try {
        onResult(result)
        this.#reply(id, result)
      } catch (err) {
        // A result that cannot be sent (one JSON cannot hold) still gets an answer: an error.
        this.#error(id, GalacticError.from(err))
      }
    }
    const fail = (err: unknown): void => {
      const error = controller.signal.aborted ? new GalacticError('TASK_CANCELLED', `${what} cancelled`) : GalacticError.from(err)
      onError(error)
      this.#error(id, error)
    }
    let outcome: MaybePromise<T>
    try {
      outcome = work(controller.signal)
    } catch (err) {
      fail(err)
      return undefined
    }
    if (!isPromise(outcome)) {
      succeed(outcome)
      return undefined
    }
    return { controller, done: outcome.then(succeed, fail) }
  }

  #stop(id: number, params: PluginParams<'stop'>): void {
    if (params.taskId !== undefined) {
      this.#tasks.get(params.taskId)?.controller.abort()
      this.#reply(id, {})
      return
    }
    void this.shutdown().then(() => {
      this.#reply(id, {})
      this.#exit(0)
    })
  }

  #reply(id: number, result: unknown): void {
    const line = JSON.stringify({ jsonrpc: '2.0', id, result })
    if (Buffer.byteLength(line) > LIMITS.maxMessageBytes) {
      this.#error(id, new GalacticError('PAYLOAD_TOO_LARGE', `response over ${LIMITS.maxMessageBytes} bytes`))
      return
    }
    this.#send(line)
  }

  #error(id: number | null, error: GalacticError): void {
    const obj: ErrorObject = error.toObject()
    this.#send(JSON.stringify({ jsonrpc: '2.0', id, error: { ...obj, message: obj.message.slice(0, MAX_ERROR_MESSAGE) } }))
  }
}

/** `new PluginServer(definition, components)`. */
export function createPluginServer(definition: PluginDefinition, components: PluginServerComponents): PluginServer {
  return new PluginServer(definition, components)
}
