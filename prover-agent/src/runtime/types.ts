import type { PluginManifest, PluginParams, PluginResult } from '@galactic/schemas'

/** Any JSON value (the type of `init`'s `config`). */
export type JsonValue = PluginParams<'init'>['config']

/**
 * One running plugin (a process today, a container later), spoken to with the plugin protocol.
 * Several `start` calls may be in flight at once.
 */
export interface PluginInstance {
  readonly manifest: PluginManifest
  /** Configures the plugin. Rejects PLUGIN_FAILED when it fails or answers badly; ABORTED on abort. */
  init(config: JsonValue, signal?: AbortSignal): Promise<PluginResult<'init'>>
  /**
   * Runs one task. Aborting `signal` sends `stop { taskId }` and rejects with TASK_CANCELLED.
   * Rejects TASK_INVALID or TASK_CANCELLED when the plugin says so, PLUGIN_FAILED for anything
   * else that goes wrong (crash, bad reply, other error results).
   */
  start(params: PluginParams<'start'>, signal?: AbortSignal): Promise<PluginResult<'start'>>
  /** Cancels one task, or without `taskId` asks the plugin to shut down. No-op once closed. */
  stop(taskId?: string): Promise<void>
  /**
   * Asks the plugin to stop, then kills it after a grace period. Calls still pending reject with
   * TASK_CANCELLED. Idempotent: every call returns the same promise.
   */
  close(): Promise<void>
  /** True once `close()` was called or the plugin exited. A closed instance takes no more calls. */
  readonly closed: boolean
}

/** Starts plugin instances from their manifests: one implementation per way of running plugins. */
export interface PluginRuntime {
  /** What it runs plugins as, e.g. `process` (matches `manifest.runtime.type`). */
  readonly kind: string
  /**
   * Starts one instance. `manifestDir` is the manifest's folder: relative paths in the manifest
   * are resolved from it. Rejects PLUGIN_FAILED when it cannot start; ABORTED on abort.
   */
  launch(manifest: PluginManifest, manifestDir: string, signal?: AbortSignal): Promise<PluginInstance>
}

/** Dependencies shared by runtimes. */
export interface PluginRuntimeComponents {
  /** Receives each stderr line of each plugin instance, prefixed with `name@version[id]: `. */
  log?: (line: string) => void
}
