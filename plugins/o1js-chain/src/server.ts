import { z } from 'zod'
import { parseOrThrow } from '@galactic/schemas'
import { PluginServer as KitPluginServer, definePlugin, type PluginDefinition, type PluginServerComponents as KitComponents } from '@galactic/plugin-kit'
import { GAS_MODEL } from './gas.js'
import { KeyCache } from './keys.js'
import { DESCRIPTION, runOp, verifyOp } from './ops.js'
import { Prover } from './prover.js'

/** `init`'s config: where the key cache is (default `<plugin>/cache` or `$GALACTIC_O1JS_CACHE`). */
export const PluginConfig = z.object({ cacheDir: z.string().min(1).optional() })
export type PluginConfig = z.infer<typeof PluginConfig>

export interface O1jsChainPluginOptions {
  /** The key cache, until `init` names another. @default new KeyCache() */
  keys?: KeyCache
}

/**
 * The o1js-chain plugin, for `@galactic/plugin-kit`. `init` may name the key cache's folder and
 * checks it was filled by the setup (PLUGIN_FAILED naming the file and the command otherwise).
 * Proofs are made by one prover process, started on the first `prove` or `aggregate` and kept for
 * the next ones; `stop` of a task that is proving kills it; `close` kills it.
 */
export function o1jsChainPlugin(options: O1jsChainPluginOptions = {}): PluginDefinition {
  let keys = options.keys ?? new KeyCache()
  let prover: Prover | undefined
  let log: (line: string) => void = () => {}
  const proverOf = (): Prover => (prover ??= new Prover({ keys, log }))
  return definePlugin({
    describe: () => DESCRIPTION,
    gas: GAS_MODEL,
    init(config, context) {
      const { cacheDir } = parseOrThrow(PluginConfig, config ?? {}, 'init config', 'INVALID_INPUT')
      const chosen = cacheDir === undefined ? keys : new KeyCache(cacheDir)
      // Fail now, naming the missing file and the setup command, rather than on the first task.
      const vk = chosen.check()
      if (chosen !== keys) {
        void prover?.close()
        prover = undefined
        keys = chosen
      }
      log = context.log
      context.log(`keys in ${chosen.dir}: verification key ${vk.hash.slice(0, 16)}..., o1js ${vk.o1js}`)
    },
    start: (task, signal) => runOp(task, { prover: proverOf(), signal }),
    verify: (task, signal) => verifyOp(task, { keys, signal }),
    close: () => prover?.close(),
  })
}

export interface PluginServerComponents extends KitComponents, O1jsChainPluginOptions {}

/**
 * The plugin side of the plugin protocol for o1js-chain (transport-free; see `@galactic/plugin-kit`).
 * `shutdown` cancels what runs and kills the prover process.
 */
export class PluginServer extends KitPluginServer {
  constructor(components: PluginServerComponents) {
    super(o1jsChainPlugin(components.keys === undefined ? {} : { keys: components.keys }), components)
  }
}
