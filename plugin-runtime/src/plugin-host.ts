import {
  GalacticError,
  pluginKey,
  type PluginManifest,
  type PluginMode,
  type PluginParams,
  type PluginRef,
  type PluginResult,
} from '@galactic/schemas'
import type { JsonValue, PluginInstance, PluginLaunchOptions, PluginRuntime } from './types.js'

/** One installed plugin: its manifest, the folder it was read from, and optionally its own config. */
export interface InstalledPlugin {
  manifest: PluginManifest
  /** The manifest's folder: relative paths in the manifest are resolved from it. */
  dir: string
  /** Config for this plugin's `init`, instead of the host's `config`. */
  config?: JsonValue
}

export interface PluginHostInit {
  /** The plugins this agent offers. Two with the same `name@version` are refused (INVALID_INPUT). */
  plugins: InstalledPlugin[]
  /** Config passed to every plugin's `init`. @default {} */
  config?: JsonValue
}

/** The runtimes of a host, by the manifest runtime type they serve. */
export interface PluginRuntimes {
  /** Runs `{ type: 'process' }` manifests (e.g. {@link ProcessRuntime}). */
  process?: PluginRuntime
  /** Runs `{ type: 'docker' }` manifests (e.g. {@link DockerRuntime}). */
  docker?: PluginRuntime
}

export interface PluginHostComponents {
  /**
   * Starts plugin instances of every manifest type that {@link PluginHostComponents.runtimes} does
   * not name. Kept for callers that have a single runtime (`{ runtime: new ProcessRuntime() }`).
   */
  runtime?: PluginRuntime
  /** The runtime for each manifest type (`manifest.runtime.type`); wins over `runtime`. */
  runtimes?: PluginRuntimes
  /** Diagnostics: launches, relaunches, closes. */
  log?: (message: string) => void
}

interface Resident {
  promise: Promise<PluginInstance>
  instance: PluginInstance | undefined
}

/**
 * Owns the plugin instances of an agent, per plugin key `name@version`. The agent runs every
 * task through {@link PluginHost.run} and closes the host when it stops.
 *
 * @example
 * const host = new PluginHost({ plugins: [loadPluginManifest('plugins/sha256-chain/galactic-plugin.json')] },
 *   { runtimes: { process: new ProcessRuntime(), docker: new DockerRuntime({ agentId: 'agent-1' }) } })
 * const { outputs } = await host.run({ name: 'sha256-chain', version: '1.0.0' }, 'performance',
 *   { taskId: 'g1/split', op: 'split', params: { seed: 'hi', segments: 2, segmentSteps: 1000 }, inputs: [] })
 * await host.close()
 */
export class PluginHost {
  readonly #plugins = new Map<string, InstalledPlugin>()
  readonly #config: JsonValue
  readonly #runtimes = new Map<string, PluginRuntime>()
  readonly #log: (message: string) => void
  readonly #residents = new Map<string, Resident>()
  /** Every instance launched and not yet closed, resident or not. */
  readonly #live = new Set<PluginInstance>()
  #launches = 0
  #closePromise: Promise<void> | undefined

