import { createHash } from 'node:crypto'
import { cpus, hostname } from 'node:os'
import { pippenger } from '@noble/curves/abstract/curve.js'
import { FFT, rootsOfUnity } from '@noble/curves/abstract/fft.js'
import { Field, type IField } from '@noble/curves/abstract/modular.js'
import { grainGenConstants, poseidon } from '@noble/curves/abstract/poseidon.js'
import { bls12_381, bls12_381_Fr } from '@noble/curves/bls12-381.js'
import { bn254, bn254_Fr } from '@noble/curves/bn254.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { GAS_TABLE_VERSION, GalacticError, GasTable, type GasSizePoint, type GasUnit, type UnitCost } from '@galactic/schemas'
import { unitGasAt } from './model.js'
import { DEFAULT_GAS_TABLE, POSEIDON } from './table.js'

/**
 * `calibrate`: real microbenchmarks of every gas unit on this machine, turned into a gas table
 * whose unit is this machine's add:64. Field ops use @noble/curves' bigint fields, MSMs its
 * Pippenger, the NTT its radix-2 FFT over the BN254 scalar field (checked against its inverse),
 * SHA-256 node:crypto, Keccak-256 @noble/hashes, Poseidon @noble/curves' permutation with
 * circomlib's parameters (round constants and MDS from the library's Grain LFSR generator, checked
 * against circomlib's Poseidon([1, 2])). Each benchmark is warmed up, repeated, and its median taken.
 * Samples are timed in CPU time of this process, so other work on the machine does not inflate them;
 * the budget is wall time.
 */

/** A 64-bit prime, 2^64 - 59. */
export const P64 = 18446744073709551557n

/** circomlib's Poseidon([1, 2]) (t = 3): the permutation of [0, 1, 2], first element. */
export const POSEIDON_1_2 = 0x115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189an

/** Progress of a calibration: one call per measured unit (and per size of MSM and NTT units). */
export interface CalibrationProgress {
  unit: GasUnit
  /** MSM points or NTT domain of this measurement. */
  size?: number
  /** Median CPU nanoseconds per unit (per point, per butterfly, per block...). */
  nsPerUnit: number
  /** Samples the median was taken over. */
  samples: number
  /** Milliseconds since the calibration started. */
  elapsedMs: number
}

export interface CalibrateOptions {
  /**
   * Milliseconds to spend, roughly: the benchmarks share it (the MSMs most); the run ends within it
   * plus about one MSM sample. Larger budgets add larger MSM and NTT sizes and more samples.
   * @default 20000
   */
  budgetMs?: number
  /** Called after each measurement. */
  onProgress?: (progress: CalibrationProgress) => void
  /** Aborts between samples with GalacticError ABORTED. */
  signal?: AbortSignal
  /** The table's name. @default `calibrated on <hostname>` */
  name?: string
}

/** Default calibration budget. */
export const DEFAULT_CALIBRATION_BUDGET_MS = 20_000
/** Smallest budget accepted: below it the MSM curve would be a single small size. */
export const MIN_CALIBRATION_BUDGET_MS = 1_000

// Results go here so the benchmarked work cannot be optimised away.
let sink: unknown

/** Wall-clock milliseconds: the budget is wall time. */
const now = (): number => performance.now()

/**
 * CPU milliseconds this process has used: what samples are timed with, so that other work on the
 * machine's cores (which stretches wall time, not CPU time) does not inflate the measurements.
 */
