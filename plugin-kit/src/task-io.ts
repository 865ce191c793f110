import { GalacticError, type PluginInput, type PluginOutput } from '@galactic/schemas'

/**
 * Helpers for plugins whose inputs and outputs are JSON documents (base64 on the wire): decode
 * and check them against a schema, refusing a bad one with TASK_INVALID that says which input or
 * output and which field.
 */

/** Anything with zod's `safeParse`. */
export interface JsonSchema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> } }
}

/** A TASK_INVALID error: the task, not the plugin, is wrong. */
export function taskInvalid(message: string, details?: Record<string, unknown>): GalacticError {
  return new GalacticError('TASK_INVALID', message, details)
}

function decodeJson<T>(schema: JsonSchema<T>, data: string, where: string, what: string, details: Record<string, unknown>): T {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(data, 'base64').toString('utf8'))
  } catch {
    throw taskInvalid(`${where} is not JSON`, details)
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw taskInvalid(`${where} is not a ${what}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`, details)
  }
  return parsed.data
}

/** Input `index` of a task, decoded and checked as a `what`. */
export function decodeInput<T>(schema: JsonSchema<T>, input: PluginInput, index: number, what: string): T {
  return decodeJson(schema, input.data, `input ${index} (${input.opId}/${input.name})`, what, { input: index })
}

/** The one output named `name`, decoded and checked as a `what`. */
export function decodeOutput<T>(schema: JsonSchema<T>, outputs: readonly PluginOutput[], name: string, what: string): T {
  if (outputs.length !== 1 || outputs[0]?.name !== name) throw taskInvalid(`expected one output named ${name}`)
  return decodeJson(schema, outputs[0].data, `output ${name}`, what, { output: name })
}

/** Refuses a task of `op` that does not have exactly `count` inputs. */
export function expectInputs(op: string, inputs: readonly PluginInput[], count: number): void {
  if (inputs.length !== count) throw taskInvalid(`${op} takes ${count} input(s), got ${inputs.length}`, { inputs: inputs.length })
}

/** An output holding `value` as JSON. */
export function jsonOutput(name: string, value: unknown): PluginOutput {
  return { name, data: Buffer.from(JSON.stringify(value), 'utf8').toString('base64') }
}

/** JSON with object keys sorted: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}
