import { PLUGIN_PROTOCOL_VERSION, type PluginResult } from '@galactic/schemas'
import { PluginServer as KitPluginServer, definePlugin, type PluginServerComponents } from '@galactic/plugin-kit'
import { GAS_MODEL } from './gas.js'
import { OP_NAMES, PLUGIN_NAME, PLUGIN_VERSION, runOp, verifyOp } from './ops.js'

export type { PluginServerComponents } from '@galactic/plugin-kit'

/** What one task of this plugin needs: one core, and little memory (states are 32 bytes). */
export const PLUGIN_RESOURCES = { cpuCores: 1, memoryMiB: 128 } as const

const OP_DESCRIPTIONS: Record<(typeof OP_NAMES)[number], string> = {
  split: 'Runs the whole chain once and records the start state of every segment and the end state (output `segments`).',
  prove: 'Re-runs segment `segment` from its start state in the split output (output `proof`, a segment proof).',
  aggregate: 'Joins two adjacent proofs, left then right, after checking their digests and that they meet (output `proof`).',
  snark: 'Wraps the root proof into the final record for `seed`, checking it starts from sha256(seed) at step 0 (output `snark`).',
}

/** The plugin's `describe` answer. */
export function describePlugin(): PluginResult<'describe'> {
  return {
    name: PLUGIN_NAME,
    version: PLUGIN_VERSION,
    protocolVersion: PLUGIN_PROTOCOL_VERSION,
    ops: OP_NAMES.map((name) => ({ name, description: OP_DESCRIPTIONS[name] })),
    resources: { ...PLUGIN_RESOURCES },
    gas: GAS_MODEL,
    notes:
      'A SHA-256 hash chain standing in for a zkVM. Digests are commitments, not proofs: aggregate is not recursive and checks ' +
      'digests and continuity only. verify re-runs the task (as costly as the task) and compares outputs field by field; ' +
      'verifySnark from the package re-runs the whole chain.',
  }
}

/** The sha256-chain plugin, for `@galactic/plugin-kit`: no config, tasks and verifications cancellable. */
export const sha256ChainPlugin = definePlugin({
  describe: describePlugin,
  start: (task, signal) => runOp(task, signal),
  verify: (task, signal) => verifyOp(task, signal),
})

/** The plugin side of the plugin protocol for sha256-chain (transport-free; see `@galactic/plugin-kit`). */
export class PluginServer extends KitPluginServer {
  constructor(components: PluginServerComponents) {
    super(sha256ChainPlugin, components)
  }
}
