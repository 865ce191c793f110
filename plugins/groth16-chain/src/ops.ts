import { z } from 'zod'
import { canonicalJson, decodeInput, decodeOutput, expectInputs, jsonOutput, segmentOf, splitChain, taskInvalid as invalid } from '@galactic/plugin-kit'
import { GalacticError, PLUGIN_PROTOCOL_VERSION, parseOrThrow, type PluginParams, type PluginResult } from '@galactic/schemas'
import { Artifacts } from './artifacts.js'
import {
  MAX_SEGMENTS,
  Proof,
  SEGMENT_SIZES,
  SegmentProof,
  SnarkOutput,
  SplitOutput,
  fieldString,
  initialState,
  runChain,
  type SplitSegment,
} from './chain.js'
import { GAS_MODEL } from './gas.js'
import { aggregateProofs, checkProof, checkSegmentProof, makeSnark, proveSegment, verifyFinal, type VerifyResult } from './proofs.js'

/** The plugin's name and version, as its manifest, `describe` and `init` state them. */
export const PLUGIN_NAME = 'groth16-chain'
export const PLUGIN_VERSION = '1.0.0'
export const OP_NAMES = ['split', 'prove', 'aggregate', 'snark'] as const
export type OpName = (typeof OP_NAMES)[number]

const shared = {
  seed: z.string().min(1).max(1024),
  segmentSize: z.union(
    SEGMENT_SIZES.map((s) => z.literal(s)) as [z.ZodLiteral<16>, z.ZodLiteral<64>],
    { error: `must be one of ${SEGMENT_SIZES.join(', ')} (steps per segment with a circuit)` },
  ),
}
const segments = z.int().min(1).max(MAX_SEGMENTS)

/**
 * Params per op. Unknown fields are ignored. `segments` is required by `split`; the other ops
 * check it when given (the ZKM graph builder gives it to every op).
 */
export const OP_PARAMS = {
  split: z.object({ ...shared, segments }),
  prove: z.object({ ...shared, segments: segments.optional(), segment: z.int().min(0).max(MAX_SEGMENTS - 1) }),
  aggregate: z.object({ ...shared, segments: segments.optional() }),
  snark: z.object({ ...shared, segments: segments.optional() }),
} as const satisfies Record<OpName, z.ZodType>
export type OpParams<O extends OpName> = z.infer<(typeof OP_PARAMS)[O]>

/** Output names per op (one output each). */
export const OP_OUTPUTS = { split: 'segments', prove: 'proof', aggregate: 'proof', snark: 'snark' } as const satisfies Record<OpName, string>

/** What `describe` answers. */
export const DESCRIPTION: PluginResult<'describe'> = {
  name: PLUGIN_NAME,
  version: PLUGIN_VERSION,
  protocolVersion: PLUGIN_PROTOCOL_VERSION,
  ops: [
    { name: 'split', description: 'Runs the Poseidon chain s(i+1) = Poseidon(s(i), i) and cuts it into segments (start, offset, end each).' },
    { name: 'prove', description: 'A Groth16 proof of one segment (public signals: start, offset, end).' },
    { name: 'aggregate', description: 'Verifies two adjacent proofs (Groth16) and their continuity; outputs the combined claim embedding both. Not recursive.' },
    { name: 'snark', description: 'One Groth16 proof over a Poseidon commitment to all boundary states (public: first, last, commitment, count), with the verified root embedded.' },
  ],
  resources: { cpuCores: 2, memoryMiB: 2048 },
  gas: GAS_MODEL,
  notes:
    'Real Groth16 proofs (circom + snarkjs, bn128) of a Poseidon hash chain. Aggregation is NOT recursive: an aggregate ' +
    'output embeds its children and is checked by re-verifying every segment proof under it; the final snark proves ' +
    'knowledge of boundary states with a given Poseidon commitment, first and last state, and attests the whole run ' +
    'only together with the embedded, verified segment proofs. Keys come from a local development ceremony ' +
    '(scripts/setup.mjs: one contribution per phase), not a trusted setup: whoever ran it can forge proofs. ' +
    `Segment sizes: ${SEGMENT_SIZES.join(', ')} steps (64 only if built); at most ${MAX_SEGMENTS} segments.`,
}

