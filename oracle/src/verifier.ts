import type { Logger } from 'pino'
import type { BlobStore } from '@galactic/net'
import { loadPluginManifest, PluginHost, ProcessRuntime, type PluginRuntime } from '@galactic/plugin-runtime'
import { GalacticError, pluginKey, type ErrorObject, type ProducedOutput, type Task } from '@galactic/schemas'

/**
 * `required`: a result counts only once a plugin's `verify` accepted it; results of plugins the
 * oracle cannot run are refused. `available`: verify what it can, accept the rest as reported.
 * `off`: accept results as reported.
 */
export type VerifyMode = 'required' | 'available' | 'off'

export interface ResultVerifierInit {
  /** `galactic-plugin.json` manifests of the plugins the oracle runs `verify` with. @default [] */
  plugins?: string[]
  /** @default 'available' */
  mode?: VerifyMode
}

export interface ResultVerifierComponents {
  blobs: BlobStore
  log: Logger
  /** @default ProcessRuntime */
  runtime?: PluginRuntime
}

/**
 * Checks a prover's result before it counts: fetches the op's inputs and the claimed outputs
 * from the blob store and asks the plugin's `verify` whether these outputs follow from these
 * inputs. Runs each plugin resident (performance mode), so a check costs one RPC, not a process.
 * A result that fails is a failure of the prover that sent it (the ban policy applies).
 */
export class ResultVerifier {
  readonly mode: VerifyMode
  private readonly host: PluginHost | undefined
  private readonly offered: Set<string>
  private readonly blobs: BlobStore
  private readonly log: Logger

  constructor(init: ResultVerifierInit, components: ResultVerifierComponents) {
    this.mode = init.mode ?? 'available'
    this.blobs = components.blobs
    this.log = components.log
    const plugins = this.mode === 'off' ? [] : (init.plugins ?? []).map((path) => loadPluginManifest(path))
    this.host =
      plugins.length === 0
        ? undefined
        : new PluginHost({ plugins }, { runtime: components.runtime ?? new ProcessRuntime({}, { log: (line) => this.log.debug({ plugin: line }, 'verifier stderr') }) })
    this.offered = new Set((this.host?.offered() ?? []).map(pluginKey))
  }

  /** Which plugins results can be verified for. */
  plugins(): string[] {
    return [...this.offered]
  }

  /** Undefined when the outputs may count; otherwise why not, as the error the op records. */
  async check(task: Task, outputs: ProducedOutput[]): Promise<ErrorObject | undefined> {
    if (this.mode === 'off') return undefined
    if (this.host === undefined || !this.offered.has(pluginKey(task.plugin))) {
      if (this.mode === 'available') return undefined
      return { code: 'RESULT_INVALID', message: `the oracle cannot verify results of ${pluginKey(task.plugin)} and verification is required` }
    }
    const inputs = []
    for (const input of task.inputs) {
      for (const out of input.outputs) {
        inputs.push({ opId: input.opId, name: out.name, hash: out.hash, data: await this.base64(out.hash) })
      }
    }
    const claimed = []
    for (const out of outputs) claimed.push({ name: out.name, data: await this.base64(out.hash) })
    try {
      const verdict = await this.host.verify(task.plugin, 'performance', { op: task.name, params: task.params, inputs, outputs: claimed })
      if (verdict.valid) return undefined
      return { code: 'RESULT_INVALID', message: `${task.opId}: verify refused the result: ${verdict.reason ?? 'no reason given'}` }
    } catch (err) {
      const error = GalacticError.from(err, 'PLUGIN_FAILED')
      this.log.error({ op: task.opId, code: error.code, err: error.message }, 'verifier failed')
      return { code: 'RESULT_INVALID', message: `${task.opId}: the result could not be verified: ${error.message}` }
    }
  }

  async close(): Promise<void> {
    await this.host?.close()
  }

  private async base64(hash: ProducedOutput['hash']): Promise<string> {
    const bytes = await this.blobs.get(hash)
    if (bytes === undefined) throw new GalacticError('NOT_FOUND', `blob ${hash} is not in the oracle's store`)
    return Buffer.from(bytes).toString('base64')
  }
}
