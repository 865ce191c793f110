import {
  CostModel,
  GalacticError,
  GasTable,
  isSizedGasUnit,
  pluginKey,
  zodIssues,
  type GasUnit,
  type PluginRef,
  type UnitCost,
} from '@galactic/schemas'
import { compileExpr, type CompiledExpr } from './expr.js'

/** One term of a compiled cost model. */
export interface CompiledTerm {
  readonly unit: GasUnit
  readonly count: CompiledExpr
  /** MSM and NTT units only. */
  readonly size?: CompiledExpr
}

/** A cost model checked and compiled once ({@link compileCostModel}), evaluated many times ({@link opGas}). */
export interface CompiledCostModel {
  readonly model: CostModel
  readonly ops: ReadonlyMap<string, readonly CompiledTerm[]>
}

/** One term's share of an op's gas. */
export interface TermGas {
  unit: GasUnit
  /** How many times the unit (or, for MSM/NTT, how many MSMs/NTTs). */
  count: number
  /** MSM: points (rounded up to an integer); NTT: domain (rounded up to a power of two). */
  size?: number
  /** The term's gas, before the op's total is rounded up. */
  gas: number
}

/** An op's gas: an integer (rounded up), and where it comes from. */
export interface OpGas {
  gas: number
  terms: TermGas[]
}

function modelError(message: string, details: Record<string, unknown>): GalacticError {
  return new GalacticError('INVALID_GAS_MODEL', message, details)
}

/** Parses a gas table, or throws INVALID_INPUT naming the field (`what` names the source, e.g. a file). */
export function parseGasTable(value: unknown, what = 'gas table'): GasTable {
  const parsed = GasTable.safeParse(value)
  if (parsed.success) return parsed.data
  const issues = zodIssues(parsed.error)
  const first = issues[0]
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
  throw new GalacticError('INVALID_INPUT', `invalid ${what}: ${first?.path}: ${first?.message}${more}`, { issues })
}

/**
 * Validates a cost model (schema, then every expression against the whitelist) and compiles it for
 * fast evaluation. Throws INVALID_GAS_MODEL naming the op, the term index, the field and the problem.
 *
 * @example
 * const model = compileCostModel({ version: 1, ops: { prove: [{ unit: 'hash:sha256', count: 'params.segmentSteps' }] } })
 * opGas(DEFAULT_GAS_TABLE, model, 'prove', { segmentSteps: 1000 }).gas // 1000 x sha256 block gas
 */
export function compileCostModel(model: unknown): CompiledCostModel {
  const parsed = CostModel.safeParse(model)
  if (!parsed.success) {
    const issues = zodIssues(parsed.error)
    const first = issues[0]
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
    throw modelError(`invalid cost model: ${first?.path}: ${first?.message}${more}`, { issues })
  }
  const ops = new Map<string, CompiledTerm[]>()
  for (const [op, terms] of Object.entries(parsed.data.ops)) {
    ops.set(
      op,
      terms.map((term, i) => {
        const count = compileExpr(term.count, { op, term: i, field: 'count' })
        if (term.size === undefined) return { unit: term.unit, count }
        return { unit: term.unit, count, size: compileExpr(term.size, { op, term: i, field: 'size' }) }
      }),
    )
  }
  return { model: parsed.data, ops }
}

/**
 * The gas of one unit at size `n` (MSM points, NTT domain): `sizes` interpolated linearly in log2(n)
 * and clamped at the ends, or `gas` when the unit has no `sizes`.
 */
export function unitGasAt(cost: UnitCost, n: number): number {
  const sizes = cost.sizes
  if (sizes === undefined || sizes.length === 0) return cost.gas
  const first = sizes[0] as (typeof sizes)[number]
  const last = sizes[sizes.length - 1] as (typeof sizes)[number]
  const x = n > 0 ? Math.log2(n) : Number.NEGATIVE_INFINITY
  if (x <= first.log2) return first.gas
  if (x >= last.log2) return last.gas
  for (let i = 1; i < sizes.length; i++) {
    const hi = sizes[i] as (typeof sizes)[number]
    if (x <= hi.log2) {
      const lo = sizes[i - 1] as (typeof sizes)[number]
      return lo.gas + ((hi.gas - lo.gas) * (x - lo.log2)) / (hi.log2 - lo.log2)
    }
  }
  return last.gas
}

/** The smallest power of two >= n (1 for n <= 1). */
export function nttDomain(n: number): number {
  if (n <= 1) return 1
  return 2 ** Math.ceil(Math.log2(Math.ceil(n)))
}

