import { GAS_TABLE_VERSION, type GasSizePoint, type GasTable, type GasUnit, type UnitCost } from '@galactic/schemas'

/**
 * The analytic gas table: unit costs derived from operation counts by bit width (the seed: "a table
 * defining the computation amount for each operation based on the add/multiply function and its
 * bitwidth"). 1 gas = one 64-bit modular add = one 64-bit word operation. Every formula is in
 * docs/pricing.md, "Gas table".
 */

/** 64-bit words (limbs) of a `bits`-wide field element: ceil(bits / 64). */
export function limbs(bits: number): number {
  return Math.ceil(bits / 64)
}

/** A modular add of `bits` width: one word add per limb (the conditional subtract is not counted). */
export function fieldAddGas(bits: number): number {
  return limbs(bits)
}

/** A Montgomery multiplication (CIOS) of `bits` width: 2n^2 + n word multiply-accumulates, n = limbs. */
export function fieldMulGas(bits: number): number {
  const n = limbs(bits)
  return 2 * n * n + n
}

/** Field multiplications per elliptic-curve point addition (projective coordinates, a = 0). */
export const POINT_ADD_MULS = 12

/** Pippenger's window width for `n` points (arkworks' choice: 3 below 32 points, else floor(0.69 log2 n) + 2). */
export function pippengerWindow(n: number): number {
  return n < 32 ? 3 : Math.floor(Math.log2(n) * 0.69) + 2
}

/**
 * Point additions per point of a Pippenger MSM of `n` points with `scalarBits`-bit scalars, window c:
 * windows = ceil(scalarBits / c); each window adds every point into a bucket (n) and sums the buckets
 * (2 x 2^c with the running sum) plus one add to combine; combining windows costs scalarBits doublings
 * (counted as additions). Bounded by double-and-add (1.5 x scalarBits per point) for tiny MSMs.
 */
export function pippengerAddsPerPoint(n: number, scalarBits: number): number {
  const c = pippengerWindow(n)
  const windows = Math.ceil(scalarBits / c)
  const total = windows * (n + 2 ** (c + 1) + 1) + scalarBits
  return Math.min(total / n, 1.5 * scalarBits)
}

/** Per-point gas of a G1 MSM over a `baseBits` field with `scalarBits` scalars, at `n` points. */
export function msmPointGas(n: number, baseBits: number, scalarBits: number): number {
  return pippengerAddsPerPoint(n, scalarBits) * POINT_ADD_MULS * fieldMulGas(baseBits)
}

/** log2 of the MSM sizes the analytic table lists (1 to 2^28 points). */
export const ANALYTIC_MSM_LOG2 = Array.from({ length: 29 }, (_, i) => i)

/** One radix-2 NTT butterfly over a `bits` field: (a + w·b, a − w·b) = 1 mul + 2 adds. */
export function nttButterflyGas(bits: number): number {
  return fieldMulGas(bits) + 2 * fieldAddGas(bits)
}

/**
 * 32-bit operations of one SHA-256 compression (one 64-byte block), each counted as one word op:
 * 64 rounds x 26 (Σ1: 5, Ch: 4, T1: 4 adds, Σ0: 5, Maj: 5, T2: 1, two state adds: 2), the message
 * schedule 48 x 13 (σ0: 5, σ1: 5, 3 adds), and the 8 final adds.
 */
export const SHA256_BLOCK_OPS = 64 * 26 + 48 * 13 + 8

/**
 * 64-bit lane operations of one Keccak-f[1600] (one 136-byte Keccak-256 block): 24 rounds x 155
 * (θ: 20 xors for the column parities, 5 x (rotate + xor), 25 xors; ρπ: 24 rotations; χ: 25 x (not,
 * and, xor); ι: 1 xor) plus absorbing the 17 rate lanes (17 xors).
 */
export const KECCAK_BLOCK_OPS = 24 * (20 + 10 + 25 + 24 + 75 + 1) + 17

/** Poseidon over BN254 as circomlib's Poseidon(2): width t = 3, 8 full and 57 partial rounds, x^5. */
export const POSEIDON = { t: 3, roundsFull: 8, roundsPartial: 57, sboxMuls: 3 } as const

/**
 * Field multiplications and additions of one Poseidon permutation: S-boxes (x^5 = 3 muls) on all t
 * elements in full rounds and on one in partial rounds; per round, the MDS matrix (t^2 muls,
 * t(t − 1) adds) and the round constants (t adds).
 */
export function poseidonOps(p: { t: number; roundsFull: number; roundsPartial: number; sboxMuls: number } = POSEIDON): { muls: number; adds: number } {
  const rounds = p.roundsFull + p.roundsPartial
  const sboxes = p.roundsFull * p.t + p.roundsPartial
  return { muls: sboxes * p.sboxMuls + rounds * p.t * p.t, adds: rounds * (p.t * (p.t - 1) + p.t) }
}

/** Gas of one Poseidon permutation over a `bits` field. */
export function poseidonGas(bits = 254): number {
  const { muls, adds } = poseidonOps()
  return muls * fieldMulGas(bits) + adds * fieldAddGas(bits)
}

function sized(per: string, log2s: readonly number[], at: (n: number) => number): UnitCost {
  const sizes: GasSizePoint[] = log2s.map((log2) => ({ log2, gas: at(2 ** log2) }))
  return { gas: (sizes[sizes.length - 1] as GasSizePoint).gas, per, sizes }
}

/** Scalar bits: BN254's scalar field is 254 bits, BLS12-381's 255. */
const BN254 = { base: 254, scalar: 254 }
const BLS12_381 = { base: 381, scalar: 255 }

/** The units as the analytic model prices them. */
export const DEFAULT_GAS_TABLE: GasTable = {
  version: GAS_TABLE_VERSION,
  name: 'analytic-v1',
  units: {
    'add:64': { gas: fieldAddGas(64), per: 'one 64-bit modular addition (the gas unit)' },
    'mul:64': { gas: fieldMulGas(64), per: 'one 64-bit modular multiplication' },
    'add:254': { gas: fieldAddGas(254), per: 'one modular addition in a 254-bit field (BN254)' },
    'mul:254': { gas: fieldMulGas(254), per: 'one modular multiplication in a 254-bit field (BN254)' },
    'add:381': { gas: fieldAddGas(381), per: 'one modular addition in a 381-bit field (BLS12-381 base field)' },
    'mul:381': { gas: fieldMulGas(381), per: 'one modular multiplication in a 381-bit field (BLS12-381 base field)' },
    'msm:bn254': sized('one point of a BN254 G1 MSM (Pippenger), by MSM size', ANALYTIC_MSM_LOG2, (n) => msmPointGas(n, BN254.base, BN254.scalar)),
    'msm:bls12-381': sized('one point of a BLS12-381 G1 MSM (Pippenger), by MSM size', ANALYTIC_MSM_LOG2, (n) =>
      msmPointGas(n, BLS12_381.base, BLS12_381.scalar),
    ),
    'ntt:254': { gas: nttButterflyGas(254), per: 'one radix-2 butterfly of an NTT over the BN254 scalar field' },
    'hash:sha256': { gas: SHA256_BLOCK_OPS, per: 'one SHA-256 compression (64-byte block)' },
    'hash:keccak256': { gas: KECCAK_BLOCK_OPS, per: 'one Keccak-f[1600] permutation (136-byte Keccak-256 block)' },
    'hash:poseidon': { gas: poseidonGas(254), per: 'one Poseidon permutation over BN254 (t = 3, 8 full + 57 partial rounds, x^5)' },
  } satisfies Record<GasUnit, UnitCost>,
}