type Input = PluginParams<'start'>['inputs'][number]
type Output = PluginResult<'start'>['outputs'][number]

/** What an op runs with: the circuits, and a signal that cancels it. */
export interface OpContext {
  artifacts?: Artifacts
  signal?: AbortSignal
}

/** Parses an op's params, or throws TASK_INVALID whose message and `details.issues` name the field. */
export function parseOpParams<O extends OpName>(op: O, params: unknown): OpParams<O> {
  return parseOrThrow(OP_PARAMS[op], params, `${op} params`, 'TASK_INVALID') as OpParams<O>
}

function isOpName(op: string): op is OpName {
  return (OP_NAMES as readonly string[]).includes(op)
}
/** The `split` op: runs the whole chain, recording each segment's start, offset and end. */
export async function split(p: OpParams<'split'>, signal?: AbortSignal): Promise<SplitOutput> {
  return splitChain({ initial: initialState, run: runChain, show: fieldString }, p, signal)
}

/** The split input of a prove op, checked against the op's params: the segment to prove. */
function segmentFor(p: OpParams<'prove'>, input: Input): SplitSegment {
  return segmentOf(decodeInput(SplitOutput, input, 0, 'split output'), p)
}

/**
 * Runs one task: validates the op, its params and inputs, does the work and returns its outputs.
 * Throws GalacticError TASK_INVALID (bad op, params or inputs), PLUGIN_FAILED (artifacts missing)
 * or the signal's abort reason.
 */
export async function runOp(task: Pick<PluginParams<'start'>, 'op' | 'params' | 'inputs'>, ctx: OpContext = {}): Promise<PluginResult<'start'>> {
  const { op, inputs } = task
  const artifacts = ctx.artifacts ?? new Artifacts()
  const signal = ctx.signal
  if (!isOpName(op)) throw invalid(`unknown op ${JSON.stringify(op)}; this plugin serves ${OP_NAMES.join(', ')}`, { op })
  switch (op) {
    case 'split': {
      const p = parseOpParams('split', task.params)
      expectInputs(op, inputs, 0)
      artifacts.segment(p.segmentSize)
      return { outputs: [jsonOutput(OP_OUTPUTS.split, await split(p, signal))] }
    }
    case 'prove': {
      const p = parseOpParams('prove', task.params)
      expectInputs(op, inputs, 1)
      const seg = segmentFor(p, inputs[0] as Input)
      const proof = await proveSegment(BigInt(seg.start), p.segment, p.segmentSize, artifacts, signal)
      if (proof.end !== seg.end) throw invalid(`the split output's end state for segment ${p.segment} is wrong`)
      return { outputs: [jsonOutput(OP_OUTPUTS.prove, proof)] }
    }
    case 'aggregate': {
      const p = parseOpParams('aggregate', task.params)
      expectInputs(op, inputs, 2)
      const left = decodeInput(Proof, inputs[0] as Input, 0, 'proof')
      const right = decodeInput(Proof, inputs[1] as Input, 1, 'proof')
      if (left.segmentSize !== p.segmentSize || right.segmentSize !== p.segmentSize) throw invalid(`proofs are not for segmentSize ${p.segmentSize}`)
      return { outputs: [jsonOutput(OP_OUTPUTS.aggregate, await aggregateProofs(left, right, artifacts, signal))] }
    }
    case 'snark': {
      const p = parseOpParams('snark', task.params)
      expectInputs(op, inputs, 1)
      const root = decodeInput(Proof, inputs[0] as Input, 0, 'proof')
      if (root.segmentSize !== p.segmentSize) throw invalid(`root proof is not for segmentSize ${p.segmentSize}`)
      return { outputs: [jsonOutput(OP_OUTPUTS.snark, await makeSnark(root, p.seed, p.segments, artifacts, signal))] }
    }
  }
}

