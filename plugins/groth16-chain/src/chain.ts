import { createHash } from 'node:crypto'
import { z } from 'zod'
import { loadCircomlibjs } from './vendor.js'

/**
 * The Poseidon hash chain that stands in for a zkVM execution, and the records the ops exchange.
 *
 * Chain, over the BN254 scalar field (`FIELD_MODULUS`), with circomlib's Poseidon:
 *
 *   s0     = Poseidon1( uint256be(sha256(utf8(seed))) mod FIELD_MODULUS )
 *   s(i+1) = Poseidon2( s(i), i )
 *
 * Field elements travel as decimal strings (as snarkjs writes public signals).
 */

/** The BN254 scalar field's modulus: every state and public signal is below it. */
export const FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617n

/** Steps per segment that have a circuit (`circuits/segment_<n>.circom`). 64 is optional at setup. */
export const SEGMENT_SIZES = [16, 64] as const
export type SegmentSize = (typeof SEGMENT_SIZES)[number]

/** Most segments one snark covers: the commitment circuit's size (`circuits/commit_64.circom`). */
export const MAX_SEGMENTS = 64

/** A field element as a decimal string without leading zeros. */
export const FieldString = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,76})$/, 'expected a decimal field element')
  .refine((s) => BigInt(s) < FIELD_MODULUS, 'not below the field modulus')
export type FieldString = z.infer<typeof FieldString>

const SegmentIndex = z.int().min(0).max(MAX_SEGMENTS - 1)
const StepIndex = z.int().min(0).max(Number.MAX_SAFE_INTEGER)
const Size = z.union(SEGMENT_SIZES.map((s) => z.literal(s)) as [z.ZodLiteral<16>, z.ZodLiteral<64>])

/** A Groth16 proof as snarkjs writes it (`proof.json`). */
export const Groth16Proof = z.strictObject({
  pi_a: z.tuple([FieldString, FieldString, FieldString]),
  pi_b: z.tuple([z.tuple([FieldString, FieldString]), z.tuple([FieldString, FieldString]), z.tuple([FieldString, FieldString])]),
  pi_c: z.tuple([FieldString, FieldString, FieldString]),
  protocol: z.literal('groth16'),
  curve: z.literal('bn128'),
})
export type Groth16Proof = z.infer<typeof Groth16Proof>

/** One segment of the split: steps [offset, offset + segmentSize) take `start` = s(offset) to `end`. */
export const SplitSegment = z.strictObject({ segment: SegmentIndex, offset: StepIndex, start: FieldString, end: FieldString })
export type SplitSegment = z.infer<typeof SplitSegment>

/** Output `segments` of `split`. */
export const SplitOutput = z.strictObject({
  kind: z.literal('split'),
  seed: z.string(),
  segmentSize: Size,
  segments: z.array(SplitSegment).min(1).max(MAX_SEGMENTS),
})
export type SplitOutput = z.infer<typeof SplitOutput>

/**
 * Output `proof` of `prove`: a Groth16 proof of one segment. `publicSignals` = [start, offset, end]
 * (the segment circuit's public inputs, in that order).
 */
export const SegmentProof = z.strictObject({
  kind: z.literal('segment'),
  segmentSize: Size,
  segment: SegmentIndex,
  offset: StepIndex,
  start: FieldString,
  end: FieldString,
  proof: Groth16Proof,
  publicSignals: z.tuple([FieldString, FieldString, FieldString]),
})
export type SegmentProof = z.infer<typeof SegmentProof>

/**
 * Output `proof` of `aggregate`: the claim that the chain goes from `start` = s(offset) to `end` =
 * s(offset + steps) over segments first..last, with both children (and so every segment proof
 * below) embedded. Not recursive: checking it means checking every embedded segment proof.
 */
export interface AggregateProof {
  kind: 'aggregate'
  segmentSize: SegmentSize
  firstSegment: number
  lastSegment: number
  offset: number
  steps: number
  start: string
  end: string
  children: [Proof, Proof]
}
export type Proof = SegmentProof | AggregateProof

