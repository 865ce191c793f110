import { z } from 'zod'
import { GalacticError, zodIssues, type ValidationIssue } from './errors.js'
import { LIMITS } from './limits.js'
import { Operation, type OperationInput } from './operation.js'
import { Wei } from './pricing.js'

/** `cost`: one prover per op. `performance`: redundant provers per op, first valid result wins. */
export const Priority = z.enum(['cost', 'performance'])
export type Priority = z.infer<typeof Priority>

/** `efficiency`: a fresh plugin per task (the default). `performance`: the plugin stays resident. */
export const PluginMode = z.enum(['efficiency', 'performance'])
export type PluginMode = z.infer<typeof PluginMode>

/** A computation graph as a requester submits it. */
export const Graph = z.strictObject({
  /** Who asks; an Ethereum address once submissions are signed. */
  requester: z.string().min(1).max(128),
  /** Unique per requester: resubmitting the same graph with the same nonce is idempotent. */
  nonce: z.string().min(1).max(128),
  priority: Priority.default('cost'),
  /** Provers per op under `performance` priority. */
  redundancy: z.int().min(1).max(16).optional(),
  pluginMode: PluginMode.default('efficiency'),
  /**
   * The most the requester will pay for the whole graph, in wei. The oracle refuses the graph
   * (PRICE_LIMIT) when its quote is above it, or when an op cannot be priced yet.
   */
  maxPrice: Wei.optional(),
  ops: z.array(Operation).min(1).max(LIMITS.maxOps),
})
export type Graph = z.infer<typeof Graph>
export type GraphInput = z.input<typeof Graph>

/**
 * Validates a graph completely, or throws a GalacticError(`INVALID_GRAPH`) listing every
 * problem with its field path and op id: schema errors, duplicate ids, unknown or repeated
 * inputs, cycles, oracle-owned fields set by the requester, and size limits.
 * A graph is accepted whole or not at all. Returns the graph with defaults filled in and
 * its ops in a topological order (every op after its inputs).
 */
export function parseGraph(input: unknown): Graph {
  const size = safeJsonSize(input)
  if (size > LIMITS.maxGraphBytes) {
    throw invalid([{ path: '(root)', message: `graph is ${size} bytes, the limit is ${LIMITS.maxGraphBytes}` }])
  }
  const parsed = Graph.safeParse(input)
  if (!parsed.success) throw invalid(zodIssues(parsed.error).map((i) => withOpId(i, input)))
  const graph = parsed.data
  const issues: ValidationIssue[] = []
  const index = new Map<string, number>()
  graph.ops.forEach((op, i) => {
    const at = `ops[${i}]`
    const prev = index.get(op.id)
    if (prev !== undefined) issues.push({ path: `${at}.id`, message: `op "${op.id}": duplicate id, first used by ops[${prev}]` })
    else index.set(op.id, i)
    if (op.deviceIds !== null) issues.push({ path: `${at}.deviceIds`, message: `op "${op.id}": deviceIds is set by the oracle, send null` })
    if (op.outputs !== null) issues.push({ path: `${at}.outputs`, message: `op "${op.id}": outputs is set by the oracle, send null` })
    const paramsBytes = JSON.stringify(op.params).length
    if (paramsBytes > LIMITS.maxParamsBytes) {
      issues.push({ path: `${at}.params`, message: `op "${op.id}": params are ${paramsBytes} bytes, the limit is ${LIMITS.maxParamsBytes}` })
    }
  })
  graph.ops.forEach((op, i) => {
    const seen = new Set<string>()
    op.inputs.forEach((inputId, j) => {
      const path = `ops[${i}].inputs[${j}]`
      if (inputId === op.id) issues.push({ path, message: `op "${op.id}": an op cannot consume its own output` })
      else if (!index.has(inputId)) issues.push({ path, message: `op "${op.id}": unknown input op "${inputId}"` })
      if (seen.has(inputId)) issues.push({ path, message: `op "${op.id}": input "${inputId}" listed twice` })
      seen.add(inputId)
    })
  })
  if (issues.length > 0) throw invalid(issues)
  const order = topologicalOrder(graph.ops)
  if (order.cycle !== null) {
    throw invalid([{ path: 'ops', message: `cycle through ops ${order.cycle.map((id) => `"${id}"`).join(' -> ')}` }])
  }
  return { ...graph, ops: order.ops }
}

function invalid(issues: ValidationIssue[]): GalacticError {
  const first = issues[0]
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
  return new GalacticError('INVALID_GRAPH', `invalid graph: ${first?.path}: ${first?.message}${more}`, { issues })
}

/** Adds the op's id to a schema issue under `ops[i]`, so the message says which op. */
function withOpId(issue: ValidationIssue, input: unknown): ValidationIssue {
  const m = /^ops\[(\d+)\]/.exec(issue.path)
  if (m === null) return issue
  const ops = (input as { ops?: unknown } | null)?.ops
  const op = Array.isArray(ops) ? (ops[Number(m[1])] as { id?: unknown } | undefined) : undefined
  return typeof op?.id === 'string' ? { path: issue.path, message: `op "${op.id.slice(0, 128)}": ${issue.message}` } : issue
}

function safeJsonSize(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

/** Kahn's algorithm; on a cycle, returns one cycle's op ids. Inputs are assumed known. */
function topologicalOrder<T extends { id: string; inputs: string[] }>(ops: T[]): { ops: T[]; cycle: string[] | null } {
  const byId = new Map(ops.map((op) => [op.id, op]))
  const waiting = new Map(ops.map((op) => [op.id, op.inputs.length]))
  const consumers = new Map<string, string[]>()
  for (const op of ops) for (const input of op.inputs) consumers.set(input, [...(consumers.get(input) ?? []), op.id])
  const queue = ops.filter((op) => op.inputs.length === 0)
  const out: T[] = []
  for (let i = 0; i < queue.length; i++) {
    const op = queue[i] as T
    out.push(op)
    for (const c of consumers.get(op.id) ?? []) {
      const left = (waiting.get(c) ?? 0) - 1
      waiting.set(c, left)
      if (left === 0) queue.push(byId.get(c) as T)
    }
  }
  if (out.length === ops.length) return { ops: out, cycle: null }
  return { ops: out, cycle: findCycle(ops.filter((op) => (waiting.get(op.id) ?? 0) > 0), byId) }
}

function findCycle<T extends { id: string; inputs: string[] }>(stuck: T[], byId: Map<string, T>): string[] {
  // Every stuck op has a stuck input; walk inputs until an op repeats.
  const stuckIds = new Set(stuck.map((op) => op.id))
  const path: string[] = []
  const pos = new Map<string, number>()
  let current = stuck[0]?.id
  while (current !== undefined && !pos.has(current)) {
    pos.set(current, path.length)
    path.push(current)
    current = byId.get(current)?.inputs.find((id) => stuckIds.has(id))
  }
  if (current === undefined) return path
  return [...path.slice(pos.get(current)), current]
}

export type { OperationInput }