/**
 * The protocol's `verify`: checks `outputs` against the task (op, params, inputs) that claims them.
 * split: recomputed; prove: Groth16 verify plus the claim matches the params and split input;
 * aggregate: children equal the inputs and everything re-checked; snark: {@link verifyFinal} plus
 * its root equals the input. Bad params, inputs or outputs are `valid: false` with the reason.
 * Throws only when the plugin cannot check (artifacts missing) or the signal aborts.
 */
export async function verifyOp(task: PluginParams<'verify'>, ctx: OpContext = {}): Promise<VerifyResult> {
  try {
    return await verifyOrThrow(task, ctx)
  } catch (err) {
    if (GalacticError.is(err, 'TASK_INVALID')) return { valid: false, reason: err.message }
    throw err
  }
}

async function verifyOrThrow(task: PluginParams<'verify'>, ctx: OpContext): Promise<VerifyResult> {
  const { op, inputs, outputs } = task
  const artifacts = ctx.artifacts ?? new Artifacts()
  const signal = ctx.signal
  if (!isOpName(op)) throw invalid(`unknown op ${JSON.stringify(op)}; this plugin serves ${OP_NAMES.join(', ')}`, { op })
  switch (op) {
    case 'split': {
      const p = parseOpParams('split', task.params)
      expectInputs(op, inputs, 0)
      const claimed = decodeOutput(SplitOutput, outputs, OP_OUTPUTS.split, 'split output')
      const made = await split(p, signal)
      return canonicalJson(claimed) === canonicalJson(made) ? { valid: true } : { valid: false, reason: 'split output differs from the recomputed chain' }
    }
    case 'prove': {
      const p = parseOpParams('prove', task.params)
      expectInputs(op, inputs, 1)
      const seg = segmentFor(p, inputs[0] as Input)
      const claimed = decodeOutput(SegmentProof, outputs, OP_OUTPUTS.prove, 'segment proof')
      if (claimed.segment !== p.segment || claimed.segmentSize !== p.segmentSize) return { valid: false, reason: 'proof is for another segment or segment size' }
      if (claimed.offset !== seg.offset || claimed.start !== seg.start || claimed.end !== seg.end) {
        return { valid: false, reason: `proof's offset, start or end is not the split's segment ${p.segment}` }
      }
      return checkSegmentProof(claimed, artifacts)
    }
    case 'aggregate': {
      const p = parseOpParams('aggregate', task.params)
      expectInputs(op, inputs, 2)
      const left = decodeInput(Proof, inputs[0] as Input, 0, 'proof')
      const right = decodeInput(Proof, inputs[1] as Input, 1, 'proof')
      const claimed = decodeOutput(Proof, outputs, OP_OUTPUTS.aggregate, 'proof')
      if (claimed.kind !== 'aggregate') return { valid: false, reason: 'output is not an aggregate proof' }
      if (claimed.segmentSize !== p.segmentSize) return { valid: false, reason: `output is not for segmentSize ${p.segmentSize}` }
      if (canonicalJson(claimed.children[0]) !== canonicalJson(left) || canonicalJson(claimed.children[1]) !== canonicalJson(right)) {
        return { valid: false, reason: 'output children are not the inputs' }
      }
      return checkProof(claimed, artifacts, signal)
    }
    case 'snark': {
      const p = parseOpParams('snark', task.params)
      expectInputs(op, inputs, 1)
      const root = decodeInput(Proof, inputs[0] as Input, 0, 'proof')
      const claimed = decodeOutput(SnarkOutput, outputs, OP_OUTPUTS.snark, 'snark output')
      if (canonicalJson(claimed.root) !== canonicalJson(root)) return { valid: false, reason: 'snark root is not the input proof' }
      return verifyFinal(claimed, {
        seed: p.seed,
        segmentSize: p.segmentSize,
        ...(p.segments === undefined ? {} : { segments: p.segments }),
        artifacts,
        ...(signal === undefined ? {} : { signal }),
      })
    }
  }
}

export { canonicalJson }