export const AggregateProof: z.ZodType<AggregateProof> = z.lazy(() =>
  z.strictObject({
    kind: z.literal('aggregate'),
    segmentSize: Size,
    firstSegment: SegmentIndex,
    lastSegment: SegmentIndex,
    offset: StepIndex,
    steps: StepIndex,
    start: FieldString,
    end: FieldString,
    children: z.tuple([Proof, Proof]),
  }),
)
export const Proof: z.ZodType<Proof> = z.lazy(() => z.union([SegmentProof, AggregateProof]))

/**
 * Output `snark` of `snark`: one Groth16 proof of the commitment circuit over the boundary states
 * (`publicSignals` = [first, last, commitment, count]), plus the verified root it was made from.
 * `boundaries[k]` = s(k * segmentSize), k = 0..segments.
 */
export const SnarkOutput = z.strictObject({
  kind: z.literal('snark'),
  seed: z.string(),
  segmentSize: Size,
  segments: z.int().min(1).max(MAX_SEGMENTS),
  steps: StepIndex,
  start: FieldString,
  end: FieldString,
  boundaries: z.array(FieldString).min(2).max(MAX_SEGMENTS + 1),
  commitment: FieldString,
  proof: Groth16Proof,
  publicSignals: z.tuple([FieldString, FieldString, FieldString, FieldString]),
  root: Proof,
})
export type SnarkOutput = z.infer<typeof SnarkOutput>

type Hash = (inputs: bigint[]) => bigint
let hasher: Promise<Hash> | undefined

/** circomlib's Poseidon (1 to 16 inputs), as circomlibjs computes it. Built once. */
export function poseidon(): Promise<Hash> {
  hasher ??= loadCircomlibjs()
    .then((c) => c.buildPoseidon())
    .then((p) => (inputs: bigint[]) => p.F.toObject(p(inputs)))
  return hasher
}

/** The seed as a field element: sha256(utf8(seed)) read as a big-endian integer, mod the field. */
export function seedElement(seed: string): bigint {
  return BigInt(`0x${createHash('sha256').update(seed, 'utf8').digest('hex')}`) % FIELD_MODULUS
}

/** s0 = Poseidon1(seedElement(seed)). */
export async function initialState(seed: string): Promise<bigint> {
  const h = await poseidon()
  return h([seedElement(seed)])
}

/** Runs `steps` steps from `state` = s(from): returns s(from + steps). */
export async function runChain(state: bigint, from: number, steps: number, signal?: AbortSignal): Promise<bigint> {
  const h = await poseidon()
  let s = state
  for (let i = 0; i < steps; i++) {
    if (i % 1024 === 1023) signal?.throwIfAborted()
    s = h([s, BigInt(from + i)])
  }
  return s
}

/**
 * The commitment the snark circuit exposes: a Poseidon sponge over
 * x = [count, b0, ..., b(MAX_SEGMENTS)], where b0..b(count) are the boundary states and the rest is
 * padding with 0. acc = Poseidon(x[0..15]); then, while elements remain,
 * acc = Poseidon(acc, the next up to 15 elements).
 */
export async function commitBoundaries(boundaries: readonly bigint[]): Promise<bigint> {
  const count = boundaries.length - 1
  if (count < 1 || count > MAX_SEGMENTS) throw new RangeError(`boundaries must hold 2..${MAX_SEGMENTS + 1} states`)
  const h = await poseidon()
  const x = [BigInt(count), ...padBoundaries(boundaries)]
  let acc = h(x.slice(0, 16))
  for (let next = 16; next < x.length; next += 15) acc = h([acc, ...x.slice(next, next + 15)])
  return acc
}

/** The boundary states padded with zeros to MAX_SEGMENTS + 1, as the snark circuit takes them. */
export function padBoundaries(boundaries: readonly bigint[]): bigint[] {
  return [...boundaries, ...new Array<bigint>(MAX_SEGMENTS + 1 - boundaries.length).fill(0n)]
}

/** A field element as its decimal string. */
export function fieldString(x: bigint): FieldString {
  return x.toString(10)
}
