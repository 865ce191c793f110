import jsep from 'jsep'
import { GalacticError, MAX_GAS_EXPR_CHARS, type GasExpr } from '@galactic/schemas'

/**
 * Cost-model expressions: arithmetic over an op's params, parsed with jsep and compiled into a
 * closure once. Only a whitelist is accepted:
 * - number literals;
 * - `params.a.b` (dotted member access from `params`; no other identifier, no `params["a"]`);
 * - unary `-`; binary `+ - * / %`; parentheses;
 * - the functions `log2(x)`, `ceil(x)`, `floor(x)`, `min(a, ...)`, `max(a, ...)`, `pow(x, y)`.
 * Anything else is refused at compile time.
 */

/** Where an expression sits in a cost model, so every error names it. */
export interface ExprSite {
  /** The op name in the model. */
  op: string
  /** Index of the term in the op's list. */
  term: number
  field: 'count' | 'size'
}

/** A compiled expression: evaluates against an op's params, throws INVALID_GRAPH when they do not fit. */
export interface CompiledExpr {
  /** The source (a number or the expression string). */
  readonly source: GasExpr
  /** The param paths it reads, e.g. `["params.segments"]`. */
  readonly params: readonly string[]
  /** The value for these params: finite and >= 0, else INVALID_GRAPH naming the op, term and field. */
  evaluate(params: unknown): number
}

type Eval = (params: unknown) => number

const FUNCTIONS: Record<string, { arity: [number, number]; fn: (...args: number[]) => number }> = {
  log2: { arity: [1, 1], fn: Math.log2 },
  ceil: { arity: [1, 1], fn: Math.ceil },
  floor: { arity: [1, 1], fn: Math.floor },
  min: { arity: [1, 16], fn: Math.min },
  max: { arity: [1, 16], fn: Math.max },
  pow: { arity: [2, 2], fn: Math.pow },
}
const BINARY: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
}
const ALLOWED = 'number literals, params.<name>, unary -, + - * / %, parentheses and log2, ceil, floor, min, max, pow'

export function siteLabel(site: ExprSite): string {
  return `op ${JSON.stringify(site.op)}: terms[${site.term}].${site.field}`
}

function sitePath(site: ExprSite): string {
  return `ops.${site.op}[${site.term}].${site.field}`
}

function refuse(site: ExprSite, problem: string): GalacticError {
  const message = `invalid cost model: ${siteLabel(site)}: ${problem}`
  return new GalacticError('INVALID_GAS_MODEL', message, {
    op: site.op,
    term: site.term,
    field: site.field,
    issues: [{ path: sitePath(site), message: problem }],
  })
}

