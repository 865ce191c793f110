import { hash } from 'node:crypto'
import { z } from 'zod'
import { GalacticError } from '@galactic/schemas'

/**
 * The SHA-256 hash chain that stands in for a zkVM execution, and the proof records built on it.
 *
 * Chain: `s0 = sha256(utf8(seed))`, `s(i+1) = sha256(s(i) || uint64be(i))`. States are 32 bytes,
 * written as 64 lowercase hex digits in JSON.
 *
 * Every proof record carries a `digest`: SHA-256 over a fixed binary encoding of its fields
 * (see {@link segmentDigest}, {@link aggregateDigest}, {@link snarkDigest}), so anyone can
 * recompute it. Only {@link verifySnark} and {@link verifySegmentProof} re-run the chain.
 */

/** Bytes of one chain state. */
export const STATE_BYTES = 32
/** Long loops yield to the event loop (and check their AbortSignal) this often. */
export const YIELD_EVERY_STEPS = 10_000
/** Prefix of every domain-separation tag in a digest. */
export const DIGEST_DOMAIN = 'galactic/sha256-chain/v1'

/** 32 bytes as 64 lowercase hex digits: a chain state or a digest. */
export const Hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits')
export type Hex32 = z.infer<typeof Hex32>

const StepIndex = z.int().min(0).max(Number.MAX_SAFE_INTEGER)

/** Proof that the chain goes from `start` = s(from) to `end` = s(to), made by re-running it. */
export const SegmentProof = z.strictObject({
  kind: z.literal('segment'),
  from: StepIndex,
  to: StepIndex,
  start: Hex32,
  end: Hex32,
  digest: Hex32,
})
export type SegmentProof = z.infer<typeof SegmentProof>

/** Two adjacent proofs joined: covers [left.from, right.to). `children` are their digests, left then right. */
export const AggregateProof = z.strictObject({
  kind: z.literal('aggregate'),
  from: StepIndex,
  to: StepIndex,
  start: Hex32,
  end: Hex32,
  children: z.tuple([Hex32, Hex32]),
  digest: Hex32,
})
export type AggregateProof = z.infer<typeof AggregateProof>

export const Proof = z.discriminatedUnion('kind', [SegmentProof, AggregateProof])
export type Proof = z.infer<typeof Proof>

/** Output `segments` of the `split` op: `starts[k]` = s(k * segmentSteps), `end` = s(segments * segmentSteps). */
export const SplitOutput = z.strictObject({
  seed: z.string(),
  segments: z.int().min(1),
  segmentSteps: z.int().min(1),
  starts: z.array(Hex32).min(1),
  end: Hex32,
})
export type SplitOutput = z.infer<typeof SplitOutput>

/** Output `snark` of the `snark` op: the whole chain, s0 = `start` to s(steps) = `end`. */
export const SnarkOutput = z.strictObject({
  kind: z.literal('snark'),
  seed: z.string(),
  steps: StepIndex,
  start: Hex32,
  end: Hex32,
  digest: Hex32,
})
export type SnarkOutput = z.infer<typeof SnarkOutput>

function sha256(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer')
}

