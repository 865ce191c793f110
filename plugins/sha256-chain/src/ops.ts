import { z } from 'zod'
import { GalacticError, parseOrThrow, type PluginParams, type PluginResult } from '@galactic/schemas'
import {
  Proof,
  SplitOutput,
  aggregateProofs,
  initialState,
  makeSnark,
  proveSegment,
  runChain,
  toHex,
  type Hex32,
} from './chain.js'

/** The plugin's name and version, as its manifest and `init` state them. */
export const PLUGIN_NAME = 'sha256-chain'
export const PLUGIN_VERSION = '1.0.0'
export const OP_NAMES = ['split', 'prove', 'aggregate', 'snark'] as const
export type OpName = (typeof OP_NAMES)[number]

export const MAX_SEGMENTS = 4096
export const MAX_SEGMENT_STEPS = 10_000_000

const shared = {
  seed: z.string().min(1).max(1024),
  segmentSteps: z.int().min(1).max(MAX_SEGMENT_STEPS),
}
const segments = z.int().min(1).max(MAX_SEGMENTS)

/**
 * Params per op. Unknown fields are ignored. `segments` is required by `split`; the other ops
 * check it when given (the ZKM graph builder passes it to `split` only).
 */
export const OP_PARAMS = {
  split: z.object({ ...shared, segments }),
  prove: z.object({ ...shared, segments: segments.optional(), segment: z.int().min(0).max(MAX_SEGMENTS - 1) }),
  aggregate: z.object({ ...shared, segments: segments.optional() }),
  snark: z.object({ ...shared, segments: segments.optional() }),
} as const satisfies Record<OpName, z.ZodType>
export type OpParams<O extends OpName> = z.infer<(typeof OP_PARAMS)[O]>

type Input = PluginParams<'start'>['inputs'][number]
type Output = PluginResult<'start'>['outputs'][number]

function invalid(message: string, details?: Record<string, unknown>): GalacticError {
  return new GalacticError('TASK_INVALID', message, details)
}

/** Parses an op's params, or throws TASK_INVALID whose message and `details.issues` name the field. */
export function parseOpParams<O extends OpName>(op: O, params: unknown): OpParams<O> {
  return parseOrThrow(OP_PARAMS[op], params, `${op} params`, 'TASK_INVALID') as OpParams<O>
}

function decodeInput<S extends z.ZodType>(schema: S, input: Input, index: number, what: string): z.infer<S> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(input.data, 'base64').toString('utf8'))
  } catch {
    throw invalid(`input ${index} (${input.opId}/${input.name}) is not JSON`, { input: index })
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw invalid(`input ${index} (${input.opId}/${input.name}) is not a ${what}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`, {
      input: index,
    })
  }
  return parsed.data
}

function expectInputs(op: OpName, inputs: readonly Input[], count: number): void {
  if (inputs.length !== count) throw invalid(`${op} takes ${count} input(s), got ${inputs.length}`, { inputs: inputs.length })
}

function jsonOutput(name: string, value: unknown): Output {
  return { name, data: Buffer.from(JSON.stringify(value), 'utf8').toString('base64') }
}

function isOpName(op: string): op is OpName {
  return (OP_NAMES as readonly string[]).includes(op)
}

/**
 * Runs one task of the plugin: validates the op, its params and inputs, does the work and returns
 * its outputs. Throws GalacticError TASK_INVALID (bad op, params or inputs) or TASK_CANCELLED.
 */
export async function runOp(task: Pick<PluginParams<'start'>, 'op' | 'params' | 'inputs'>, signal?: AbortSignal): Promise<PluginResult<'start'>> {
  const { op, inputs } = task
  if (!isOpName(op)) throw invalid(`unknown op ${JSON.stringify(op)}; this plugin serves ${OP_NAMES.join(', ')}`, { op })
  switch (op) {
    case 'split': {
      const p = parseOpParams('split', task.params)
      expectInputs(op, inputs, 0)
      return { outputs: [jsonOutput('segments', await split(p, signal))] }
    }
    case 'prove': {
      const p = parseOpParams('prove', task.params)
      expectInputs(op, inputs, 1)
      const plan = decodeInput(SplitOutput, inputs[0] as Input, 0, 'split output')
      if (plan.seed !== p.seed || plan.segmentSteps !== p.segmentSteps || (p.segments !== undefined && plan.segments !== p.segments)) {
        throw invalid('the split output was made with other params (seed, segments or segmentSteps)')
      }
      if (plan.starts.length !== plan.segments) throw invalid(`the split output has ${plan.starts.length} starts for ${plan.segments} segments`)
      if (p.segment >= plan.segments) {
        throw invalid(`invalid prove params: segment: must be < segments (${plan.segments})`, {
          issues: [{ path: 'segment', message: `must be < segments (${plan.segments})` }],
        })
      }
      const from = p.segment * p.segmentSteps
      const proof = await proveSegment(plan.starts[p.segment] as Hex32, from, from + p.segmentSteps, signal)
      return { outputs: [jsonOutput('proof', proof)] }
    }
    case 'aggregate': {
      parseOpParams('aggregate', task.params)
      expectInputs(op, inputs, 2)
      const left = decodeInput(Proof, inputs[0] as Input, 0, 'proof')
      const right = decodeInput(Proof, inputs[1] as Input, 1, 'proof')
      return { outputs: [jsonOutput('proof', aggregateProofs(left, right))] }
    }
    case 'snark': {
      const p = parseOpParams('snark', task.params)
      expectInputs(op, inputs, 1)
      const root = decodeInput(Proof, inputs[0] as Input, 0, 'proof')
      if (p.segments === undefined) {
        const n = root.to / p.segmentSteps
        if (!Number.isInteger(n) || n < 1 || n > MAX_SEGMENTS) throw invalid(`root proof ends at step ${root.to}, not a whole number of segments`)
      }
      const steps = p.segments === undefined ? undefined : p.segments * p.segmentSteps
      return { outputs: [jsonOutput('snark', makeSnark(root, p.seed, steps))] }
    }
  }
}

