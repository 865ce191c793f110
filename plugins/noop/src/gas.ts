import { GAS_TABLE_VERSION, type CostModel } from '@galactic/schemas'

/**
 * The plugin's cost model (describe's `gas`, docs/pricing.md): a tiny constant. Every op hashes
 * its params (canonical JSON) and its inputs' hashes: about two SHA-256 blocks.
 */
export const GAS_MODEL: CostModel = {
  version: GAS_TABLE_VERSION,
  ops: {
    split: [{ unit: 'hash:sha256', count: 2 }],
    prove: [{ unit: 'hash:sha256', count: 2 }],
    aggregate: [{ unit: 'hash:sha256', count: 2 }],
    snark: [{ unit: 'hash:sha256', count: 2 }],
  },
}
