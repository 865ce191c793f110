import { z } from 'zod'
import {
  GalacticError,
  LIMITS,
  PLUGIN_METHODS,
  PLUGIN_PROTOCOL_VERSION,
  PluginRequest,
  parseOrThrow,
  type ErrorObject,
  type PluginParams,
  type PluginResult,
} from '@galactic/schemas'
import { Artifacts } from './artifacts.js'
import { releaseProver } from './groth16.js'
import { DESCRIPTION, OP_NAMES, PLUGIN_NAME, PLUGIN_VERSION, runOp, verifyOp } from './ops.js'

/** `init`'s config: where the circuits are (default `<plugin>/artifacts` or `$GALACTIC_GROTH16_ARTIFACTS`). */
export const PluginConfig = z.object({ artifactsDir: z.string().min(1).optional() })
export type PluginConfig = z.infer<typeof PluginConfig>

export interface PluginServerComponents {
  /** Writes one response line (without its newline) to the agent. */
  send: (line: string) => void
  /** Ends the process after a `stop` without taskId has been answered. */
  exit: (code: number) => void
  /** Diagnostics (stderr). */
  log?: (message: string) => void
  /** The circuits, until `init` names others. @default new Artifacts() */
  artifacts?: Artifacts
}

type Id = number | null

/**
 * The plugin side of the plugin protocol: takes request lines, runs tasks (several at once),
 * writes one response line per request. Transport-free, so tests can drive it directly.
 * `shutdown` cancels what runs and terminates snarkjs' worker threads.
 */
export class PluginServer {
  readonly #send: (line: string) => void
  readonly #exit: (code: number) => void
  readonly #log: (message: string) => void
  #artifacts: Artifacts
  readonly #tasks = new Map<string, { controller: AbortController; done: Promise<void> }>()
  readonly #checks = new Set<{ controller: AbortController; done: Promise<void> }>()
  #stopping = false

  constructor(components: PluginServerComponents) {
    this.#send = components.send
    this.#exit = components.exit
    this.#log = components.log ?? (() => {})
    this.#artifacts = components.artifacts ?? new Artifacts()
  }

  /** Number of tasks running now. */
  get running(): number {
    return this.#tasks.size
  }

  /** A line too long to read arrived (its id is unknown). */
  handleOverflow(): void {
    this.#error(null, new GalacticError('PAYLOAD_TOO_LARGE', `request line over ${LIMITS.maxMessageBytes} bytes`))
  }

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
      const knownId = Number.isSafeInteger(id) ? (id as number) : null
      const method = (message as { method?: unknown } | null)?.method
      const why = typeof method === 'string' && !(method in PLUGIN_METHODS) ? `unknown method ${JSON.stringify(method)}` : 'not a JSON-RPC 2.0 request'
      this.#error(knownId, new GalacticError('PROTOCOL_ERROR', why))
      return
    }
    const { id, method } = request.data
    if (this.#stopping) {
      this.#error(id, new GalacticError('PROTOCOL_ERROR', 'plugin is shutting down'))
      return
    }
    try {
      switch (method) {
        case 'describe':
          parseOrThrow(PLUGIN_METHODS.describe.params, request.data.params, 'describe params', 'PROTOCOL_ERROR')
          this.#reply(id, DESCRIPTION)
          return
        case 'init':
          this.#reply(id, this.#init(parseOrThrow(PLUGIN_METHODS.init.params, request.data.params, 'init params', 'PROTOCOL_ERROR')))
          return
        case 'start':
          this.#start(id, parseOrThrow(PLUGIN_METHODS.start.params, request.data.params, 'start params', 'PROTOCOL_ERROR'))
          return
        case 'verify':
          this.#verify(id, parseOrThrow(PLUGIN_METHODS.verify.params, request.data.params, 'verify params', 'PROTOCOL_ERROR'))
          return
        case 'stop':
          this.#stop(id, parseOrThrow(PLUGIN_METHODS.stop.params, request.data.params, 'stop params', 'PROTOCOL_ERROR'))
          return
      }
    } catch (err) {
      this.#error(id, GalacticError.from(err))
    }
  }

  /** Cancels every running task and check, waits for them to answer, then ends snarkjs' workers. */
  async shutdown(): Promise<void> {
    this.#stopping = true
    const done = [...this.#tasks.values(), ...this.#checks].map((t) => {
      t.controller.abort()
      return t.done
    })
    await Promise.allSettled(done)
    await releaseProver().catch((err: unknown) => this.#log(`releasing the prover: ${String(err)}`))
  }

  #init(params: PluginParams<'init'>): PluginResult<'init'> {
    if (params.protocolVersion !== PLUGIN_PROTOCOL_VERSION) {
      throw new GalacticError('PROTOCOL_ERROR', `protocol version ${params.protocolVersion} not supported (this plugin speaks ${PLUGIN_PROTOCOL_VERSION})`)
    }
    const config = parseOrThrow(PluginConfig, params.config ?? {}, 'init config', 'INVALID_INPUT')
    const artifacts = config.artifactsDir === undefined ? this.#artifacts : new Artifacts(config.artifactsDir)
    // Fail now, naming the missing file and the setup command, rather than on the first task.
    artifacts.check()
    this.#artifacts = artifacts
    this.#log(`artifacts in ${artifacts.dir}: segment sizes ${artifacts.sizes().join(', ')}`)
    return { name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] }
  }

  #start(id: number, params: PluginParams<'start'>): void {
    const { taskId } = params
    if (this.#tasks.has(taskId)) throw new GalacticError('TASK_INVALID', `task ${taskId} is already running`)
    const controller = new AbortController()
    const started = performance.now()
    const done = runOp(params, { artifacts: this.#artifacts, signal: controller.signal }).then(
      (result) => {
        this.#log(`task ${taskId} (${params.op}) done in ${(performance.now() - started).toFixed(1)} ms`)
        this.#reply(id, result)
      },
      (err: unknown) => {
        const error = controller.signal.aborted ? new GalacticError('TASK_CANCELLED', `task ${taskId} cancelled`) : GalacticError.from(err)
        this.#log(`task ${taskId} (${params.op}) failed: ${error.code}: ${error.message}`)
        this.#error(id, error)
      },
    )
    const entry = { controller, done: done.finally(() => this.#tasks.delete(taskId)) }
    this.#tasks.set(taskId, entry)
  }

  #verify(id: number, params: PluginParams<'verify'>): void {
    const controller = new AbortController()
    const done = verifyOp(params, { artifacts: this.#artifacts, signal: controller.signal }).then(
      (result) => this.#reply(id, result),
      (err: unknown) => {
        const error = controller.signal.aborted ? new GalacticError('TASK_CANCELLED', 'verify cancelled') : GalacticError.from(err)
        this.#error(id, error)
      },
    )
    const entry = { controller, done: done.finally(() => this.#checks.delete(entry)) }
    this.#checks.add(entry)
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

  #error(id: Id, error: GalacticError): void {
    const obj: ErrorObject = error.toObject()
    this.#send(JSON.stringify({ jsonrpc: '2.0', id, error: { ...obj, message: obj.message.slice(0, 4096) } }))
  }
}
