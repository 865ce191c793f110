import { z } from 'zod'
import { canonicalJson, decodeInput, decodeOutput, expectInputs, jsonOutput, segmentOf, splitChain, taskInvalid as invalid } from '@galactic/plugin-kit'
import { GalacticError, PLUGIN_PROTOCOL_VERSION, parseOrThrow, type PluginParams, type PluginResult } from '@galactic/schemas'
import { ChainProof, MAX_SEGMENTS, SEGMENT_SIZE, SnarkOutput, SplitOutput, fieldString, initialState, runChain, type SplitSegment } from './chain.js'
import { KeyCache } from './keys.js'
import { checkChainProof, continuityError, makeSnark, mergeProofs, proveSegment, verifyFinal, type VerifyResult } from './proofs.js'
import { Prover } from './prover.js'

/** The plugin's name and version, as its manifest, `describe` and `init` state them. */
export const PLUGIN_NAME = 'o1js-chain'
export const PLUGIN_VERSION = '1.0.0'
export const OP_NAMES = ['split', 'prove', 'aggregate', 'snark'] as const
export type OpName = (typeof OP_NAMES)[number]

const shared = {
  seed: z.string().min(1).max(1024),
  segmentSize: z.literal(SEGMENT_SIZE, { error: `must be ${SEGMENT_SIZE} (the leaf circuit's steps per segment)` }).default(SEGMENT_SIZE),
}
const segments = z.int().min(1).max(MAX_SEGMENTS)