function misfit(site: ExprSite, problem: string, param?: string): GalacticError {
  return new GalacticError('INVALID_GRAPH', `${siteLabel(site)}: ${problem}`, {
    op: site.op,
    term: site.term,
    field: site.field,
    ...(param === undefined ? {} : { param }),
  })
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 32 ? `${value.slice(0, 32)}...` : value)})`
  return `a ${typeof value}`
}

/** `params.a.b` -> ['a', 'b'], or undefined when the member chain is not rooted at `params` with dotted names. */
function memberPath(node: jsep.Expression): string[] | undefined {
  const path: string[] = []
  let current = node
  while (current.type === 'MemberExpression') {
    const m = current as jsep.MemberExpression
    if (m.computed || m.optional === true || m.property.type !== 'Identifier') return undefined
    path.unshift((m.property as jsep.Identifier).name)
    current = m.object
  }
  if (current.type !== 'Identifier' || (current as jsep.Identifier).name !== 'params') return undefined
  return path
}

function lookup(site: ExprSite, params: unknown, path: readonly string[]): number {
  let value: unknown = params
  for (let i = 0; i < path.length; i++) {
    const key = path[i] as string
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) {
      const where = `params.${path.slice(0, i + 1).join('.')}`
      throw misfit(site, `${where} is missing (the model reads params.${path.join('.')})`, `params.${path.join('.')}`)
    }
    value = (value as Record<string, unknown>)[key]
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    const where = `params.${path.join('.')}`
    throw misfit(site, `${where} is ${describeValue(value)}, not a number`, where)
  }
  return value
}

function compileNode(node: jsep.Expression, site: ExprSite, reads: Set<string>): Eval {
  switch (node.type) {
    case 'Literal': {
      const value = (node as jsep.Literal).value
      if (typeof value !== 'number' || !Number.isFinite(value)) throw refuse(site, `literal ${(node as jsep.Literal).raw} is not a number`)
      return () => value
    }
    case 'Identifier': {
      const name = (node as jsep.Identifier).name
      if (name === 'params') throw refuse(site, 'params alone is not a number: name a field, e.g. params.segments')
      throw refuse(site, `unknown identifier ${JSON.stringify(name)} (only params.<name> may be read)`)
    }
    case 'MemberExpression': {
      const path = memberPath(node)
      if (path === undefined) throw refuse(site, 'only dotted params.<name> member access is allowed (no computed [..] access, no other object)')
      reads.add(`params.${path.join('.')}`)
      return (params) => lookup(site, params, path)
    }
    case 'UnaryExpression': {
      const u = node as jsep.UnaryExpression
      if (u.operator !== '-') throw refuse(site, `operator ${u.operator} is not allowed (unary - only)`)
      const arg = compileNode(u.argument, site, reads)
      return (params) => -arg(params)
    }
    case 'BinaryExpression': {
      const b = node as jsep.BinaryExpression
      const op = Object.hasOwn(BINARY, b.operator) ? BINARY[b.operator] : undefined
      if (op === undefined) throw refuse(site, `operator ${b.operator} is not allowed (+ - * / % only${b.operator === '**' ? '; use pow(x, y)' : ''})`)
      const left = compileNode(b.left, site, reads)
      const right = compileNode(b.right, site, reads)
      return (params) => op(left(params), right(params))
    }
    case 'CallExpression': {
      const c = node as jsep.CallExpression
      if (c.callee.type !== 'Identifier') throw refuse(site, `only the functions ${Object.keys(FUNCTIONS).join(', ')} may be called`)
      const name = (c.callee as jsep.Identifier).name
      const f = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined
      if (f === undefined) throw refuse(site, `unknown function ${JSON.stringify(name)} (allowed: ${Object.keys(FUNCTIONS).join(', ')})`)
      const [lo, hi] = f.arity
      if (c.arguments.length < lo || c.arguments.length > hi) {
        throw refuse(site, `${name} takes ${lo === hi ? lo : `${lo} to ${hi}`} argument(s), got ${c.arguments.length}`)
      }
      const args = c.arguments.map((a) => compileNode(a, site, reads))
      const fn = f.fn
      if (args.length === 1) {
        const a0 = args[0] as Eval
        return (params) => fn(a0(params))
      }
      return (params) => fn(...args.map((a) => a(params)))
    }
    default: {
      const what: Record<string, string> = {
        Compound: 'several expressions (a comma or ;)',
        SequenceExpression: 'a sequence',
        ConditionalExpression: 'a conditional (? :)',
        ArrayExpression: 'an array',
        ThisExpression: 'this',
      }
      throw refuse(site, `${what[node.type] ?? node.type} is not allowed (allowed: ${ALLOWED})`)
    }
  }
}

/**
 * Compiles one cost-model expression (a non-negative number or a string). Throws INVALID_GAS_MODEL
 * naming the op, the term index, the field and the problem when it is outside the whitelist.
 *
 * @example
 * const e = compileExpr('params.segments * ceil(log2(params.n))', { op: 'prove', term: 0, field: 'count' })
 * e.evaluate({ segments: 4, n: 1000 }) // 40
 */
export function compileExpr(source: GasExpr, site: ExprSite): CompiledExpr {
  if (typeof source === 'number') {
    if (!Number.isFinite(source) || source < 0) throw refuse(site, `${source} is not a finite number >= 0`)
    return { source, params: [], evaluate: () => source }
  }
  if (typeof source !== 'string') throw refuse(site, 'expected a number or an expression string')
  if (source.trim() === '') throw refuse(site, 'the expression is empty')
  if (source.length > MAX_GAS_EXPR_CHARS) throw refuse(site, `the expression is ${source.length} characters, the limit is ${MAX_GAS_EXPR_CHARS}`)
  let ast: jsep.Expression
  try {
    ast = jsep(source)
  } catch (err) {
    throw refuse(site, `cannot parse ${JSON.stringify(source)}: ${(err as Error).message}`)
  }
  const reads = new Set<string>()
  const run = compileNode(ast, site, reads)
  return {
    source,
    params: [...reads],
    evaluate(params: unknown): number {
      const value = run(params)
      if (!Number.isFinite(value) || value < 0) {
        throw misfit(site, `${JSON.stringify(source)} evaluates to ${value} for these params (must be a finite number >= 0)`)
      }
      return value
    },
  }
}