/** What `verify` answers. */
export type VerifyResult = PluginResult<'verify'>

/** JSON with object keys sorted, so two equal values print the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** The first field (dotted path) where two JSON values differ, or undefined when they are equal. */
function firstDifference(expected: unknown, actual: unknown, path = ''): string | undefined {
  if (canonical(expected) === canonical(actual)) return undefined
  const bothObjects = expected !== null && actual !== null && typeof expected === 'object' && typeof actual === 'object'
  if (!bothObjects || Array.isArray(expected) !== Array.isArray(actual)) return path === '' ? '(root)' : path
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)])
  for (const key of [...keys].sort()) {
    const diff = firstDifference((expected as Record<string, unknown>)[key], (actual as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`)
    if (diff !== undefined) return diff
  }
  return path === '' ? '(root)' : path
}

/**
 * Checks outputs against the task that claims to have made them by doing the task again
 * (as costly as the task itself) and comparing, output by output, the decoded JSON. Resolves
 * `{ valid: false, reason }` naming the first output and field that differ, or why the task
 * itself is invalid (then no output can be right). Throws TASK_INVALID for an op this plugin does
 * not serve, TASK_CANCELLED when `signal` aborts.
 *
 * @example
 * const task = { op: 'split', params: { seed: 'a', segments: 2, segmentSteps: 10 }, inputs: [] }
 * const { outputs } = await runOp(task)
 * await verifyOp({ ...task, outputs }) // { valid: true }
 */
export async function verifyOp(task: PluginParams<'verify'>, signal?: AbortSignal): Promise<VerifyResult> {
  if (!isOpName(task.op)) throw invalid(`unknown op ${JSON.stringify(task.op)}; this plugin serves ${OP_NAMES.join(', ')}`, { op: task.op })
  let expected: PluginResult<'start'>
  try {
    expected = await runOp(task, signal)
  } catch (err) {
    if (GalacticError.is(err, 'TASK_INVALID')) return { valid: false, reason: `the task itself is invalid: ${err.message}`.slice(0, 4096) }
    throw err
  }
  const names = (outputs: readonly Output[]): string => outputs.map((o) => o.name).join(', ')
  if (task.outputs.length !== expected.outputs.length || task.outputs.some((o, i) => o.name !== expected.outputs[i]?.name)) {
    return { valid: false, reason: `expected outputs [${names(expected.outputs)}], got [${names(task.outputs)}]` }
  }
  for (const [i, output] of task.outputs.entries()) {
    let actual: unknown
    try {
      actual = JSON.parse(Buffer.from(output.data, 'base64').toString('utf8'))
    } catch {
      return { valid: false, reason: `output ${output.name} is not JSON` }
    }
    const want = JSON.parse(Buffer.from((expected.outputs[i] as Output).data, 'base64').toString('utf8')) as unknown
    const diff = firstDifference(want, actual)
    if (diff !== undefined) return { valid: false, reason: `output ${output.name}: ${diff} is not what the ${task.op} op makes from these inputs and params` }
  }
  return { valid: true }
}

/** The `split` op: runs the whole chain and records the start state of every segment and the end state. */
export async function split(p: OpParams<'split'>, signal?: AbortSignal): Promise<SplitOutput> {
  const starts: Hex32[] = []
  let state = initialState(p.seed)
  for (let k = 0; k < p.segments; k++) {
    starts.push(toHex(state))
    state = await runChain(state, k * p.segmentSteps, p.segmentSteps, signal)
  }
  return { seed: p.seed, segments: p.segments, segmentSteps: p.segmentSteps, starts, end: toHex(state) }
}
