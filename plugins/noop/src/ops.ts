import { contentHash, GalacticError, type PluginParams, type PluginResult } from '@galactic/schemas'

/** The plugin's name and version, as its manifest and `init` state them. */
export const PLUGIN_NAME = 'noop'
export const PLUGIN_VERSION = '1.0.0'
export const OP_NAMES = ['split', 'prove', 'aggregate', 'snark'] as const
export type OpName = (typeof OP_NAMES)[number]

/** The output each op returns, named as sha256-chain names them. */
export const OUTPUT_NAMES: Record<OpName, string> = { split: 'segments', prove: 'proof', aggregate: 'proof', snark: 'snark' }

export interface VerifyResult {
  valid: boolean
  reason?: string
}

function isOpName(op: string): op is OpName {
  return (OP_NAMES as readonly string[]).includes(op)
}

/** JSON with object keys sorted, so equal params give equal digests whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

type Input = PluginParams<'start'>['inputs'][number]

/**
 * The bytes an op returns: `{"plugin":"noop","op":...,"params":"sha256:...","inputs":"sha256:..."}`
 * (about 190 bytes): the digests of its params (canonical JSON) and of its inputs' hashes in order, so
 * two ops of one graph never return the same bytes. Input bytes are not read.
 */
export function outputBytes(op: OpName, params: unknown, inputs: readonly Pick<Input, 'hash'>[]): Buffer {
  const digest = (text: string): string => contentHash(new TextEncoder().encode(text))
  return Buffer.from(JSON.stringify({ plugin: PLUGIN_NAME, op, params: digest(canonicalJson(params)), inputs: digest(inputs.map((i) => i.hash).join('\n')) }))
}

/** Runs one task: no work, one tiny output. */
export function runOp(params: Pick<PluginParams<'start'>, 'op' | 'params' | 'inputs'>): PluginResult<'start'> {
  if (!isOpName(params.op)) throw new GalacticError('TASK_INVALID', `noop does not serve op ${JSON.stringify(params.op)}`, { op: params.op })
  return { outputs: [{ name: OUTPUT_NAMES[params.op], data: outputBytes(params.op, params.params, params.inputs).toString('base64') }] }
}

/** Valid when the outputs are exactly what {@link runOp} returns for this op and params. */
export function verifyOp(params: PluginParams<'verify'>): VerifyResult {
  if (!isOpName(params.op)) return { valid: false, reason: `noop does not serve op ${JSON.stringify(params.op)}` }
  const [out, ...rest] = params.outputs
  if (out === undefined || rest.length > 0) return { valid: false, reason: `expected 1 output, got ${params.outputs.length}` }
  const name = OUTPUT_NAMES[params.op]
  if (out.name !== name) return { valid: false, reason: `expected output ${name}, got ${out.name}` }
  if (!Buffer.from(out.data, 'base64').equals(outputBytes(params.op, params.params, params.inputs))) {
    return { valid: false, reason: `output ${name} is not the ${params.op} output for these params and inputs` }
  }
  return { valid: true }
}
