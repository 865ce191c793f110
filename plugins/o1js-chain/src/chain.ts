import { createHash } from 'node:crypto'
import { z } from 'zod'
import { loadO1js } from './o1js.js'

/**
 * The Poseidon hash chain that stands in for a zkVM execution, and the records the ops exchange.
 *
 * Chain, over o1js' native field (the Pallas base field, `FIELD_MODULUS`), with o1js' Poseidon:
 *
 *   s0     = Poseidon( uint256be(sha256(utf8(seed))) mod FIELD_MODULUS )
 *   s(i+1) = Poseidon( s(i), i )
 *
 * Field elements travel as decimal strings (as o1js writes a proof's public values).
 */

/** o1js' `Field` modulus (the Pallas curve's base field): every state is below it. */
export const FIELD_MODULUS = 0x40000000000000000000000000000000224698fc094cf91b992d30ed00000001n

/** Steps per segment: the leaf circuit's size. One circuit serves every segment. */
export const SEGMENT_SIZE = 16

/** Most segments one run may have (a bound on the split's work and output, not a circuit limit). */
export const MAX_SEGMENTS = 1024

/** A field element as a decimal string without leading zeros. */
export const FieldString = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,76})$/, 'expected a decimal field element')
  .refine((s) => BigInt(s) < FIELD_MODULUS, 'not below the field modulus')
export type FieldString = z.infer<typeof FieldString>

const SegmentIndex = z.int().min(0).max(MAX_SEGMENTS - 1)
const StepIndex = z.int().min(0).max(MAX_SEGMENTS * SEGMENT_SIZE)
const Size = z.literal(SEGMENT_SIZE)

/**
 * A proof as o1js writes it (`proof.toJSON()`): the program has no public input; its public
 * output is the claim `[start, offset, steps, end]`; `proof` is the Pickles proof, base64.
 */
export const JsonProof = z.strictObject({
  publicInput: z.array(FieldString).max(0),
  publicOutput: z.tuple([FieldString, FieldString, FieldString, FieldString]),
  maxProofsVerified: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  proof: z
    .string()
    .min(1)
    .max(256 * 1024)
    .regex(/^[A-Za-z0-9+/]+=*$/, 'expected base64'),
})
export type JsonProof = z.infer<typeof JsonProof>

/** One segment of the split: steps [offset, offset + 16) take `start` = s(offset) to `end`. */
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
 * Output `proof` of `prove` (one segment, the program's `leaf`) and of `aggregate` (the program's
 * `merge` of two proofs): a recursive o1js proof that the chain takes `start` = s(offset) to `end`
 * = s(offset + steps), over segments `firstSegment..lastSegment`. `proof.publicOutput` is
 * `[start, offset, steps, end]`; `verificationKeyHash` names the program it verifies against.
 */
export const ChainProof = z.strictObject({
  kind: z.literal('proof'),
  segmentSize: Size,
  firstSegment: SegmentIndex,
  lastSegment: SegmentIndex,
  offset: StepIndex,
  steps: StepIndex,
  start: FieldString,
  end: FieldString,
  verificationKeyHash: FieldString,
  proof: JsonProof,
})
export type ChainProof = z.infer<typeof ChainProof>

/**
 * Output `snark` of `snark`: the root proof of the whole run (its `proof` unchanged), checked and
 * bound to the run: it covers segments `0..segments-1` from `start` = s0 of `seed`.
 */
export const SnarkOutput = z.strictObject({
  kind: z.literal('snark'),
  seed: z.string(),
  segmentSize: Size,
  segments: z.int().min(1).max(MAX_SEGMENTS),
  steps: StepIndex,
  start: FieldString,
  end: FieldString,
  verificationKeyHash: FieldString,
  proof: JsonProof,
})
export type SnarkOutput = z.infer<typeof SnarkOutput>

/** The seed as a field element: sha256(utf8(seed)) read as a big-endian integer, mod the field. */
export function seedElement(seed: string): bigint {
  return BigInt(`0x${createHash('sha256').update(seed, 'utf8').digest('hex')}`) % FIELD_MODULUS
}

type Hash = (inputs: bigint[]) => bigint
let hasher: Promise<Hash> | undefined

/** o1js' Poseidon over its field, on bigints (outside a circuit: plain JavaScript, about 1 ms a hash). */
export function poseidon(): Promise<Hash> {
  hasher ??= loadO1js().then(({ Field, Poseidon }) => (inputs: bigint[]) => Poseidon.hash(inputs.map((x) => Field(x))).toBigInt())
  return hasher
}

/** s0 = Poseidon(seedElement(seed)). */
export async function initialState(seed: string): Promise<bigint> {
  const h = await poseidon()
  return h([seedElement(seed)])
}

const yieldToEvents = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Runs `steps` steps from `state` = s(from): returns s(from + steps). Lets other events run every
 * 128 steps (about a tenth of a second), so a stop request is heard and `signal` can abort it.
 */
export async function runChain(state: bigint, from: number, steps: number, signal?: AbortSignal): Promise<bigint> {
  const h = await poseidon()
  let s = state
  for (let i = 0; i < steps; i++) {
    if (i % 128 === 127) {
      await yieldToEvents()
      signal?.throwIfAborted()
    }
    s = h([s, BigInt(from + i)])
  }
  return s
}

/** A field element as its decimal string. */
export function fieldString(x: bigint): FieldString {
  return x.toString(10)
}