/**
 * Params per op. Unknown fields are ignored. `segments` is required by `split`; the other ops
 * check it when given (the ZKM graph builder gives it to every op). `segmentSize` may be left out.
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
    { name: 'split', description: 'Runs the Poseidon chain s(i+1) = Poseidon(s(i), i) over the o1js field and cuts it into 16-step segments (start, offset, end each).' },
    { name: 'prove', description: 'A recursive o1js proof (ZkProgram method leaf) of one segment; public output [start, offset, steps, end].' },
    {
      name: 'aggregate',
      description: 'A recursive o1js proof (method merge) that verifies both child proofs inside the circuit and their continuity (left end = right start, adjacent offsets); claims the combined range.',
    },
    { name: 'snark', description: 'No new proof: verifies the root proof, checks it covers segments 0..n-1 from s0 of the seed, and outputs it as the final proof.' },
  ],
  resources: { cpuCores: 2, memoryMiB: 3072 },
  notes:
    'Real recursive proofs with o1js (Kimchi/Pickles over the Pasta curves): each aggregate is a new proof that verifies its two ' +
    'children inside its circuit, so the root is ONE proof of the whole run, its size and verification cost independent of the ' +
    'segment count. snark makes no new proof: it checks the root and binds it to the seed (o1js proofs are already succinct; ' +
    'no wrap into another proof system). Keys: compiled by o1js from the program itself, no trusted setup (Kimchi uses a ' +
    'transparent SRS); the plugin reads them from a cache filled by `npm run setup -w @galactic/plugin-o1js-chain`. Proofs are ' +
    'made in a separate process per plugin process (killed on cancel), with o1js\' native backend where installed, else wasm. ' +
    `Segments of ${SEGMENT_SIZE} steps; at most ${MAX_SEGMENTS} segments.`,
}

type Input = PluginParams<'start'>['inputs'][number]
type Output = PluginResult<'start'>['outputs'][number]

/** What an op runs with: the prover (and its keys), and a signal that cancels it. */
export interface OpContext {
  /** Makes the proofs; its keys are the ones checked against. @default a new Prover() (kill it with close()) */
  prover?: Prover
  /** Verification only: the keys to check with, when there is no prover. @default prover.keys */
  keys?: KeyCache
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

function keysOf(ctx: OpContext): KeyCache {
  return ctx.keys ?? ctx.prover?.keys ?? new KeyCache()
}

/**
 * Runs one task: validates the op, its params and inputs, does the work and returns its outputs.
 * Throws GalacticError TASK_INVALID (bad op, params or inputs), PLUGIN_FAILED (keys missing or
 * stale, the prover process died) or the signal's abort reason.
 */
export async function runOp(task: Pick<PluginParams<'start'>, 'op' | 'params' | 'inputs'>, ctx: OpContext = {}): Promise<PluginResult<'start'>> {
  const { op, inputs } = task
  const signal = ctx.signal
  if (!isOpName(op)) throw invalid(`unknown op ${JSON.stringify(op)}; this plugin serves ${OP_NAMES.join(', ')}`, { op })
  switch (op) {
    case 'split': {
      const p = parseOpParams('split', task.params)
      expectInputs(op, inputs, 0)
      return { outputs: [jsonOutput(OP_OUTPUTS.split, await split(p, signal))] }
    }
    case 'prove': {
      const p = parseOpParams('prove', task.params)
      expectInputs(op, inputs, 1)
      const seg = segmentFor(p, inputs[0] as Input)
      const proof = await withProver(ctx, (prover) => proveSegment(prover, seg.start, p.segment, signal))
      if (proof.end !== seg.end) throw invalid(`the split output's end state for segment ${p.segment} is wrong`)
      return { outputs: [jsonOutput(OP_OUTPUTS.prove, proof)] }
    }
    case 'aggregate': {
      parseOpParams('aggregate', task.params)
      expectInputs(op, inputs, 2)
      const left = decodeInput(ChainProof, inputs[0] as Input, 0, 'proof')
      const right = decodeInput(ChainProof, inputs[1] as Input, 1, 'proof')
      const merged = await withProver(ctx, (prover) => mergeProofs(prover, left, right, signal))
      return { outputs: [jsonOutput(OP_OUTPUTS.aggregate, merged)] }
    }
    case 'snark': {
      const p = parseOpParams('snark', task.params)
      expectInputs(op, inputs, 1)
      const root = decodeInput(ChainProof, inputs[0] as Input, 0, 'proof')
      return { outputs: [jsonOutput(OP_OUTPUTS.snark, await makeSnark(root, p.seed, p.segments, keysOf(ctx), signal))] }
    }
  }
}

/** Runs `work` with the context's prover, or with a prover of its own that is closed afterwards. */
async function withProver<T>(ctx: OpContext, work: (prover: Prover) => Promise<T>): Promise<T> {
  if (ctx.prover !== undefined) return work(ctx.prover)
  const prover = new Prover(ctx.keys === undefined ? {} : { keys: ctx.keys })
  try {
    return await work(prover)
  } finally {
    await prover.close()
  }
}

/**
 * The protocol's `verify`: checks `outputs` against the task (op, params, inputs) that claims them.
 * split: recomputed; prove: the proof verifies and claims the split's segment; aggregate: the proof
 * verifies and claims exactly the range its two inputs make (which must continue each other);
 * snark: {@link verifyFinal} plus its proof is the input's. Bad params, inputs or outputs are
 * `valid: false` with the reason. Throws only when the plugin cannot check (keys missing) or the
 * signal aborts.
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
  const keys = keysOf(ctx)
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
      const claimed = decodeOutput(ChainProof, outputs, OP_OUTPUTS.prove, 'proof')
      if (claimed.firstSegment !== p.segment || claimed.lastSegment !== p.segment) return { valid: false, reason: `the proof is not of segment ${p.segment} alone` }
      if (claimed.offset !== seg.offset || claimed.start !== seg.start || claimed.end !== seg.end) {
        return { valid: false, reason: `the proof's offset, start or end is not the split's segment ${p.segment}` }
      }
      return checkChainProof(claimed, keys, signal)
    }
    case 'aggregate': {
      parseOpParams('aggregate', task.params)
      expectInputs(op, inputs, 2)
      const left = decodeInput(ChainProof, inputs[0] as Input, 0, 'proof')
      const right = decodeInput(ChainProof, inputs[1] as Input, 1, 'proof')
      const claimed = decodeOutput(ChainProof, outputs, OP_OUTPUTS.aggregate, 'proof')
      const gap = continuityError(left, right)
      if (gap !== undefined) return { valid: false, reason: `the inputs do not continue each other: ${gap}` }
      const expected = { firstSegment: left.firstSegment, lastSegment: right.lastSegment, offset: left.offset, steps: left.steps + right.steps, start: left.start, end: right.end }
      for (const [key, value] of Object.entries(expected)) {
        if (claimed[key as keyof typeof expected] !== value) return { valid: false, reason: `the output's ${key} is not what its inputs make` }
      }
      return checkChainProof(claimed, keys, signal)
    }
    case 'snark': {
      const p = parseOpParams('snark', task.params)
      expectInputs(op, inputs, 1)
      const root = decodeInput(ChainProof, inputs[0] as Input, 0, 'proof')
      const claimed = decodeOutput(SnarkOutput, outputs, OP_OUTPUTS.snark, 'snark output')
      if (canonicalJson(claimed.proof) !== canonicalJson(root.proof)) return { valid: false, reason: "the snark's proof is not the input root proof" }
      return verifyFinal(claimed, { seed: p.seed, ...(p.segments === undefined ? {} : { segments: p.segments }), keys, ...(signal === undefined ? {} : { signal }) })
    }
  }
}

export { canonicalJson }
