import { GalacticError } from '@galactic/schemas'
import { Artifacts } from './artifacts.js'
import {
  MAX_SEGMENTS,
  SnarkOutput,
  commitBoundaries,
  fieldString,
  initialState,
  padBoundaries,
  runChain,
  type AggregateProof,
  type Proof,
  type SegmentProof,
  type SegmentSize,
} from './chain.js'
import { prove, verifyProof } from './groth16.js'

/**
 * The proofs: one Groth16 proof per segment, aggregate claims that embed their children (checked,
 * not recursive), and the snark over a commitment to all boundary states.
 */

/** The result of a check: `valid: false` carries why. */
export interface VerifyResult {
  valid: boolean
  reason?: string
}

function invalid(message: string, details?: Record<string, unknown>): GalacticError {
  return new GalacticError('TASK_INVALID', message, details)
}

/** Segments and steps a proof covers. */
export function span(p: Proof): { firstSegment: number; lastSegment: number; offset: number; steps: number } {
  return p.kind === 'segment'
    ? { firstSegment: p.segment, lastSegment: p.segment, offset: p.offset, steps: p.segmentSize }
    : { firstSegment: p.firstSegment, lastSegment: p.lastSegment, offset: p.offset, steps: p.steps }
}

/** The segment proofs under `p`, in chain order. */
export function leaves(p: Proof): SegmentProof[] {
  return p.kind === 'segment' ? [p] : [...leaves(p.children[0]), ...leaves(p.children[1])]
}

/**
 * Proves segment `segment` of size `size` from `start` = s(segment * size). The end state is
 * computed here (the circuit constrains it).
 */
export async function proveSegment(
  start: bigint,
  segment: number,
  size: SegmentSize,
  artifacts: Artifacts = new Artifacts(),
  signal?: AbortSignal,
): Promise<SegmentProof> {
  const circuit = artifacts.segment(size)
  const offset = segment * size
  const end = await runChain(start, offset, size, signal)
  signal?.throwIfAborted()
  const input = { start: fieldString(start), offset: String(offset), end: fieldString(end) }
  const { proof, publicSignals } = await prove(circuit, input)
  signal?.throwIfAborted()
  const expected = [input.start, input.offset, input.end]
  if (publicSignals.join() !== expected.join()) throw new GalacticError('INTERNAL', 'segment circuit returned unexpected public signals')
  return { kind: 'segment', segmentSize: size, segment, offset, start: input.start, end: input.end, proof, publicSignals: [input.start, input.offset, input.end] }
}

/** Checks one segment proof: its fields, its public signals and the Groth16 proof. */
export async function checkSegmentProof(p: SegmentProof, artifacts: Artifacts = new Artifacts()): Promise<VerifyResult> {
  if (p.offset !== p.segment * p.segmentSize) return { valid: false, reason: `segment ${p.segment}: offset ${p.offset} is not segment * ${p.segmentSize}` }
  const expected = [p.start, String(p.offset), p.end]
  if (p.publicSignals.join() !== expected.join()) return { valid: false, reason: `segment ${p.segment}: public signals do not match start, offset, end` }
  if (!(await verifyProof(artifacts.segment(p.segmentSize), p.publicSignals, p.proof))) {
    return { valid: false, reason: `segment ${p.segment}: Groth16 proof does not verify` }
  }
  return { valid: true }
}

/** Why `right` does not continue `left`, or undefined when it does. */
export function continuityError(left: Proof, right: Proof): string | undefined {
  const l = span(left)
  const r = span(right)
  if (left.segmentSize !== right.segmentSize) return `segment sizes differ (${left.segmentSize}, ${right.segmentSize})`
  if (l.lastSegment + 1 !== r.firstSegment) return `segments are not adjacent (left ends at ${l.lastSegment}, right starts at ${r.firstSegment})`
  if (l.offset + l.steps !== r.offset) return `offsets are not adjacent (left ends at step ${l.offset + l.steps}, right starts at ${r.offset})`
  if (left.end !== right.start) return `left end state is not right start state`
  return undefined
}

/**
 * Checks a proof whole: every embedded segment proof (Groth16), the continuity between children and
 * that each aggregate's claim is what its children make.
 */
