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
import { OP_NAMES, PLUGIN_NAME, PLUGIN_VERSION, runOp, verifyOp } from './ops.js'

/** What one task of this plugin needs: one core, and little memory (states are 32 bytes). */
export const PLUGIN_RESOURCES = { cpuCores: 1, memoryMiB: 128 } as const

const OP_DESCRIPTIONS: Record<(typeof OP_NAMES)[number], string> = {
  split: 'Runs the whole chain once and records the start state of every segment and the end state (output `segments`).',
  prove: 'Re-runs segment `segment` from its start state in the split output (output `proof`, a segment proof).',
  aggregate: 'Joins two adjacent proofs, left then right, after checking their digests and that they meet (output `proof`).',
  snark: 'Wraps the root proof into the final record for `seed`, checking it starts from sha256(seed) at step 0 (output `snark`).',
}

/** The plugin's `describe` answer. */
export function describePlugin(): PluginResult<'describe'> {
  return {
    name: PLUGIN_NAME,
    version: PLUGIN_VERSION,
    protocolVersion: PLUGIN_PROTOCOL_VERSION,
    ops: OP_NAMES.map((name) => ({ name, description: OP_DESCRIPTIONS[name] })),
    resources: { ...PLUGIN_RESOURCES },
    notes:
      'A SHA-256 hash chain standing in for a zkVM. Digests are commitments, not proofs: aggregate is not recursive and checks ' +
      'digests and continuity only. verify re-runs the task (as costly as the task) and compares outputs field by field; ' +
      'verifySnark from the package re-runs the whole chain.',
  }
}

export interface PluginServerComponents {
  /** Writes one response line (without its newline) to the agent. */
  send: (line: string) => void
  /** Ends the process after a `stop` without taskId has been answered. */
  exit: (code: number) => void
  /** Diagnostics (stderr). */
  log?: (message: string) => void
}

type Id = number | null

/**
 * The plugin side of the plugin protocol: takes request lines, runs tasks (several at once),
 * writes one response line per request. Transport-free, so tests can drive it directly.
 */
export class PluginServer {
  readonly #send: (line: string) => void
  readonly #exit: (code: number) => void
  readonly #log: (message: string) => void
  readonly #tasks = new Map<string, { controller: AbortController; done: Promise<void> }>()
  /** Verifications running, by request id. */
  readonly #verifications = new Map<number, { controller: AbortController; done: Promise<void> }>()
  #stopping = false
  #initialized = false

  constructor(components: PluginServerComponents) {
    this.#send = components.send
    this.#exit = components.exit
    this.#log = components.log ?? (() => {})
  }

  /** Number of tasks (and verifications) running now. */
  get running(): number {
    return this.#tasks.size + this.#verifications.size
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
          this.#reply(id, describePlugin())
          return
        case 'init':
          this.#reply(id, this.#init(parseOrThrow(PLUGIN_METHODS.init.params, request.data.params, 'init params', 'PROTOCOL_ERROR')))
          return
        case 'start':
          this.#requireInit('start')
          this.#start(id, parseOrThrow(PLUGIN_METHODS.start.params, request.data.params, 'start params', 'PROTOCOL_ERROR'))
          return
        case 'verify':
          this.#requireInit('verify')
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

  /** Cancels every running task and waits for them to answer. */
  async shutdown(): Promise<void> {
    this.#stopping = true
    const done = [...this.#tasks.values(), ...this.#verifications.values()].map((t) => {
      t.controller.abort()
      return t.done
    })
    await Promise.allSettled(done)
  }

  #init(params: PluginParams<'init'>): PluginResult<'init'> {
    if (params.protocolVersion !== PLUGIN_PROTOCOL_VERSION) {
      throw new GalacticError('PROTOCOL_ERROR', `protocol version ${params.protocolVersion} not supported (this plugin speaks ${PLUGIN_PROTOCOL_VERSION})`)
    }
    this.#initialized = true
    return { name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] }
  }

  #requireInit(method: string): void {
    if (!this.#initialized) throw new GalacticError('PROTOCOL_ERROR', `${method} before init: call init first`)
  }

  /** Runs a verification like a task, so a full stop cancels it. */
  #verify(id: number, params: PluginParams<'verify'>): void {
    const controller = new AbortController()
    const done = verifyOp(params, controller.signal).then(
      (result) => {
        if (!result.valid) this.#log(`verify ${id} (${params.op}): invalid: ${result.reason ?? ''}`)
        this.#reply(id, result)
      },
      (err: unknown) => {
        const error = controller.signal.aborted ? new GalacticError('TASK_CANCELLED', `verify ${id} cancelled`) : GalacticError.from(err)
        this.#error(id, error)
      },
    )
    this.#verifications.set(id, { controller, done: done.finally(() => this.#verifications.delete(id)) })
  }

  #start(id: number, params: PluginParams<'start'>): void {
    const { taskId } = params
    if (this.#tasks.has(taskId)) throw new GalacticError('TASK_INVALID', `task ${taskId} is already running`)
    const controller = new AbortController()
    const started = performance.now()
    const done = runOp(params, controller.signal).then(
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