/** Butterflies of a radix-2 NTT over a domain of `domain` (a power of two): domain/2 x log2(domain). */
export function nttButterflies(domain: number): number {
  return domain <= 1 ? 0 : (domain / 2) * Math.log2(domain)
}

/**
 * The gas of one term for already evaluated `count` and `size`:
 * field and hash units: count x gas; MSM: count x points x perPoint(points), points = ceil(size);
 * NTT: count x (n/2 x log2 n) x perButterfly(n), n = size rounded up to a power of two.
 */
export function termGas(table: GasTable, unit: GasUnit, count: number, size?: number): TermGas {
  const cost = table.units[unit]
  if (!isSizedGasUnit(unit)) return { unit, count, gas: count * cost.gas }
  const raw = size ?? 0
  if (unit === 'ntt:254') {
    const domain = raw <= 0 ? 0 : nttDomain(raw)
    return { unit, count, size: domain, gas: domain === 0 ? 0 : count * nttButterflies(domain) * unitGasAt(cost, domain) }
  }
  const points = Math.ceil(raw)
  return { unit, count, size: points, gas: points === 0 ? 0 : count * points * unitGasAt(cost, points) }
}

/**
 * The gas of op `opName` with `params` under a compiled cost model and a gas table: the terms' gas
 * summed and rounded up to an integer. Throws INVALID_GRAPH when the model has no such op, when the
 * params do not fit an expression (naming the op, term, field and param path) or when the total is
 * not a safe integer.
 */
export function opGas(table: GasTable, compiled: CompiledCostModel, opName: string, params: unknown): OpGas {
  const terms = compiled.ops.get(opName)
  if (terms === undefined) {
    const known = [...compiled.ops.keys()]
    throw new GalacticError('INVALID_GRAPH', `op ${JSON.stringify(opName)} has no cost model (the model prices ${known.length === 0 ? 'no ops' : known.join(', ')})`, {
      op: opName,
    })
  }
  const out: TermGas[] = []
  let total = 0
  for (const term of terms) {
    const count = term.count.evaluate(params)
    const t = termGas(table, term.unit, count, term.size?.evaluate(params))
    out.push(t)
    total += t.gas
  }
  const gas = Math.ceil(total)
  if (!Number.isSafeInteger(gas)) {
    throw new GalacticError('INVALID_GRAPH', `op ${JSON.stringify(opName)}: gas ${total} is over ${Number.MAX_SAFE_INTEGER} (2^53 - 1); check its params`, {
      op: opName,
      gas: total,
    })
  }
  return { gas, terms: out }
}

/** One op of a graph with its gas. */
export interface GraphOpGas extends OpGas {
  opId: string
  name: string
  plugin: PluginRef
}

/** A graph's gas: per op, in the graph's order, and the total. */
export interface GraphGas {
  ops: GraphOpGas[]
  total: number
}

/** What {@link graphGas} needs of a graph: its ops' ids, names, plugins and params. */
export interface GasGraph {
  ops: ReadonlyArray<{ id: string; name: string; plugin: PluginRef; params: unknown }>
}

/**
 * Every op's gas and the total. `models` gives the compiled cost model of a plugin (`name@version`,
 * see `pluginKey`). Throws INVALID_GRAPH naming the op (`ops[i]`, its id) when its plugin has no
 * model, its params do not fit, or the total is not a safe integer.
 */
export function graphGas(table: GasTable, models: ReadonlyMap<string, CompiledCostModel>, graph: GasGraph): GraphGas {
  const ops: GraphOpGas[] = []
  let total = 0
  graph.ops.forEach((op, i) => {
    const where = `ops[${i}] (op ${JSON.stringify(op.id)})`
    const key = pluginKey(op.plugin)
    const model = models.get(key)
    if (model === undefined) {
      throw new GalacticError('INVALID_GRAPH', `${where}: no cost model for plugin ${key}`, {
        issues: [{ path: `ops[${i}].plugin`, message: `no cost model for plugin ${key}` }],
      })
    }
    let priced: OpGas
    try {
      priced = opGas(table, model, op.name, op.params)
    } catch (err) {
      const e = GalacticError.from(err)
      throw new GalacticError(e.code, `${where}: ${e.message}`, { ...e.details, issues: [{ path: `ops[${i}]`, message: e.message }] }, { cause: err })
    }
    ops.push({ opId: op.id, name: op.name, plugin: op.plugin, ...priced })
    total += priced.gas
  })
  if (!Number.isSafeInteger(total)) {
    throw new GalacticError('INVALID_GRAPH', `the graph's total gas ${total} is over ${Number.MAX_SAFE_INTEGER} (2^53 - 1)`, { gas: total })
  }
  return { ops, total }
}
