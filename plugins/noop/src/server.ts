import {
  GalacticError,
  LIMITS,
  PLUGIN_METHODS,
  PLUGIN_PROTOCOL_VERSION,
  PluginRequest,
  parseOrThrow,
  type ErrorObject,
  type PluginResult,
} from '@galactic/schemas'
import { OP_NAMES, OUTPUT_NAMES, PLUGIN_NAME, PLUGIN_VERSION, runOp, verifyOp } from './ops.js'

/** The plugin's `describe` answer. */
export function describePlugin(): PluginResult<'describe'> {
  return {
    name: PLUGIN_NAME,
    version: PLUGIN_VERSION,
    protocolVersion: PLUGIN_PROTOCOL_VERSION,
    ops: OP_NAMES.map((name) => ({
      name,
      description: `No work: answers at once with output \`${OUTPUT_NAMES[name]}\`: the op name, the sha256 of its params (canonical JSON) and of its inputs' hashes.`,
    })),
    resources: { cpuCores: 0.01, memoryMiB: 64 },
    notes:
      'A no-op for measuring the scheduler, not proving: outputs prove nothing; input bytes are not read, only their hashes. ' +
      'verify accepts exactly the output start would return for the same op, params and inputs.',
  }
}

export interface PluginServerComponents {
  /** Writes one response line (without its newline) to the agent. */
  send: (line: string) => void
  /** Ends the process after a `stop` without taskId has been answered. */
  exit: (code: number) => void
}

/**
 * The plugin side of the plugin protocol for the no-op plugin. Every task finishes inside
 * `handleLine`, so there is never anything running to cancel. Transport-free, so tests can drive it.
 */
export class PluginServer {
  readonly #send: (line: string) => void
  readonly #exit: (code: number) => void
  #initialized = false
  #stopping = false

  constructor(components: PluginServerComponents) {
    this.#send = components.send
    this.#exit = components.exit
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
      switch (method) {
        case 'describe':
          parseOrThrow(PLUGIN_METHODS.describe.params, params, 'describe params', 'PROTOCOL_ERROR')
          this.#reply(id, describePlugin())
          return
        case 'init': {
          const init = parseOrThrow(PLUGIN_METHODS.init.params, params, 'init params', 'PROTOCOL_ERROR')
          if (init.protocolVersion !== PLUGIN_PROTOCOL_VERSION) {
            throw new GalacticError('PROTOCOL_ERROR', `protocol version ${init.protocolVersion} not supported (this plugin speaks ${PLUGIN_PROTOCOL_VERSION})`)
          }
          this.#initialized = true
          this.#reply(id, { name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] })
          return
        }
        case 'start':
          this.#requireInit('start')
          this.#reply(id, runOp(parseOrThrow(PLUGIN_METHODS.start.params, params, 'start params', 'PROTOCOL_ERROR')))
          return
        case 'verify':
          this.#requireInit('verify')
          this.#reply(id, verifyOp(parseOrThrow(PLUGIN_METHODS.verify.params, params, 'verify params', 'PROTOCOL_ERROR')))
          return
        case 'stop': {
          const stop = parseOrThrow(PLUGIN_METHODS.stop.params, params, 'stop params', 'PROTOCOL_ERROR')
          this.#reply(id, {})
          if (stop.taskId === undefined) {
            this.#stopping = true
            this.#exit(0)
          }
          return
        }
      }
    } catch (err) {
      this.#error(id, GalacticError.from(err))
    }
  }

  #requireInit(method: string): void {
    if (!this.#initialized) throw new GalacticError('PROTOCOL_ERROR', `${method} before init: call init first`)
  }

  #reply(id: number, result: unknown): void {
    this.#send(JSON.stringify({ jsonrpc: '2.0', id, result }))
  }

  #error(id: number | null, error: GalacticError): void {
    const obj: ErrorObject = error.toObject()
    this.#send(JSON.stringify({ jsonrpc: '2.0', id, error: { ...obj, message: obj.message.slice(0, 4096) } }))
  }
}
