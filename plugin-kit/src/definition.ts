import { CostModel, parseOrThrow, type PluginParams, type PluginResult } from '@galactic/schemas'

/** A value, or a promise of it: a hook may answer at once or later. */
export type MaybePromise<T> = T | Promise<T>

/** `describe`'s answer (name, version, protocolVersion, ops, resources, gas, notes). */
export type DescribeResult = PluginResult<'describe'>
/** `init`'s `config`: any JSON, as the agent's plugin config gives it. */
export type PluginConfigValue = PluginParams<'init'>['config']
/** One task, as `start` hands it: `{ taskId, op, params, inputs }`. */
export type StartTask = PluginParams<'start'>
/** `start`'s answer: `{ outputs: [{ name, data }] }`. */
export type StartResult = PluginResult<'start'>
/** A check, as `verify` hands it: `{ op, params, inputs, outputs }`. */
export type VerifyTask = PluginParams<'verify'>
/** `verify`'s answer: `{ valid, reason? }`. */
export type VerifyResult = PluginResult<'verify'>

/** What the kit hands a plugin's hooks besides their arguments. */
export interface PluginContext {
  /** Diagnostics: stderr in a plugin process, nothing unless asked for in a bare {@link PluginServer}. */
  log: (message: string) => void
}

/**
 * A plugin, as its author writes it: what it is and its ops. The protocol (JSON-RPC dispatch,
 * params checks, init order, cancellation, shutdown, error mapping) is the kit's.
 */
export interface PluginDefinition {
  /** `describe`'s answer; answered before `init` too. `init` answers its name, version and op names. */
  describe(): DescribeResult
  /**
   * The plugin's cost model: for each op, the gas units it does as expressions over its params
   * (docs/pricing.md). When given, `describe` answers it as `gas` (over any `gas` of `describe()`).
   * {@link definePlugin} checks its shape; `@galactic/gas` compiles its expressions.
   */
  gas?: CostModel
  /**
   * Configures the plugin (`init`'s `config`), after the kit has checked the protocol version.
   * Throw to refuse (a `GalacticError` keeps its code; anything else is `INTERNAL`).
   */
  init?(config: PluginConfigValue, context: PluginContext): MaybePromise<void>
  /**
   * Runs one task to its end. `signal` aborts on `stop { taskId }` and on shutdown: the task then
   * answers `TASK_CANCELLED` whatever it throws. Throw `TASK_INVALID` for bad params or inputs.
   */
  start(task: StartTask, signal: AbortSignal): MaybePromise<StartResult>
  /** Checks outputs against their task; `{ valid: false, reason }` for wrong ones, never a throw. */
  verify(task: VerifyTask, signal: AbortSignal): MaybePromise<VerifyResult>
  /** Releases what the plugin holds (worker threads, files), once, after every task has answered on shutdown. */
  close?(context: PluginContext): MaybePromise<void>
  /**
   * Whether `start` and `verify` before a successful `init` are refused with PROTOCOL_ERROR, as the
   * protocol asks. @default true
   */
  requireInit?: boolean
}

/**
 * Types a plugin definition (an identity function, for inference and checks at the definition).
 * A `gas` cost model is checked here: a malformed one throws INVALID_GAS_MODEL naming the field.
 */
export function definePlugin<D extends PluginDefinition>(definition: D): D {
  if (definition.gas !== undefined) parseOrThrow(CostModel, definition.gas, 'gas cost model', 'INVALID_GAS_MODEL')
  return definition
}
