import { GAS_TABLE_VERSION, type CostModel } from '@galactic/schemas'

/**
 * The plugin's cost model (describe's `gas`, docs/pricing.md): Kimchi/Pickles proofs over the Pasta
 * curves (255-bit, priced with the BN254 units, the nearest in the gas table). A rough model, from
 * the proof system's shape and checked against measured CPU time, not an operation count:
 *
 * - a leaf (`prove`) is a Pickles step proof and its wrap proof, on circuits of about 2^16 rows:
 *   per proof ~25 commitments (15 witness columns, permutation, 7 quotient chunks) as MSMs of
 *   2^16 points, and ~30 NTTs of 2^16; plus the 16 Poseidon steps of its segment;
 * - a `merge` (`aggregate`) verifies two proofs in its circuit, so it is bigger: measured at 2.3x
 *   a leaf's CPU time (26-28 s against 10-13 s on this machine), and priced at 2.3x;
 * - `snark` makes no new proof: one verification of the root (an inner-product argument, linear
 *   in the domain: one MSM of 2^16 points) and its Poseidon-based transcript;
 * - `split` runs the chain: segments x 16 Poseidon steps.
 */
const ROWS = 65_536

export const GAS_MODEL: CostModel = {
  version: GAS_TABLE_VERSION,
  ops: {
    split: [{ unit: 'hash:poseidon', count: 'params.segments * 16 + 1' }],
    prove: [
      { unit: 'msm:bn254', count: 50, size: ROWS },
      { unit: 'ntt:254', count: 60, size: ROWS },
      { unit: 'hash:poseidon', count: 32 },
    ],
    aggregate: [
      { unit: 'msm:bn254', count: 115, size: ROWS },
      { unit: 'ntt:254', count: 138, size: ROWS },
    ],
    snark: [
      { unit: 'msm:bn254', count: 1, size: ROWS },
      { unit: 'hash:poseidon', count: 100 },
    ],
  },
}
