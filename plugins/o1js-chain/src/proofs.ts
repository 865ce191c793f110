import { GalacticError } from '@galactic/schemas'
import { SEGMENT_SIZE, SnarkOutput, fieldString, initialState, runChain, type ChainProof, type JsonProof } from './chain.js'
import { KeyCache, type VerificationKey } from './keys.js'
import { loadO1js } from './o1js.js'
import type { Prover } from './prover.js'

/**
 * The proofs: a leaf proof per segment, merge proofs that verify their two children inside the
 * circuit (recursive: each is one proof of the same size, whatever it covers), and the snark,
 * which is the root proof checked and bound to the run's seed.
 */

/** The result of a check: `valid: false` carries why. */
export interface VerifyResult {
  valid: boolean
  reason?: string
}

function invalid(message: string, details?: Record<string, unknown>): GalacticError {
  return new GalacticError('TASK_INVALID', message, details)
}

/** The public output a proof of this claim must have: `[start, offset, steps, end]`. */
export function publicOutputOf(p: Pick<ChainProof, 'start' | 'offset' | 'steps' | 'end'>): [string, string, string, string] {
  return [p.start, String(p.offset), String(p.steps), p.end]
}

/**
 * Checks a proof record's fields against each other and its proof's public values: the public
 * output is `[start, offset, steps, end]`, the segments match offset and steps, the key hash is
 * `vk`'s. Undefined when consistent, else why not. Does not verify the proof itself.
 */
export function claimError(p: ChainProof, vk: VerificationKey): string | undefined {
  if (p.verificationKeyHash !== vk.hash) return `made for verification key ${p.verificationKeyHash}, not ${vk.hash}`
  if (p.lastSegment < p.firstSegment) return 'lastSegment is before firstSegment'
  if (p.offset !== p.firstSegment * SEGMENT_SIZE) return `offset ${p.offset} is not firstSegment * ${SEGMENT_SIZE}`
  if (p.steps !== (p.lastSegment - p.firstSegment + 1) * SEGMENT_SIZE) return `steps ${p.steps} is not ${SEGMENT_SIZE} per segment`
  if (p.proof.publicInput.length !== 0) return 'the proof has a public input; the program has none'
  if (p.proof.publicOutput.join() !== publicOutputOf(p).join()) return "the proof's public output is not [start, offset, steps, end]"
  return undefined
}

/** o1js' verification of a proof against the key; a malformed proof is `false`. */
export async function verifyJsonProof(proof: JsonProof, vk: VerificationKey): Promise<boolean> {
  const { verify } = await loadO1js()
  try {
    return await verify(proof, vk.data)
  } catch {
    return false
  }
}

/**
 * Checks a proof record whole: {@link claimError}, then the proof with o1js against the key. A valid
 * merge proof stands for both its children: they were verified inside the circuit.
 */
export async function checkChainProof(p: ChainProof, keys: KeyCache = new KeyCache(), signal?: AbortSignal): Promise<VerifyResult> {
  const vk = keys.verificationKey()
  const claim = claimError(p, vk)
  if (claim !== undefined) return { valid: false, reason: claim }
  signal?.throwIfAborted()
  if (!(await verifyJsonProof(p.proof, vk))) return { valid: false, reason: 'the proof does not verify against the verification key' }
  return { valid: true }
}

/** Why `right` does not continue `left`, or undefined when it does. */
export function continuityError(left: ChainProof, right: ChainProof): string | undefined {
  if (left.lastSegment + 1 !== right.firstSegment) return `segments are not adjacent (left ends at ${left.lastSegment}, right starts at ${right.firstSegment})`
  if (left.offset + left.steps !== right.offset) return `offsets are not adjacent (left ends at step ${left.offset + left.steps}, right starts at ${right.offset})`
  if (left.end !== right.start) return 'left end state is not right start state'
  return undefined
}

/**
 * The `prove` op's work: a leaf proof of segment `segment` from `start` = s(segment * 16). The
 * end state is computed here first and must be the one the circuit outputs.
 */
export async function proveSegment(prover: Prover, start: string, segment: number, signal?: AbortSignal): Promise<ChainProof> {
  const vk = prover.keys.verificationKey()
  const offset = segment * SEGMENT_SIZE
  const end = fieldString(await runChain(BigInt(start), offset, SEGMENT_SIZE, signal))
  const { proof } = await prover.leaf(start, offset, signal)
  const record: ChainProof = {
    kind: 'proof',
    segmentSize: SEGMENT_SIZE,
    firstSegment: segment,
    lastSegment: segment,
    offset,
    steps: SEGMENT_SIZE,
    start,
    end,
    verificationKeyHash: vk.hash,
    proof,
  }
  const claim = claimError(record, vk)
  if (claim !== undefined) throw new GalacticError('INTERNAL', `the leaf proof does not match its claim: ${claim}`)
  return record
}