  constructor(init: PluginHostInit, components: PluginHostComponents) {
    for (const plugin of init.plugins) {
      const key = pluginKey(plugin.manifest)
      if (this.#plugins.has(key)) throw new GalacticError('INVALID_INPUT', `plugin ${key} is installed twice (${plugin.dir})`, { plugin: key })
      const type = plugin.manifest.runtime.type
      const runtime = components.runtimes?.[type] ?? components.runtime
      if (runtime === undefined) {
        throw new GalacticError('INVALID_INPUT', `plugin ${key} needs a ${type} runtime, and this host has none`, { plugin: key, runtime: type })
      }
      this.#runtimes.set(key, runtime)
      this.#plugins.set(key, plugin)
    }
    this.#config = init.config ?? {}
    this.#log = components.log ?? (() => {})
  }

  /** The plugins this host can run, as the agent reports them in its device descriptor. */
  offered(): PluginRef[] {
    return [...this.#plugins.values()].map(({ manifest }) => ({ name: manifest.name, version: manifest.version }))
  }

  /**
   * What an installed plugin says of itself (`describe`: ops, resources, cost model), from a
   * throwaway instance that is not inited. Rejects PLUGIN_NOT_FOUND or PLUGIN_FAILED.
   */
  async describe(plugin: PluginRef, signal?: AbortSignal): Promise<PluginResult<'describe'>> {
    const key = pluginKey(plugin)
    const installed = this.#plugins.get(key)
    if (installed === undefined) throw new GalacticError('PLUGIN_NOT_FOUND', `plugin ${key} is not installed`, { plugin: key })
    const instance = await (this.#runtimes.get(key) as PluginRuntime).launch(installed.manifest, installed.dir, signal)
    this.#live.add(instance)
    try {
      return await instance.describe(signal)
    } finally {
      await instance.close()
      this.#live.delete(instance)
    }
  }

  /** The manifest of an installed plugin, if any. */
  manifest(plugin: PluginRef): PluginManifest | undefined {
    return this.#plugins.get(pluginKey(plugin))?.manifest
  }

  /** How many instances this host has launched so far (all modes). */
  get launches(): number {
    return this.#launches
  }

  /** Whether {@link PluginHost.close} was called. */
  get closed(): boolean {
    return this.#closePromise !== undefined
  }

  /**
   * Runs one task. Mode `efficiency`: a fresh instance per task (launch, init, start, close).
   * Mode `performance`: one resident instance per plugin, launched and inited on first use,
   * reused by later (and concurrent) tasks, relaunched if it died.
   *
   * `launch` (e.g. the task's resources) applies to the instance launched for this task, so in
   * efficiency mode only; a resident instance is launched with the plugin's own `describe` needs.
   *
   * Rejects PLUGIN_NOT_FOUND (not installed, or its image is missing), TASK_INVALID (op not in the
   * manifest, or the plugin says so), TASK_CANCELLED (aborted, or the host closed) or PLUGIN_FAILED.
   */
  async run(
    plugin: PluginRef,
    mode: PluginMode,
    params: PluginParams<'start'>,
    signal?: AbortSignal,
    launch?: PluginLaunchOptions,
  ): Promise<PluginResult<'start'>> {
    return this.#use(plugin, mode, params.op, `task ${params.taskId}`, { taskId: params.taskId }, signal, launch, (instance) =>
      instance.start(params, signal),
    )
  }

  /**
   * Checks outputs with the plugin's `verify`, through an instance as {@link PluginHost.run} gets
   * one for `mode`. Resolves `{ valid, reason? }`; rejects as {@link PluginHost.run} does.
   */
  async verify(
    plugin: PluginRef,
    mode: PluginMode,
    params: PluginParams<'verify'>,
    signal?: AbortSignal,
    launch?: PluginLaunchOptions,
  ): Promise<PluginResult<'verify'>> {
    return this.#use(plugin, mode, params.op, `verify of ${params.op}`, {}, signal, launch, (instance) => instance.verify(params, signal))
  }

  async #use<T>(
    plugin: PluginRef,
    mode: PluginMode,
    op: string,
    what: string,
    details: Record<string, unknown>,
    signal: AbortSignal | undefined,
    launch: PluginLaunchOptions | undefined,
    call: (instance: PluginInstance) => Promise<T>,
  ): Promise<T> {
    const key = pluginKey(plugin)
    const installed = this.#plugins.get(key)
    if (installed === undefined) throw new GalacticError('PLUGIN_NOT_FOUND', `plugin ${key} is not installed`, { plugin: key })
    if (!installed.manifest.ops.includes(op)) {
      throw new GalacticError('TASK_INVALID', `plugin ${key} does not serve op ${JSON.stringify(op)}`, { plugin: key, op })
    }
    if (this.closed) throw new GalacticError('TASK_CANCELLED', 'the plugin host is closed', details)
    const cancelled = (): GalacticError => new GalacticError('TASK_CANCELLED', `${what} cancelled`, details)
    if (signal?.aborted === true) throw cancelled()
    try {
      if (mode === 'performance') {
        const instance = await abortable(this.#resident(key, installed), signal, cancelled)
        return await call(instance)
      }
      const instance = await this.#launch(key, installed, signal, launch)
      try {
        return await call(instance)
      } finally {
        await instance.close()
        this.#live.delete(instance)
      }
    } catch (err) {
      if (isAborted(signal) && !GalacticError.is(err, 'TASK_CANCELLED')) throw cancelled()
      throw GalacticError.from(err, 'PLUGIN_FAILED')
    }
  }

  /** Closes every instance (resident or running a task); running tasks reject TASK_CANCELLED. Idempotent. */
  close(): Promise<void> {
    this.#closePromise ??= this.#close()
    return this.#closePromise
  }

  async #close(): Promise<void> {
    const launching = [...this.#residents.values()].map((r) => r.promise.then((i) => i.close()).catch(() => {}))
    this.#residents.clear()
    await Promise.all([...launching, ...[...this.#live].map((i) => i.close())])
  }

  #resident(key: string, installed: InstalledPlugin): Promise<PluginInstance> {
    const current = this.#residents.get(key)
    if (current !== undefined && current.instance?.closed !== true) return current.promise
    if (current?.instance !== undefined) {
      this.#log(`plugin ${key}: resident instance is gone, relaunching`)
      this.#live.delete(current.instance)
      void current.instance.close()
    }
    const resident: Resident = { promise: this.#launch(key, installed), instance: undefined }
    this.#residents.set(key, resident)
    resident.promise.then(
      (instance) => {
        resident.instance = instance
        // The host closed while this one was starting: #close() takes care of it.
      },
      () => {
        if (this.#residents.get(key) === resident) this.#residents.delete(key)
      },
    )
    return resident.promise
  }

  /** Launches and inits one instance; closes it again when init fails. */
  async #launch(key: string, installed: InstalledPlugin, signal?: AbortSignal, launch?: PluginLaunchOptions): Promise<PluginInstance> {
    this.#launches++
    const runtime = this.#runtimes.get(key) as PluginRuntime
    const instance = await runtime.launch(installed.manifest, installed.dir, signal, launch)
    this.#live.add(instance)
    try {
      if (this.closed) throw new GalacticError('TASK_CANCELLED', 'the plugin host is closed')
      const info = await instance.init(installed.config ?? this.#config, signal)
      if (info.name !== installed.manifest.name || info.version !== installed.manifest.version) {
        throw new GalacticError('PLUGIN_FAILED', `plugin ${key} says it is ${info.name}@${info.version}`, { plugin: key, init: info })
      }
      this.#log(`plugin ${key}: launched`)
      return instance
    } catch (err) {
      await instance.close()
      this.#live.delete(instance)
      throw err
    }
  }
}

/** Read through a call so the compiler doesn't assume `aborted` keeps the value it had before an await. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: () => GalacticError): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(onAbort())
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort())
    signal.addEventListener('abort', abort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort)
        reject(err)
      },
    )
  })
}
