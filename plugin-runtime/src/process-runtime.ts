import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { isAbsolute, resolve } from 'node:path'
import { GalacticError, LIMITS, pluginKey, type PluginManifest } from '@galactic/schemas'
import { DRAIN_MS, readyOrClose, StdioPluginInstance, type ExitDescription } from './stdio-instance.js'
import type { PluginLaunchOptions, PluginRuntime, PluginRuntimeComponents } from './types.js'

export interface ProcessRuntimeInit {
  /** Milliseconds between asking a plugin to stop (on `close()`) and killing it with SIGKILL. @default 2000 */
  closeGraceMs?: number
  /** Environment variables added to the agent's own for every plugin process. @default {} */
  env?: Record<string, string>
  /** How many of a plugin's last stderr lines go into a PLUGIN_FAILED error. @default 20 */
  stderrTailLines?: number
  /**
   * Longest protocol line, each way, in bytes. A longer reply fails the instance with PLUGIN_FAILED
   * (`details.reason: 'PAYLOAD_TOO_LARGE'`); a longer request rejects PAYLOAD_TOO_LARGE.
   * @default LIMITS.maxMessageBytes (16 MiB)
   */
  maxMessageBytes?: number
}

export type ProcessRuntimeComponents = PluginRuntimeComponents

/**
 * Runs each plugin instance as a local child process (`manifest.runtime.command`), speaking the
 * plugin protocol over its stdin/stdout. `node` as the command means this Node (process.execPath);
 * a command with a path separator is resolved from the manifest's folder, which is also the
 * process's working directory (so relative arguments such as `dist/main.js` work). No sandbox:
 * launch options' `resources` are ignored. A manifest of another runtime type is refused with
 * INVALID_INPUT.
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
    this.#init = {
      closeGraceMs: init.closeGraceMs ?? 2000,
      env: init.env ?? {},
      stderrTailLines: init.stderrTailLines ?? 20,
      maxMessageBytes: init.maxMessageBytes ?? LIMITS.maxMessageBytes,
    }
    const log = components.log ?? init.log
    this.#components = log === undefined ? {} : { log }
  }

  async launch(manifest: PluginManifest, manifestDir: string, signal?: AbortSignal, _options?: PluginLaunchOptions): Promise<ProcessPluginInstance> {
    const key = pluginKey(manifest)
    const runtime = manifest.runtime
    if (runtime.type !== 'process') {
      throw new GalacticError('INVALID_INPUT', `plugin ${key}: runtime ${runtime.type} is not served by the process runtime`, {
        plugin: key,
        runtime: runtime.type,
      })
    }
    if (signal?.aborted === true) throw new GalacticError('ABORTED', `launch of ${key} aborted`)
    const dir = resolve(manifestDir)
    const [command, ...args] = runtime.command as [string, ...string[]]
    const file = command === 'node' ? process.execPath : isAbsolute(command) || !/[\\/]/.test(command) ? command : resolve(dir, command)
    const child = spawn(file, args, {
      cwd: dir,
      env: { ...process.env, ...this.#init.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    })
    const instance = new ProcessPluginInstance(manifest, child, this.#init, this.#components)
    return readyOrClose(instance, key, signal)
  }
}

/** One plugin process. Made by {@link ProcessRuntime.launch}. */
export class ProcessPluginInstance extends StdioPluginInstance {
  readonly #child: ChildProcessWithoutNullStreams
  #exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined

  constructor(manifest: PluginManifest, child: ChildProcessWithoutNullStreams, opts: Required<ProcessRuntimeInit>, components: ProcessRuntimeComponents) {
    super(manifest, {
      closeGraceMs: opts.closeGraceMs,
      stderrTailLines: opts.stderrTailLines,
      maxMessageBytes: opts.maxMessageBytes,
      log: components.log ?? (() => {}),
    })
    this.#child = child
    child.once('spawn', () => this.markReady())
    child.on('error', (err) => {
      if (!this.started) {
        this.markStartFailed(new GalacticError('PLUGIN_FAILED', `plugin ${this.key} could not start: ${err.message}`, { plugin: this.key }))
      } else {
        this.opts.log(`${this.key}[${this.instanceId}]: ${err.message}`)
      }
    })
    // No stdout end handling: a response is a whole line, and an unterminated last line means the
    // plugin died mid-write; its exit (code, stderr) explains that better than "not JSON" would.
    child.stdout.on('data', (chunk: Buffer) => this.pushStdout(chunk))
    child.stderr.on('data', (chunk: Buffer) => this.pushStderr(chunk))
    child.stderr.on('end', () => this.endStderr())
    child.stdin.on('error', (err) => this.opts.log(`${this.key}[${this.instanceId}]: stdin: ${err.message}`))
    child.once('exit', (code, signal) => {
      this.#exitInfo = { code, signal }
      this.markExited()
      // 'close' follows once stdout/stderr are drained; don't wait forever if a grandchild holds them.
      setTimeout(() => this.finalize(), DRAIN_MS).unref()
    })
    child.once('close', () => this.finalize())
  }

  /** The plugin's process id. */
  get pid(): number | undefined {
    return this.#child.pid
  }

  protected override get instanceId(): string {
    return String(this.#child.pid ?? '?')
  }

  protected override get inputOpen(): boolean {
    return !this.#child.stdin.writableEnded
  }

  protected override writeLine(line: string): void {
    this.#child.stdin.write(line)
  }

  protected override endInput(): void {
    this.#child.stdin.end()
  }

  protected override kill(): void {
    if (this.#exitInfo === undefined && this.started) this.#child.kill('SIGKILL')
  }

  protected override describeExit(): ExitDescription {
    const info = this.#exitInfo
    const how = info === undefined ? 'stopped' : info.signal !== null ? `was killed by ${info.signal}` : `exited with code ${info.code}`
    return { how, details: { exitCode: info?.code ?? null, signal: info?.signal ?? null } }
  }
}
