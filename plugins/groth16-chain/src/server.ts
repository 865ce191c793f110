import { z } from 'zod'
import { parseOrThrow } from '@galactic/schemas'
import { PluginServer as KitPluginServer, definePlugin, type PluginDefinition, type PluginServerComponents as KitComponents } from '@galactic/plugin-kit'
import { Artifacts } from './artifacts.js'
import { releaseProver } from './groth16.js'
import { DESCRIPTION, runOp, verifyOp } from './ops.js'

/** `init`'s config: where the circuits are (default `<plugin>/artifacts` or `$GALACTIC_GROTH16_ARTIFACTS`). */
export const PluginConfig = z.object({ artifactsDir: z.string().min(1).optional() })
export type PluginConfig = z.infer<typeof PluginConfig>

export interface Groth16PluginOptions {
  /** The circuits, until `init` names others. @default new Artifacts() */
  artifacts?: Artifacts
}

/**
 * The groth16-chain plugin, for `@galactic/plugin-kit`. `init` may name the circuits' folder and
 * checks they are built; `close` terminates snarkjs' worker threads so the process can exit.
 * It serves `start` and `verify` before `init` too (with the default circuits).
 */
export function groth16ChainPlugin(options: Groth16PluginOptions = {}): PluginDefinition {
  let artifacts = options.artifacts ?? new Artifacts()
  return definePlugin({
    requireInit: false,
    describe: () => DESCRIPTION,
    init(config, { log }) {
      const { artifactsDir } = parseOrThrow(PluginConfig, config ?? {}, 'init config', 'INVALID_INPUT')
      const chosen = artifactsDir === undefined ? artifacts : new Artifacts(artifactsDir)
      // Fail now, naming the missing file and the setup command, rather than on the first task.
      chosen.check()
      artifacts = chosen
      log(`artifacts in ${chosen.dir}: segment sizes ${chosen.sizes().join(', ')}`)
    },
    start: (task, signal) => runOp(task, { artifacts, signal }),
    verify: (task, signal) => verifyOp(task, { artifacts, signal }),
    close: () => releaseProver(),
  })
}

export interface PluginServerComponents extends KitComponents, Groth16PluginOptions {}

/**
 * The plugin side of the plugin protocol for groth16-chain (transport-free; see `@galactic/plugin-kit`).
 * `shutdown` cancels what runs and terminates snarkjs' worker threads.
 */
export class PluginServer extends KitPluginServer {
  constructor(components: PluginServerComponents) {
    super(groth16ChainPlugin(components.artifacts === undefined ? {} : { artifacts: components.artifacts }), components)
  }
}
