import { GAS_TABLE_VERSION, type CostModel } from '@galactic/schemas'

/**
 * The plugin's cost model (describe's `gas`, docs/pricing.md): Groth16 over BN254 with snarkjs.
 *
 * - A segment circuit has 240 constraints per step (one circomlib Poseidon(2): 3,840 at 16 steps,
 *   15,360 at 64) and 3 public inputs; its FFT domain is the power of two >= constraints + 4.
 * - A Groth16 proof: G1 MSMs for A, B and C over ~constraints points and H over the domain; the G2
 *   MSM for B over ~constraints points, priced as 3 G1 MSMs (an Fp2 multiplication is ~3 Fp ones);
 *   7 NTTs of the domain (3 inverse, 3 forward on the coset, 1 for H); the witness recomputes the
 *   Poseidon chain.
 * - A Groth16 verify: a multi-pairing of 4 Miller loops and one final exponentiation, priced as
 *   {@link VERIFY_MULS} multiplications in the 254-bit field (~7,000 per Miller loop, ~8,000 for
 *   the final exponentiation, from published BN254 operation counts), plus an MSM of the 3 public inputs.
 * - The commitment circuit (the snark) has 3,078 constraints and 4 public inputs; its sponge is 5
 *   Poseidon permutations of width up to 17, ~27 times a t = 3 permutation each by multiplication
 *   count, computed natively and again in the witness (~280 t = 3 permutations).
 */
export const VERIFY_MULS = 36_000

/** Segment proofs an aggregate re-verifies, on average over the binary tree of `segments` leaves. */
const AGGREGATE_VERIFIES = 'params.segments * ceil(log2(params.segments)) / max(1, params.segments - 1)'
const SEGMENT_CONSTRAINTS = '240 * params.segmentSize'
const SEGMENT_DOMAIN = '240 * params.segmentSize + 4'
const COMMIT_CONSTRAINTS = 3078
const COMMIT_DOMAIN = 3078 + 5

export const GAS_MODEL: CostModel = {
  version: GAS_TABLE_VERSION,
  ops: {
    // The Poseidon chain: segments x segmentSize steps, and s0.
    split: [{ unit: 'hash:poseidon', count: 'params.segments * params.segmentSize + 1' }],
    prove: [
      { unit: 'msm:bn254', count: 3, size: SEGMENT_CONSTRAINTS },
      { unit: 'msm:bn254', count: 1, size: `pow(2, ceil(log2(${SEGMENT_DOMAIN})))` },
      { unit: 'msm:bn254', count: 3, size: SEGMENT_CONSTRAINTS },
      { unit: 'ntt:254', count: 7, size: SEGMENT_DOMAIN },
      { unit: 'hash:poseidon', count: '2 * params.segmentSize' },
    ],
    // Not recursive: re-verifies every segment proof under both children (the tree's average: the
    // params do not say where in the tree an aggregate sits).
    aggregate: [
      { unit: 'mul:254', count: `${VERIFY_MULS} * ${AGGREGATE_VERIFIES}` },
      { unit: 'msm:bn254', count: AGGREGATE_VERIFIES, size: 3 },
    ],
    // Re-verifies every segment proof, then proves the commitment circuit.
    snark: [
      { unit: 'mul:254', count: `${VERIFY_MULS} * params.segments` },
      { unit: 'msm:bn254', count: 'params.segments', size: 3 },
      { unit: 'msm:bn254', count: 3, size: COMMIT_CONSTRAINTS },
      { unit: 'msm:bn254', count: 1, size: 4096 },
      { unit: 'msm:bn254', count: 3, size: COMMIT_CONSTRAINTS },
      { unit: 'ntt:254', count: 7, size: COMMIT_DOMAIN },
      { unit: 'hash:poseidon', count: 281 },
    ],
  },
}