function checkIndex(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`)
}

function writeU64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset)
  buf.writeUInt32BE(value >>> 0, offset + 4)
}

function u64(value: number): Buffer {
  checkIndex(value, 'value')
  const buf = Buffer.alloc(8)
  writeU64(buf, 0, value)
  return buf
}

function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  const len = Buffer.alloc(4)
  len.writeUInt32BE(bytes.length)
  return Buffer.concat([len, bytes])
}

/** Decodes 64 hex digits into 32 bytes; throws a RangeError otherwise. */
export function fromHex(hex: string): Buffer {
  if (!Hex32.safeParse(hex).success) throw new RangeError(`expected 64 lowercase hex digits, got ${JSON.stringify(hex.slice(0, 80))}`)
  return Buffer.from(hex, 'hex')
}

export function toHex(bytes: Uint8Array): Hex32 {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** s0 = sha256(utf8(seed)). */
export function initialState(seed: string): Buffer {
  return sha256(Buffer.from(seed, 'utf8'))
}

/** One step: s(index + 1) = sha256(s(index) || uint64be(index)). */
export function chainStep(state: Uint8Array, index: number): Buffer {
  if (state.length !== STATE_BYTES) throw new RangeError(`a state is ${STATE_BYTES} bytes, got ${state.length}`)
  checkIndex(index, 'index')
  const buf = Buffer.alloc(STATE_BYTES + 8)
  buf.set(state, 0)
  writeU64(buf, STATE_BYTES, index)
  return sha256(buf)
}

function startState(seedOrState: string | Uint8Array, fromIndex: number, steps: number): Buffer {
  checkIndex(fromIndex, 'fromIndex')
  checkIndex(steps, 'steps')
  checkIndex(fromIndex + steps, 'fromIndex + steps')
  if (typeof seedOrState === 'string') {
    if (fromIndex !== 0) throw new RangeError('a seed starts the chain at index 0; pass the state s(fromIndex) to start elsewhere')
    return initialState(seedOrState)
  }
  if (seedOrState.length !== STATE_BYTES) throw new RangeError(`a state is ${STATE_BYTES} bytes, got ${seedOrState.length}`)
  return Buffer.from(seedOrState)
}

/** Runs `count` steps from `state` = s(index) in place; `buf` is a 40-byte scratch buffer. */
function steps(buf: Buffer, state: Buffer, index: number, count: number): Buffer {
  let s = state
  for (let i = index, end = index + count; i < end; i++) {
    s.copy(buf, 0)
    writeU64(buf, STATE_BYTES, i)
    s = sha256(buf)
  }
  return s
}

/**
 * Runs the chain without yielding. `seedOrState` is either the seed (then `fromIndex` must be 0 and
 * the chain starts at s0) or the 32-byte state s(fromIndex). Returns s(fromIndex + steps).
 */
export function runChainSync(seedOrState: string | Uint8Array, fromIndex: number, stepCount: number): Buffer {
  const state = startState(seedOrState, fromIndex, stepCount)
  return steps(Buffer.alloc(STATE_BYTES + 8), state, fromIndex, stepCount)
}

/**
 * Runs the chain like {@link runChainSync}, yielding to the event loop every
 * {@link YIELD_EVERY_STEPS} steps. An aborted `signal` rejects with GalacticError TASK_CANCELLED.
 *
 * @example
 * const s1000 = await runChain('hello', 0, 1000)
 * const s2000 = await runChain(s1000, 1000, 1000)
 */
export async function runChain(
  seedOrState: string | Uint8Array,
  fromIndex: number,
  stepCount: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  let state = startState(seedOrState, fromIndex, stepCount)
  const buf = Buffer.alloc(STATE_BYTES + 8)
  let index = fromIndex
  const end = fromIndex + stepCount
  while (index < end) {
    throwIfCancelled(signal)
    const n = Math.min(YIELD_EVERY_STEPS, end - index)
    state = steps(buf, state, index, n)
    index += n
    if (index < end) await new Promise<void>((resolve) => setImmediate(resolve))
  }
  throwIfCancelled(signal)
  return state
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new GalacticError('TASK_CANCELLED', 'task cancelled')
}

/** The fields a segment proof's digest covers. */
export interface ProofFields {
  from: number
  to: number
  start: Hex32
  end: Hex32
}

/** sha256( lp("galactic/sha256-chain/v1/segment") || u64be(from) || u64be(to) || start || end ), lp = u32be length + utf8. */
export function segmentDigest(p: ProofFields): Hex32 {
  return toHex(sha256(Buffer.concat([lengthPrefixed(`${DIGEST_DOMAIN}/segment`), u64(p.from), u64(p.to), fromHex(p.start), fromHex(p.end)])))
}

/** sha256( lp("galactic/sha256-chain/v1/aggregate") || u64be(from) || u64be(to) || start || end || leftDigest || rightDigest ). */
export function aggregateDigest(p: ProofFields, left: Hex32, right: Hex32): Hex32 {
  return toHex(
    sha256(
      Buffer.concat([
        lengthPrefixed(`${DIGEST_DOMAIN}/aggregate`),
        u64(p.from),
        u64(p.to),
        fromHex(p.start),
        fromHex(p.end),
        fromHex(left),
        fromHex(right),
      ]),
    ),
  )
}

/** sha256( lp("galactic/sha256-chain/v1/snark") || lp(seed) || u64be(steps) || start || end ). */
export function snarkDigest(p: { seed: string; steps: number; start: Hex32; end: Hex32 }): Hex32 {
  return toHex(
    sha256(Buffer.concat([lengthPrefixed(`${DIGEST_DOMAIN}/snark`), lengthPrefixed(p.seed), u64(p.steps), fromHex(p.start), fromHex(p.end)])),
  )
}

/** The digest a proof should carry, computed from its other fields. */
export function expectedDigest(proof: Proof): Hex32 {
  return proof.kind === 'segment' ? segmentDigest(proof) : aggregateDigest(proof, proof.children[0], proof.children[1])
}

/** Whether a proof's digest matches its fields and it covers a non-empty range. Does not re-run the chain. */
export function checkProofDigest(proof: Proof): boolean {
  try {
    return proof.to > proof.from && expectedDigest(proof) === proof.digest
  } catch {
    return false
  }
}

/** Builds a segment proof record (with its digest) from its fields. */
export function makeSegmentProof(p: ProofFields): SegmentProof {
  return { kind: 'segment', from: p.from, to: p.to, start: p.start, end: p.end, digest: segmentDigest(p) }
}

/** Re-runs the chain from `start` = s(from) for `to - from` steps and returns the segment proof. */
export async function proveSegment(start: Hex32, from: number, to: number, signal?: AbortSignal): Promise<SegmentProof> {
  if (to <= from) throw new RangeError(`a segment needs to > from, got [${from}, ${to})`)
  const end = await runChain(fromHex(start), from, to - from, signal)
  return makeSegmentProof({ from, to, start, end: toHex(end) })
}

/** Whether a segment proof is right: its digest matches and re-running the chain from `start` gives `end`. */
export function verifySegmentProof(proof: unknown): boolean {
  const parsed = SegmentProof.safeParse(proof)
  if (!parsed.success || !checkProofDigest(parsed.data)) return false
  const p = parsed.data
  return toHex(runChainSync(fromHex(p.start), p.from, p.to - p.from)) === p.end
}

function invalid(message: string, details?: Record<string, unknown>): GalacticError {
  return new GalacticError('TASK_INVALID', message, details)
}

/**
 * Joins two adjacent proofs, left then right. Throws GalacticError TASK_INVALID when a digest is
 * wrong or they do not meet (left.to !== right.from or left.end !== right.start).
 */
export function aggregateProofs(left: Proof, right: Proof): AggregateProof {
  if (!checkProofDigest(left)) throw invalid('left proof: bad digest', { input: 'left' })
  if (!checkProofDigest(right)) throw invalid('right proof: bad digest', { input: 'right' })
  if (left.to !== right.from) throw invalid(`proofs are not adjacent: left ends at step ${left.to}, right starts at ${right.from}`)
  if (left.end !== right.start) throw invalid(`proofs do not meet: left end state differs from right start state at step ${left.to}`)
  const fields: ProofFields = { from: left.from, to: right.to, start: left.start, end: right.end }
  return { kind: 'aggregate', ...fields, children: [left.digest, right.digest], digest: aggregateDigest(fields, left.digest, right.digest) }
}

/**
 * Wraps the root proof into the final record. Checks its digest, that it starts at step 0 from
 * s0 = sha256(seed) and, when `steps` is given, that it ends at step `steps`.
 * Throws GalacticError TASK_INVALID otherwise.
 */
export function makeSnark(root: Proof, seed: string, steps?: number): SnarkOutput {
  if (!checkProofDigest(root)) throw invalid('root proof: bad digest')
  if (root.from !== 0) throw invalid(`root proof starts at step ${root.from}, not 0`)
  if (steps !== undefined && root.to !== steps) throw invalid(`root proof ends at step ${root.to}, not ${steps}`)
  if (root.start !== toHex(initialState(seed))) throw invalid('root proof does not start from sha256(seed)')
  const fields = { seed, steps: root.to, start: root.start, end: root.end }
  return { kind: 'snark', ...fields, digest: snarkDigest(fields) }
}

/**
 * Checks a snark output from scratch: right shape, `seed` and `steps` as given, `start` = s0,
 * `end` = s(steps) by re-running the whole chain, and its digest. Never throws.
 */
export function verifySnark(output: unknown, seed: string, steps: number): boolean {
  const parsed = SnarkOutput.safeParse(output)
  if (!parsed.success) return false
  const s = parsed.data
  if (s.seed !== seed || s.steps !== steps || !Number.isSafeInteger(steps) || steps < 1) return false
  try {
    if (s.start !== toHex(initialState(seed))) return false
    if (s.digest !== snarkDigest(s)) return false
    return toHex(runChainSync(seed, 0, steps)) === s.end
  } catch {
    return false
  }
}
