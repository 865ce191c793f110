import type { PluginManifest, PluginParams, PluginResult } from '@galactic/schemas'

/** Any JSON value (the type of `init`'s `config`). */
export type JsonValue = PluginParams<'init'>['config']

/** What one plugin instance may use. Runtimes that sandbox (docker) turn it into limits; `process` ignores it. */
export interface PluginResources {
  /** CPU cores (fractions allowed), e.g. `1` or `0.5`. */
  cpuCores?: number
  /** Memory in MiB, the hard limit of the instance. */
  memoryMiB?: number
}

/** Options of one {@link PluginRuntime.launch}. */
export interface PluginLaunchOptions {
  /**
   * What the task (efficiency mode) or the resident instance needs. Wins over what the plugin's
   * `describe` asks for, which wins over the runtime's defaults.
   */
  resources?: PluginResources
}

/**
 * One running plugin (a process or a container), spoken to with the plugin protocol.
 * Several `start` calls may be in flight at once.
 */
export interface PluginInstance {
  readonly manifest: PluginManifest
  /**
   * What the plugin is (name, version, protocol version, ops, resource needs). Allowed before `init`.
   * Rejects PLUGIN_FAILED when it fails or answers badly; ABORTED on abort.
   */
  describe(signal?: AbortSignal): Promise<PluginResult<'describe'>>
  /** Configures the plugin. Rejects PLUGIN_FAILED when it fails or answers badly; ABORTED on abort. */
  init(config: JsonValue, signal?: AbortSignal): Promise<PluginResult<'init'>>
  /**
   * Runs one task. Aborting `signal` sends `stop { taskId }` and rejects with TASK_CANCELLED.
   * Rejects PROTOCOL_ERROR (nothing sent) before a successful `init`; TASK_INVALID or
   * TASK_CANCELLED when the plugin says so; PLUGIN_FAILED for anything else that goes wrong
   * (crash, bad or oversized reply, other error results).
   */
  start(params: PluginParams<'start'>, signal?: AbortSignal): Promise<PluginResult<'start'>>
  /**
   * Checks outputs against the task that claims to have made them: `{ valid: false, reason }` for
   * outputs the plugin would not have made. Errors as {@link PluginInstance.start}; aborting
   * `signal` rejects TASK_CANCELLED (the plugin's answer is then ignored).
   */
  verify(params: PluginParams<'verify'>, signal?: AbortSignal): Promise<PluginResult<'verify'>>
  /** Cancels one task, or without `taskId` asks the plugin to shut down. No-op once closed. */
  stop(taskId?: string): Promise<void>
  /**
   * Asks the plugin to stop, then kills it after a grace period (a container is also removed).
   * Calls still pending reject with TASK_CANCELLED. Idempotent: every call returns the same promise.
   */
  close(): Promise<void>
  /** True once `close()` was called or the plugin exited. A closed instance takes no more calls. */
  readonly closed: boolean
}

/** Starts plugin instances from their manifests: one implementation per way of running plugins. */
export interface PluginRuntime {
  /** What it runs plugins as, e.g. `process` or `docker` (matches `manifest.runtime.type`). */
  readonly kind: string
  /**
   * Starts one instance. `manifestDir` is the manifest's folder: relative paths in the manifest
   * are resolved from it. Rejects INVALID_INPUT for a manifest of another runtime type,
   * PLUGIN_NOT_FOUND when what the manifest names is not there, PLUGIN_FAILED when it cannot
   * start, ABORTED on abort.
   */
  launch(manifest: PluginManifest, manifestDir: string, signal?: AbortSignal, options?: PluginLaunchOptions): Promise<PluginInstance>
}

/** Dependencies shared by runtimes. */
export interface PluginRuntimeComponents {
  /** Receives each stderr line of each plugin instance, prefixed with `name@version[id]: `. */
  log?: (line: string) => void
}