/**
 * The `aggregate` op's work: checks that `right` continues `left` (TASK_INVALID otherwise), then
 * proves `merge(left, right)`: a new proof whose circuit verifies both (a child proof that does not
 * verify is TASK_INVALID) and checks their continuity again.
 */
export async function mergeProofs(prover: Prover, left: ChainProof, right: ChainProof, signal?: AbortSignal): Promise<ChainProof> {
  const vk = prover.keys.verificationKey()
  for (const [side, p] of [['left', left], ['right', right]] as const) {
    const claim = claimError(p, vk)
    if (claim !== undefined) throw invalid(`${side} proof refused: ${claim}`, { input: side === 'left' ? 0 : 1 })
  }
  const gap = continuityError(left, right)
  if (gap !== undefined) throw invalid(`proofs do not continue each other: ${gap}`)
  const { proof } = await prover.merge(left.proof, right.proof, signal)
  const record: ChainProof = {
    kind: 'proof',
    segmentSize: SEGMENT_SIZE,
    firstSegment: left.firstSegment,
    lastSegment: right.lastSegment,
    offset: left.offset,
    steps: left.steps + right.steps,
    start: left.start,
    end: right.end,
    verificationKeyHash: vk.hash,
    proof,
  }
  const claim = claimError(record, vk)
  if (claim !== undefined) throw new GalacticError('INTERNAL', `the merge proof does not match its claim: ${claim}`)
  return record
}

/**
 * Why `root` is not the proof of a whole run of `seed` (segments `0..segments-1`, from s0), or
 * undefined when it is. Does not verify the proof.
 */
async function coverageError(root: Pick<ChainProof, 'firstSegment' | 'lastSegment' | 'start'>, seed: string, segments: number | undefined): Promise<string | undefined> {
  if (root.firstSegment !== 0) return `the root proof starts at segment ${root.firstSegment}, not 0`
  if (segments !== undefined && root.lastSegment + 1 !== segments) return `the root proof covers ${root.lastSegment + 1} segment(s), not ${segments}`
  if (root.start !== fieldString(await initialState(seed))) return 'the root proof does not start from s0 of the seed'
  return undefined
}

/**
 * The `snark` op's work. It makes NO new proof: o1js proofs are already succinct and the merge
 * tree's root already attests the whole run. It verifies the root, checks it covers segments
 * `0..segments-1` starting at s0 of `seed`, and outputs it as the run's final proof.
 */
export async function makeSnark(root: ChainProof, seed: string, segments: number | undefined, keys: KeyCache = new KeyCache(), signal?: AbortSignal): Promise<SnarkOutput> {
  const checked = await checkChainProof(root, keys, signal)
  if (!checked.valid) throw invalid(`root proof refused: ${checked.reason ?? 'invalid'}`, { input: 0 })
  const gap = await coverageError(root, seed, segments)
  if (gap !== undefined) throw invalid(gap)
  return {
    kind: 'snark',
    seed,
    segmentSize: SEGMENT_SIZE,
    segments: root.lastSegment + 1,
    steps: root.steps,
    start: root.start,
    end: root.end,
    verificationKeyHash: root.verificationKeyHash,
    proof: root.proof,
  }
}

/** What {@link verifyFinal} checks beyond the output itself. */
export interface VerifyFinalOptions {
  /** The seed the run must start from. Without it, the output's own `seed` is used. */
  seed?: string
  /** Segments the run must cover. */
  segments?: number
  /** Where the verification key is; default `<plugin>/cache` or `$GALACTIC_O1JS_CACHE`. */
  keys?: KeyCache
  signal?: AbortSignal
}

/**
 * Checks a `snark` output end to end: its fields against each other (steps = 16 per segment, start
 * = s0 of the seed), the proof's public output `[start, 0, steps, end]`, the verification key hash,
 * and the proof itself with o1js. One recursive proof attests the whole run.
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
  const keys = options.keys ?? new KeyCache()
  if (options.seed !== undefined && o.seed !== options.seed) return { valid: false, reason: 'made for another seed' }
  if (options.segments !== undefined && o.segments !== options.segments) return { valid: false, reason: `covers ${o.segments} segments, not ${options.segments}` }
  const record: ChainProof = { ...o, kind: 'proof', firstSegment: 0, lastSegment: o.segments - 1, offset: 0 }
  const gap = await coverageError(record, o.seed, o.segments)
  if (gap !== undefined) return { valid: false, reason: gap }
  return checkChainProof(record, keys, options.signal)
}