export async function checkProof(p: Proof, artifacts: Artifacts = new Artifacts(), signal?: AbortSignal): Promise<VerifyResult> {
  signal?.throwIfAborted()
  if (p.kind === 'segment') return checkSegmentProof(p, artifacts)
  const [left, right] = p.children
  for (const [side, child] of [['left', left], ['right', right]] as const) {
    const r = await checkProof(child, artifacts, signal)
    if (!r.valid) return { valid: false, reason: `${side} child: ${r.reason ?? 'invalid'}` }
  }
  const gap = continuityError(left, right)
  if (gap !== undefined) return { valid: false, reason: gap }
  const made = combine(left, right)
  for (const key of ['segmentSize', 'firstSegment', 'lastSegment', 'offset', 'steps', 'start', 'end'] as const) {
    if (made[key] !== p[key]) return { valid: false, reason: `aggregate ${key} is not what its children make` }
  }
  return { valid: true }
}

function combine(left: Proof, right: Proof): AggregateProof {
  const l = span(left)
  const r = span(right)
  return {
    kind: 'aggregate',
    segmentSize: left.segmentSize,
    firstSegment: l.firstSegment,
    lastSegment: r.lastSegment,
    offset: l.offset,
    steps: l.steps + r.steps,
    start: left.start,
    end: right.end,
    children: [left, right],
  }
}

/**
 * The `aggregate` op's work: checks both children whole (see {@link checkProof}) and their
 * continuity, and returns the combined claim embedding them. NOT recursive: the result is as large
 * as its children together and checking it re-checks every segment proof.
 * Throws TASK_INVALID when a child or the continuity fails.
 */
export async function aggregateProofs(left: Proof, right: Proof, artifacts: Artifacts = new Artifacts(), signal?: AbortSignal): Promise<AggregateProof> {
  for (const [side, child] of [['left', left], ['right', right]] as const) {
    const r = await checkProof(child, artifacts, signal)
    if (!r.valid) throw invalid(`${side} proof refused: ${r.reason ?? 'invalid'}`, { input: side === 'left' ? 0 : 1 })
  }
  const gap = continuityError(left, right)
  if (gap !== undefined) throw invalid(`proofs do not continue each other: ${gap}`)
  return combine(left, right)
}

/**
 * The `snark` op's work: checks the root whole, that it covers segments 0..n-1 (n = `segments`
 * when given) from s0 of `seed`, then proves the commitment circuit over the n + 1 boundary states.
 */
export async function makeSnark(
  root: Proof,
  seed: string,
  segments: number | undefined,
  artifacts: Artifacts = new Artifacts(),
  signal?: AbortSignal,
): Promise<SnarkOutput> {
  const circuit = artifacts.commit()
  const checked = await checkProof(root, artifacts, signal)
  if (!checked.valid) throw invalid(`root proof refused: ${checked.reason ?? 'invalid'}`, { input: 0 })
  const s = span(root)
  const count = s.lastSegment + 1
  if (s.firstSegment !== 0) throw invalid(`root proof starts at segment ${s.firstSegment}, not 0`)
  if (segments !== undefined && count !== segments) throw invalid(`root proof covers ${count} segment(s), not ${segments}`)
  if (count > MAX_SEGMENTS) throw invalid(`root proof covers ${count} segments; the snark takes at most ${MAX_SEGMENTS}`)
  if (root.start !== fieldString(await initialState(seed))) throw invalid('root proof does not start from s0 of the seed')
  const all = leaves(root)
  const boundaries = [...all.map((p) => BigInt(p.start)), BigInt(root.end)]
  const commitment = await commitBoundaries(boundaries)
  signal?.throwIfAborted()
  const input = {
    first: root.start,
    last: root.end,
    commitment: fieldString(commitment),
    count: String(count),
    boundaries: padBoundaries(boundaries).map(fieldString),
  }
  const { proof, publicSignals } = await prove(circuit, input)
  signal?.throwIfAborted()
  if (publicSignals.join() !== [input.first, input.last, input.commitment, input.count].join()) {
    throw new GalacticError('INTERNAL', 'commitment circuit returned unexpected public signals')
  }
  return {
    kind: 'snark',
    seed,
    segmentSize: root.segmentSize,
    segments: count,
    steps: count * root.segmentSize,
    start: root.start,
    end: root.end,
    boundaries: boundaries.map(fieldString),
    commitment: input.commitment,
    proof,
    publicSignals: [input.first, input.last, input.commitment, input.count],
    root,
  }
}

