import { GAS_TABLE_VERSION, type CostModel } from '@galactic/schemas'

/**
 * The plugin's cost model (describe's `gas`, docs/pricing.md): SHA-256 blocks per op. One chain
 * step hashes 40 bytes, one 64-byte block. Digests: a segment's covers 116 bytes (2 blocks), an
 * aggregate's 182 (3 blocks), the snark's 110 + the seed's length (2 blocks for seeds under 10
 * bytes). s0 = sha256(seed) is one block for seeds under 56 bytes (longer seeds cost up to 16 more
 * blocks, not counted).
 */
export const GAS_MODEL: CostModel = {
  version: GAS_TABLE_VERSION,
  ops: {
    // The whole chain (segments x segmentSteps steps) and s0.
    split: [{ unit: 'hash:sha256', count: 'params.segments * params.segmentSteps + 1' }],
    // segmentSteps steps from the segment's start, and the segment digest.
    prove: [{ unit: 'hash:sha256', count: 'params.segmentSteps + 2' }],
    // Both children's digests re-checked (up to 3 blocks each) and the aggregate's digest (3).
    aggregate: [{ unit: 'hash:sha256', count: 9 }],
    // The root's digest re-checked (3), s0 (1) and the snark digest (up to 3).
    snark: [{ unit: 'hash:sha256', count: 7 }],
  },
}
