import { z } from 'zod'

/**
 * Gas: how much computation an operation is (the seed's "Power of Computation"). A gas table gives
 * each unit of work (a field op of a bit width, one MSM point, one NTT butterfly, one hash block) its
 * cost in gas; a plugin's cost model says how many units each of its ops does, from the op's params.
 * `@galactic/gas` does the arithmetic and the calibration; docs/pricing.md explains the model.
 */

/** Version of the {@link GasTable} and {@link CostModel} formats. */
export const GAS_TABLE_VERSION = 1

/**
 * The units a cost model counts. 1 gas = the cost of one `add:64` (a 64-bit modular add).
 * - `add:<bits>`, `mul:<bits>`: one modular add or multiply in a prime field of that width
 *   (64; 254 = BN254; 381 = BLS12-381's base field).
 * - `msm:<curve>`: one point of a G1 multi-scalar multiplication (Pippenger: its cost per point
 *   depends on the MSM's size, see {@link UnitCost} `sizes`).
 * - `ntt:254`: one radix-2 butterfly of an NTT over the BN254 scalar field.
 * - `hash:sha256`: one 64-byte block; `hash:keccak256`: one 136-byte block (Keccak-f[1600]);
 *   `hash:poseidon`: one permutation of Poseidon over BN254 (t = 3, 8 full + 57 partial rounds, x^5).
 */
export const GasUnit = z.enum([
  'add:64',
  'mul:64',
  'add:254',
  'mul:254',
  'add:381',
  'mul:381',
  'msm:bn254',
  'msm:bls12-381',
  'ntt:254',
  'hash:sha256',
  'hash:keccak256',
  'hash:poseidon',
])
export type GasUnit = z.infer<typeof GasUnit>

/** Every gas unit, in table order. */
export const GAS_UNITS: readonly GasUnit[] = GasUnit.options

/** Units whose cost term takes a `size` (MSM points, NTT domain) and whose cost may depend on it. */
export const SIZED_GAS_UNITS: readonly GasUnit[] = ['msm:bn254', 'msm:bls12-381', 'ntt:254']

/** Whether a unit's cost terms take a `size` (see {@link SIZED_GAS_UNITS}). */
export function isSizedGasUnit(unit: GasUnit): boolean {
  return SIZED_GAS_UNITS.includes(unit)
}

const Gas = z.number().positive().finite()

/** The gas of one unit at size 2^log2 (MSM: per point at 2^log2 points; NTT: per butterfly at a 2^log2 domain). */
export const GasSizePoint = z.strictObject({ log2: z.int().min(0).max(40), gas: Gas })
export type GasSizePoint = z.infer<typeof GasSizePoint>

/**
 * What one unit costs. `gas` is per unit: per field op, per MSM point, per NTT butterfly, per hash
 * block or permutation. `sizes` (MSM and NTT units only) makes the cost size dependent: the gas per
 * unit at 2^log2, interpolated linearly in log2 between entries and clamped at the ends; it then
 * wins over `gas`, which repeats its last entry for readers.
 */
export const UnitCost = z
  .strictObject({
    gas: Gas,
    /** What one unit is, for people ("one point of a G1 MSM"). */
    per: z.string().min(1).max(256),
    sizes: z.array(GasSizePoint).min(1).max(64).optional(),
  })
  .superRefine((value, ctx) => {
    const sizes = value.sizes ?? []
    for (let i = 1; i < sizes.length; i++) {
      if ((sizes[i] as GasSizePoint).log2 <= (sizes[i - 1] as GasSizePoint).log2) {
        ctx.addIssue({ code: 'custom', path: ['sizes', i, 'log2'], message: 'sizes must be in increasing log2 order' })
      }
    }
  })
export type UnitCost = z.infer<typeof UnitCost>

/** Where and when a table was measured (`galactic gas calibrate`); absent in analytic tables. */
export const GasMeasurement = z.strictObject({
  host: z.string().max(256),
  cpu: z.string().max(256),
  at: z.iso.datetime(),
  /** Nanoseconds of one gas (one add:64) on that machine: its speed is 1e9 / nsPerGas gas per second. */
  nsPerGas: Gas,
  /** How long the calibration took. */
  durationMs: z.number().min(0).finite(),
})
export type GasMeasurement = z.infer<typeof GasMeasurement>

/** A versioned gas table: the cost of every {@link GasUnit}. */
export const GasTable = z
  .strictObject({
    version: z.literal(GAS_TABLE_VERSION),
    name: z.string().min(1).max(128),
    /** Every unit, none missing. */
    units: z.record(GasUnit, UnitCost),
    measured: GasMeasurement.optional(),
  })
  .superRefine((value, ctx) => {
    for (const unit of GAS_UNITS) {
      if (value.units[unit]?.sizes !== undefined && !isSizedGasUnit(unit)) {
        ctx.addIssue({ code: 'custom', path: ['units', unit, 'sizes'], message: `sizes apply to ${SIZED_GAS_UNITS.join(', ')} only` })
      }
    }
  })
export type GasTable = z.infer<typeof GasTable>

/** Longest expression in a cost model. */
export const MAX_GAS_EXPR_CHARS = 256

/**
 * A non-negative number, or arithmetic over the op's params as a string: number literals,
 * `params.a.b`, unary `-`, `+ - * / %`, parentheses and `log2 ceil floor min max pow`
 * (e.g. `"params.segments * params.segmentSteps"`). `@galactic/gas` compiles and checks it.
 */
export const GasExpr = z.union([z.number().min(0).finite(), z.string().min(1).max(MAX_GAS_EXPR_CHARS)])
export type GasExpr = z.infer<typeof GasExpr>

/** One kind of work an op does: `count` times the unit (for MSM and NTT units, each of `size` points or domain). */
export const CostTerm = z
  .strictObject({
    unit: GasUnit,
    count: GasExpr,
    /** MSM: points per MSM; NTT: domain size (rounded up to a power of two). Required for those units, refused for others. */
    size: GasExpr.optional(),
  })
  .superRefine((value, ctx) => {
    const sized = isSizedGasUnit(value.unit)
    if (sized && value.size === undefined) {
      ctx.addIssue({ code: 'custom', path: ['size'], message: `unit ${value.unit} needs a size (MSM points or NTT domain)` })
    }
    if (!sized && value.size !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['size'], message: `unit ${value.unit} takes no size (only ${SIZED_GAS_UNITS.join(', ')} do)` })
    }
  })
export type CostTerm = z.infer<typeof CostTerm>

/** Most ops a cost model prices, and most terms per op. */
export const MAX_COST_MODEL_OPS = 64
export const MAX_COST_TERMS = 32

/** A plugin's cost model (its `describe` answer's `gas`): for each op it serves, the work it does. */
export const CostModel = z.strictObject({
  version: z.literal(GAS_TABLE_VERSION),
  ops: z
    .record(z.string().min(1).max(64), z.array(CostTerm).max(MAX_COST_TERMS))
    .refine((ops) => Object.keys(ops).length <= MAX_COST_MODEL_OPS, `at most ${MAX_COST_MODEL_OPS} ops`),
})
export type CostModel = z.infer<typeof CostModel>