/** What {@link verifyFinal} checks beyond the output itself. */
export interface VerifyFinalOptions {
  /** The seed the run must start from. Without it, the output's own `seed` is used. */
  seed?: string
  /** Segments the run must cover. */
  segments?: number
  /** Steps per segment the run must use. */
  segmentSize?: number
  /** Where the circuits are; default `<plugin>/artifacts` or `$GALACTIC_GROTH16_ARTIFACTS`. */
  artifacts?: Artifacts
  signal?: AbortSignal
}

/**
 * Checks a `snark` output end to end: the snark's Groth16 proof (commitment circuit), its public
 * signals against the output's fields, the commitment recomputed from the boundary states, every
 * embedded segment proof (Groth16) and their continuity, that the segment proofs' states are the
 * committed boundaries, and that the run starts from s0 of the seed.
 *
 * @example
 * const { valid, reason } = await verifyFinal(JSON.parse(snarkJson), { seed: 'hello' })
 */
export async function verifyFinal(snarkOutput: unknown, options: VerifyFinalOptions = {}): Promise<VerifyResult> {
  const parsed = SnarkOutput.safeParse(snarkOutput)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return { valid: false, reason: `not a snark output: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}` }
  }
  const o = parsed.data
  const artifacts = options.artifacts ?? new Artifacts()
  if (options.seed !== undefined && o.seed !== options.seed) return { valid: false, reason: 'made for another seed' }
  if (options.segments !== undefined && o.segments !== options.segments) return { valid: false, reason: `covers ${o.segments} segments, not ${options.segments}` }
  if (options.segmentSize !== undefined && o.segmentSize !== options.segmentSize) return { valid: false, reason: `segment size ${o.segmentSize}, not ${options.segmentSize}` }
  if (o.boundaries.length !== o.segments + 1) return { valid: false, reason: 'boundaries are not segments + 1 states' }
  if (o.steps !== o.segments * o.segmentSize) return { valid: false, reason: 'steps is not segments * segmentSize' }
  if (o.start !== o.boundaries[0] || o.end !== o.boundaries[o.segments]) return { valid: false, reason: 'start or end is not the first or last boundary' }
  if (o.publicSignals.join() !== [o.start, o.end, o.commitment, String(o.segments)].join()) {
    return { valid: false, reason: 'public signals do not match start, end, commitment, segments' }
  }
  if (o.start !== fieldString(await initialState(o.seed))) return { valid: false, reason: 'start is not s0 of the seed' }
  if (fieldString(await commitBoundaries(o.boundaries.map((b) => BigInt(b)))) !== o.commitment) {
    return { valid: false, reason: 'commitment is not the commitment to the boundaries' }
  }
  if (!(await verifyProof(artifacts.commit(), o.publicSignals, o.proof))) return { valid: false, reason: 'snark Groth16 proof does not verify' }
  const s = span(o.root)
  if (s.firstSegment !== 0 || s.lastSegment !== o.segments - 1 || o.root.segmentSize !== o.segmentSize) {
    return { valid: false, reason: 'root does not cover the snark segments' }
  }
  const all = leaves(o.root)
  if (all.length !== o.segments) return { valid: false, reason: `root holds ${all.length} segment proofs, not ${o.segments}` }
  for (const [k, leaf] of all.entries()) {
    if (leaf.start !== o.boundaries[k] || leaf.end !== o.boundaries[k + 1]) return { valid: false, reason: `segment ${k} states are not the committed boundaries` }
  }
  const root = await checkProof(o.root, artifacts, options.signal)
  if (!root.valid) return { valid: false, reason: `root: ${root.reason ?? 'invalid'}` }
  return { valid: true }
}
