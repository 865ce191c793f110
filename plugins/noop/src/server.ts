import { PLUGIN_PROTOCOL_VERSION, type PluginResult } from '@galactic/schemas'
import { PluginServer as KitPluginServer, definePlugin, type PluginServerComponents } from '@galactic/plugin-kit'
import { GAS_MODEL } from './gas.js'
import { OP_NAMES, OUTPUT_NAMES, PLUGIN_NAME, PLUGIN_VERSION, runOp, verifyOp } from './ops.js'

export type { PluginServerComponents } from '@galactic/plugin-kit'

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
    gas: GAS_MODEL,
    notes:
      'A no-op for measuring the scheduler, not proving: outputs prove nothing; input bytes are not read, only their hashes. ' +
      'verify accepts exactly the output start would return for the same op, params and inputs.',
  }
}

/**
 * The no-op plugin, for `@galactic/plugin-kit`. Its ops answer synchronously, so the kit answers
 * each request inside `handleLine`, and there is never anything running to cancel.
 */
export const noopPlugin = definePlugin({
  describe: describePlugin,
  start: (task) => runOp(task),
  verify: (task) => verifyOp(task),
})

/** The plugin side of the plugin protocol for the no-op plugin (transport-free; see `@galactic/plugin-kit`). */
export class PluginServer extends KitPluginServer {
  constructor(components: PluginServerComponents) {
    super(noopPlugin, components)
  }
}