function cpuNow(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

async function yieldTurn(signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
  if (signal?.aborted === true) throw new GalacticError('ABORTED', 'calibration aborted')
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

interface SampleOptions {
  /** The work: `reps` repetitions of something that does `unitsPerRep` units. */
  run: (reps: number) => void
  unitsPerRep: number
  budgetMs: number
  signal: AbortSignal | undefined
  /** @default 3 */
  minSamples?: number
  /** @default 15 */
  maxSamples?: number
}

interface Sampled {
  /** Median CPU nanoseconds per unit. */
  nsPerUnit: number
  samples: number[]
  /** Median wall milliseconds of one repetition (to predict what a larger size will take). */
  wallMsPerRep: number
}

/**
 * Times `run` in CPU time: grows `reps` until one run takes >= 2 ms (this warms the JIT), sizes
 * samples to ~1/8 of the budget (at most 100 ms), discards warm-up samples for the first 15% of it,
 * then samples until the (wall) budget is spent (at least `minSamples`, at most `maxSamples`).
 * Returns the median ns per unit.
 */
async function sample(o: SampleOptions): Promise<Sampled> {
  const start = now()
  const minSamples = o.minSamples ?? 3
  const maxSamples = o.maxSamples ?? 15
  let wallMs = 0
  const time = (reps: number): number => {
    const w = now()
    const t = cpuNow()
    o.run(reps)
    const cpu = cpuNow() - t
    wallMs = now() - w
    return cpu
  }
  let reps = 1
  let ms = time(reps)
  while (ms < 2 && reps < 1 << 24) {
    reps *= ms < 0.05 ? 16 : 4
    ms = time(reps)
  }
  const perRep = wallMs / reps
  const sampleReps = Math.max(1, Math.round(Math.min(100, Math.max(1, o.budgetMs / 8)) / Math.max(ms / reps, 1e-6)))
  const warmUntil = start + o.budgetMs * 0.15
  while (now() < warmUntil && now() + perRep * sampleReps < start + o.budgetMs * 0.5) {
    time(sampleReps)
    await yieldTurn(o.signal)
  }
  const samples: number[] = []
  const walls: number[] = []
  while (samples.length < maxSamples && (samples.length < minSamples || now() - start < o.budgetMs)) {
    samples.push((time(sampleReps) * 1e6) / (sampleReps * o.unitsPerRep))
    walls.push(wallMs / sampleReps)
    await yieldTurn(o.signal)
  }
  return { nsPerUnit: median(samples), samples, wallMsPerRep: median(walls) }
}

/** Deterministic pseudo-random field elements (SHA-256 of a label and counter, reduced). */
function elements(label: string, count: number, modulus: bigint): bigint[] {
  const out: bigint[] = []
  for (let i = 0; i < count; i++) {
    const a = createHash('sha256').update(`${label}/${i}/a`).digest('hex')
    const b = createHash('sha256').update(`${label}/${i}/b`).digest('hex')
    out.push(BigInt(`0x${a}${b}`) % modulus)
  }
  return out
}

function fieldBench(F: IField<bigint>, op: 'add' | 'mul', label: string): (reps: number) => void {
  const [x0, y] = elements(label, 2, F.ORDER) as [bigint, bigint]
  let x = x0
  const f = op === 'add' ? F.add.bind(F) : F.mul.bind(F)
  return (reps) => {
    for (let i = 0; i < reps; i++) {
      x = f(x, y)
      x = f(x, y)
      x = f(x, y)
      x = f(x, y)
      x = f(x, y)
      x = f(x, y)
      x = f(x, y)
      x = f(x, y)
    }
    sink = x
  }
}

/**
 * The shares of the budget, in run order; the MSMs take most. Between phases (and before the first
 * and after the last) a short add:64 reference is measured: each unit is priced against the mean
 * of the two references around it, so a machine that slows down or speeds up during the run (other
 * work on its cores) moves the numerator and the denominator together.
 */
const PHASES = [
  { id: 'mul:64', share: 3 },
  { id: 'add:254', share: 3 },
  { id: 'mul:254', share: 3 },
  { id: 'add:381', share: 3 },
  { id: 'mul:381', share: 3 },
  { id: 'msm:bn254', share: 27 },
  { id: 'msm:bls12-381', share: 31 },
  { id: 'ntt:254', share: 12 },
  { id: 'hash:sha256', share: 3 },
  { id: 'hash:keccak256', share: 4 },
  { id: 'hash:poseidon', share: 8 },
] as const
type PhaseId = (typeof PHASES)[number]['id']

/** Share of the budget of each add:64 reference (there are PHASES.length + 1 of them). */
const REFERENCE_SHARE = 0.008

/** log2 of the MSM sizes tried, smallest first, as long as the budget allows. */
export const CALIBRATION_MSM_LOG2 = [4, 6, 8, 10, 12] as const
/** log2 of the NTT domains tried, smallest first, as long as the budget allows. */
export const CALIBRATION_NTT_LOG2 = [8, 10, 12, 14] as const

interface SizedResult {
  log2: number
  /** Units of one run (points, butterflies). */
  units: number
  nsPerUnit: number
  wallMsPerRep: number
}

interface CurveLike {
  BASE: { add(other: unknown): unknown }
  Fn: IField<bigint>
}

/**
 * Measures sizes 2^log2 in order while the next one fits: one run of size n is predicted from the
 * last size's wall time per run, and needs room for about four runs (warm-up and three samples); the
 * first two sizes are always measured. The phase's budget is shared in proportion to n log n, with
 * at least a tenth of it per size.
 */
async function sizedPhase(
  log2s: readonly number[],
  budgetMs: number,
  signal: AbortSignal | undefined,
  unitsOf: (n: number) => number,
  prepare: (n: number) => { run: (reps: number) => void; check?: () => void },
  report: (log2: number, s: Sampled) => void,
): Promise<SizedResult[]> {
  const start = now()
  const out: SizedResult[] = []
  const weights = log2s.map((l) => 2 ** l * l)
  for (const [i, log2] of log2s.entries()) {
    const left = budgetMs - (now() - start)
    const units = unitsOf(2 ** log2)
    const last = out[out.length - 1]
    // The first two sizes always run (a curve needs two points; they are the cheapest).
    if (last !== undefined && out.length >= 2 && last.wallMsPerRep * (units / last.units) * 4 > left) break
    const prepared = prepare(2 ** log2)
    prepared.check?.()
    const rest = weights.slice(i).reduce((a, b) => a + b, 0)
    // Larger sizes cost more per sample; small ones still get a tenth of the phase to warm up in.
    const share = Math.min(left, Math.max((left * (weights[i] as number)) / rest, budgetMs / 10))
    const s = await sample({ run: prepared.run, unitsPerRep: units, budgetMs: share, signal, maxSamples: 9 })
    out.push({ log2, units, nsPerUnit: s.nsPerUnit, wallMsPerRep: s.wallMsPerRep })
    report(log2, s)
  }
  return out
}

/** Points (i+1)·G for i < n, made by repeated addition and kept between sizes. */
function pointSource(Point: CurveLike, label: string): (n: number) => { points: unknown[]; scalars: bigint[] } {
  const points: unknown[] = []
  let scalars: bigint[] = []
  let p = Point.BASE
  return (n) => {
    while (points.length < n) {
      points.push(p)
      p = p.add(Point.BASE) as typeof p
    }
    if (scalars.length < n) scalars = elements(label, n, Point.Fn.ORDER)
    return { points: points.slice(0, n), scalars: scalars.slice(0, n) }
  }
}

/**
 * Runs the microbenchmarks and returns a gas table measured on this machine: each unit's gas is its
 * measured ns per unit over the measured ns of one add:64; `measured.nsPerGas` is that add:64.
 * MSM and NTT units carry `sizes` (per point / per butterfly at each measured size).
 *
 * @example
 * const table = await calibrate({ budgetMs: 20_000, onProgress: (p) => console.error(p.unit, p.nsPerUnit) })
 * gasPerSecond(table) // this machine's speed
 */
export async function calibrate(options: CalibrateOptions = {}): Promise<GasTable> {
  const budgetMs = options.budgetMs ?? DEFAULT_CALIBRATION_BUDGET_MS
  if (!Number.isFinite(budgetMs) || budgetMs < MIN_CALIBRATION_BUDGET_MS) {
    throw new GalacticError('INVALID_INPUT', `budgetMs must be a number >= ${MIN_CALIBRATION_BUDGET_MS}, got ${budgetMs}`, {
      issues: [{ path: 'budgetMs', message: `must be >= ${MIN_CALIBRATION_BUDGET_MS}` }],
    })
  }
  const signal = options.signal
  if (signal?.aborted === true) throw new GalacticError('ABORTED', 'calibration aborted')
  const started = now()
  const deadline = started + budgetMs
  const progress = (unit: GasUnit, s: Pick<Sampled, 'nsPerUnit' | 'samples'>, size?: number): void => {
    options.onProgress?.({ unit, ...(size === undefined ? {} : { size }), nsPerUnit: s.nsPerUnit, samples: s.samples.length, elapsedMs: now() - started })
  }

  const F64 = Field(P64)
  const fields: Record<'64' | '254' | '381', IField<bigint>> = { '64': F64, '254': bn254.fields.Fp, '381': bls12_381.fields.Fp }
  const msm = {
    'msm:bn254': { Point: bn254.G1.Point, source: pointSource(bn254.G1.Point as unknown as CurveLike, 'bn254') },
    'msm:bls12-381': { Point: bls12_381.G1.Point, source: pointSource(bls12_381.G1.Point as unknown as CurveLike, 'bls12-381') },
  } as const

  // The add:64 reference, measured before, between and after the phases.
  const reference = fieldBench(F64, 'add', 'add:64')
  const referenceBudget = budgetMs * REFERENCE_SHARE
  const references: Sampled[] = []
  const measureReference = async (): Promise<number> => {
    const s = await sample({ run: reference, unitsPerRep: 8, budgetMs: referenceBudget, signal, maxSamples: 9 })
    references.push(s)
    return s.nsPerUnit
  }

  /** Gas per unit, and per size for MSM and NTT units. */
  const gas = new Map<GasUnit, number>()
  const sizes = new Map<GasUnit, GasSizePoint[]>()
  let before = await measureReference()
  let sharesLeft = PHASES.reduce((a, p) => a + p.share, 0)
  for (const [index, phase] of PHASES.entries()) {
    const referencesLeft = PHASES.length - index
    const phaseBudget = Math.max(0, ((deadline - now() - referencesLeft * referenceBudget) * phase.share) / sharesLeft)
    sharesLeft -= phase.share
    const unit: GasUnit = phase.id
    let nsPerUnit: number | undefined
    let sized: SizedResult[] | undefined
    switch (phase.id) {
      case 'mul:64':
      case 'add:254':
      case 'mul:254':
      case 'add:381':
      case 'mul:381': {
        const [op, bits] = phase.id.split(':') as ['add' | 'mul', '64' | '254' | '381']
        const s = await sample({ run: fieldBench(fields[bits], op, phase.id), unitsPerRep: 8, budgetMs: phaseBudget, signal })
        nsPerUnit = s.nsPerUnit
        progress(unit, s)
        break
      }
      case 'msm:bn254':
      case 'msm:bls12-381': {
        const { Point, source } = msm[phase.id]
        sized = await sizedPhase(
          CALIBRATION_MSM_LOG2,
          phaseBudget,
          signal,
          (n) => n,
          (n) => {
            const { points, scalars } = source(n)
            return {
              run: (reps) => {
                for (let i = 0; i < reps; i++) sink = pippenger(Point as never, points as never[], scalars)
              },
            }
          },
          (log2, s) => progress(unit, s, 2 ** log2),
        )
        break
      }
      case 'ntt:254': {
        const fft = FFT(rootsOfUnity(bn254_Fr), bn254_Fr)
        sized = await sizedPhase(
          CALIBRATION_NTT_LOG2,
          phaseBudget,
          signal,
          (n) => (n / 2) * Math.log2(n),
          (n) => {
            const values = elements('ntt', n, bn254_Fr.ORDER)
            return {
              check: () => {
                const back = fft.inverse(fft.direct(values))
                if (back.length !== n || back.some((v, i) => v !== values[i])) {
                  throw new GalacticError('INTERNAL', `the NTT of size ${n} does not invert: the transform benchmarked is wrong`)
                }
              },
              run: (reps) => {
                for (let i = 0; i < reps; i++) sink = fft.direct(values)
              },
            }
          },
          (log2, s) => progress(unit, s, 2 ** log2),
        )
        break
      }
      case 'hash:sha256': {
        const blocks = 1024
        // 64 x blocks - 9 bytes: with SHA-256's padding (1 byte 0x80 + 8 length bytes) exactly `blocks` blocks.
        const data = Buffer.alloc(64 * blocks - 9, 0xa5)
        const s = await sample({
          run: (reps) => {
            for (let i = 0; i < reps; i++) sink = createHash('sha256').update(data).digest()
          },
          unitsPerRep: blocks,
          budgetMs: phaseBudget,
          signal,
        })
        nsPerUnit = s.nsPerUnit
        progress(unit, s)
        break
      }
      case 'hash:keccak256': {
        const blocks = 64
        // 136 x blocks - 1 bytes: Keccak's pad10*1 then fits in the last byte, exactly `blocks` permutations.
        const data = new Uint8Array(136 * blocks - 1).fill(0x5a)
        const s = await sample({
          run: (reps) => {
            for (let i = 0; i < reps; i++) sink = keccak_256(data)
          },
          unitsPerRep: blocks,
          budgetMs: phaseBudget,
          signal,
        })
        nsPerUnit = s.nsPerUnit
        progress(unit, s)
        break
      }
      case 'hash:poseidon': {
        const opts = { Fp: bn254_Fr, t: POSEIDON.t, roundsFull: POSEIDON.roundsFull, roundsPartial: POSEIDON.roundsPartial, sboxPower: 5 }
        const permute = poseidon({ ...grainGenConstants(opts), ...opts })
        if (permute([0n, 1n, 2n])[0] !== POSEIDON_1_2) {
          throw new GalacticError('INTERNAL', "Poseidon's constants differ from circomlib's: the permutation benchmarked is not the one priced")
        }
        let state = [0n, 1n, 2n]
        const s = await sample({
          run: (reps) => {
            for (let i = 0; i < reps; i++) state = permute(state)
            sink = state
          },
          unitsPerRep: 1,
          budgetMs: phaseBudget,
          signal,
        })
        nsPerUnit = s.nsPerUnit
        progress(unit, s)
        break
      }
    }
    const after = await measureReference()
    const nsPerGasHere = (before + after) / 2
    before = after
    if (sized !== undefined) {
      const points = sized.map((m) => ({ log2: m.log2, gas: m.nsPerUnit / nsPerGasHere }))
      sizes.set(unit, points)
      gas.set(unit, (points[points.length - 1] as GasSizePoint).gas)
    } else {
      gas.set(unit, (nsPerUnit as number) / nsPerGasHere)
    }
  }
  void sink

  // The machine's speed: the median of every reference sample.
  const all = references.flatMap((r) => r.samples)
  const nsPerGas = median(all)
  progress('add:64', { nsPerUnit: nsPerGas, samples: all })
  gas.set('add:64', 1)
  const units = {} as Record<GasUnit, UnitCost>
  for (const [unit, base] of Object.entries(DEFAULT_GAS_TABLE.units) as Array<[GasUnit, UnitCost]>) {
    const points = sizes.get(unit)
    units[unit] = { gas: gas.get(unit) as number, per: base.per, ...(points === undefined ? {} : { sizes: points }) }
  }
  const cpu = cpus()[0]?.model ?? 'unknown'
  return GasTable.parse({
    version: GAS_TABLE_VERSION,
    name: options.name ?? `calibrated on ${hostname()}`.slice(0, 128),
    units,
    measured: { host: hostname().slice(0, 256), cpu: cpu.slice(0, 256), at: new Date().toISOString(), nsPerGas, durationMs: Math.round(now() - started) },
  })
}

/**
 * The speed of the machine a table was measured on, in gas per second: 1e9 / nsPerGas. Throws
 * INVALID_INPUT for a table with no measurement (an analytic one).
 */
export function gasPerSecond(table: GasTable): number {
  if (table.measured === undefined) {
    throw new GalacticError('INVALID_INPUT', `gas table ${JSON.stringify(table.name)} was not measured (no measured.nsPerGas): run galactic gas calibrate`)
  }
  return 1e9 / table.measured.nsPerGas
}

/** Sizes at which {@link unitGasPerSecond} compares sized units: MSMs of 2^10 points, NTTs of 2^12. */
export const SPEED_REFERENCE_SIZES: Partial<Record<GasUnit, number>> = { 'msm:bn254': 1 << 10, 'msm:bls12-381': 1 << 10, 'ntt:254': 1 << 12 }

/**
 * This machine's speed per unit, in gas of another table (`pricing`, by default the analytic one):
 * for each unit, pricing gas per second = pricing gas of one unit / (measured gas of one unit x
 * nsPerGas) x 1e9. A calibrated table's own gas is the add:64 of this machine's implementation;
 * this converts its speed into the gas an oracle prices with. MSM and NTT units are compared at
 * {@link SPEED_REFERENCE_SIZES}. Throws INVALID_INPUT for a table with no measurement.
 */
export function unitGasPerSecond(measured: GasTable, pricing: GasTable = DEFAULT_GAS_TABLE): Record<GasUnit, number> {
  const perGas = 1e9 / gasPerSecond(measured)
  const out = {} as Record<GasUnit, number>
  for (const unit of Object.keys(pricing.units) as GasUnit[]) {
    const n = SPEED_REFERENCE_SIZES[unit] ?? 1
    out[unit] = (unitGasAt(pricing.units[unit], n) / (unitGasAt(measured.units[unit], n) * perGas)) * 1e9
  }
  return out
}
