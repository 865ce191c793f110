import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GAS_UNITS, GasTable, SIZED_GAS_UNITS, type CostModel, type GasUnit, type UnitCost } from '@galactic/schemas'
import {
  DEFAULT_GAS_TABLE,
  KECCAK_BLOCK_OPS,
  SHA256_BLOCK_OPS,
  calibrate,
  compileCostModel,
  compileExpr,
  fieldAddGas,
  fieldMulGas,
  gasPerSecond,
  graphGas,
  msmPointGas,
  nttButterflies,
  nttDomain,
  opGas,
  parseGasTable,
  parseWei,
  poseidonGas,
  poseidonOps,
  price,
  termGas,
  unitGasAt,
  unitGasPerSecond,
  type CalibrationProgress,
} from '../src/index.js'
import { thrown } from '../../test/support/rejection.js'

function model(ops: Record<string, unknown[]>): unknown {
  return { version: 1, ops }
}

const site = { op: 'prove', term: 2, field: 'count' } as const

describe('cost-model expressions', () => {
  it('evaluate the whitelist: literals, params.a.b, unary -, + - * / %, parentheses, log2 ceil floor min max pow', () => {
    const params = { n: 1000, a: { b: 6 }, k: 3 }
    const cases: Array<[string, number]> = [
      ['42', 42],
      ['1.5e3', 1500],
      ['params.n', 1000],
      ['params.a.b * 2 + 1', 13],
      ['(params.k + 1) * 2', 8],
      ['params.n - -5', 1005],
      ['params.n % 7', 1000 % 7],
      ['params.n / 8', 125],
      ['ceil(log2(params.n))', 10],
      ['floor(log2(params.n))', 9],
      ['min(params.k, 2, 9)', 2],
      ['max(params.k, 2, 9)', 9],
      ['pow(2, ceil(log2(params.n)))', 1024],
      ['-params.k + 10', 7],
    ]
    for (const [source, value] of cases) expect(compileExpr(source, site).evaluate(params), source).toBe(value)
    expect(compileExpr(7, site).evaluate({})).toBe(7)
    expect(compileExpr('params.a.b + params.n', site).params).toEqual(['params.a.b', 'params.n'])
  })

  it('refuses everything else at compile time, naming the op, term, field and problem', () => {
    const refused: Array<[string, RegExp]> = [
      ['x + 1', /unknown identifier "x"/],
      ['params', /params alone/],
      ['params["n"]', /dotted params/],
      ['other.n', /dotted params/],
      ['this', /this is not allowed/],
      ['params.k ? 1 : 2', /conditional/],
      ['[1, 2]', /array/],
      ['1, 2', /several expressions/],
      ['params.k ** 2', /operator \*\* is not allowed.*pow/],
      ['params.k == 2', /operator == is not allowed/],
      ['params.k && 1', /operator && is not allowed/],
      ['params.k << 2', /operator << is not allowed/],
      ['!params.k', /operator ! is not allowed/],
      ['~params.k', /operator ~ is not allowed/],
      ['+params.k', /operator \+ is not allowed/],
      ['exp(1)', /unknown function "exp"/],
      ['constructor(1)', /unknown function "constructor"/],
      ['params.n.toFixed(1)', /only the functions/],
      ['pow(2)', /pow takes 2 argument\(s\), got 1/],
      ['log2(1, 2)', /log2 takes 1 argument\(s\), got 2/],
      ['"text"', /literal "text" is not a number/],
      ['true', /literal true is not a number/],
      ['1 +', /cannot parse/],
      ['   ', /empty/],
      ['1'.repeat(257), /limit is 256/],
    ]
    for (const [source, problem] of refused) {
      const err = thrown(() => compileExpr(source, site))
      expect(err.code, source).toBe('INVALID_GAS_MODEL')
      expect(err.message, source).toMatch(/op "prove": terms\[2\]\.count: /)
      expect(err.message, source).toMatch(problem)
      expect(err.details).toMatchObject({ op: 'prove', term: 2, field: 'count' })
      expect(err.issues[0]?.path).toBe('ops.prove[2].count')
    }
    expect(thrown(() => compileExpr(-1, site)).code).toBe('INVALID_GAS_MODEL')
    expect(thrown(() => compileExpr(Number.NaN, site)).code).toBe('INVALID_GAS_MODEL')
  })

  it('names the param path when params do not fit: missing, not a number, not an object on the way', () => {
    const e = compileExpr('params.a.b * params.n', { op: 'split', term: 0, field: 'size' })
    const missing = thrown(() => e.evaluate({ n: 1 }))
    expect(missing.code).toBe('INVALID_GRAPH')
    expect(missing.message).toMatch(/op "split": terms\[0\]\.size: params\.a is missing/)
    expect(missing.details).toMatchObject({ op: 'split', term: 0, field: 'size', param: 'params.a.b' })
    const notNumber = thrown(() => e.evaluate({ a: { b: '12' }, n: 1 }))
    expect(notNumber.message).toMatch(/params\.a\.b is a string \("12"\), not a number/)
    expect(notNumber.details).toMatchObject({ param: 'params.a.b' })
    expect(thrown(() => e.evaluate({ a: 5, n: 1 })).message).toMatch(/params\.a\.b is missing/)
    expect(thrown(() => e.evaluate({ a: { b: 2 } })).message).toMatch(/params\.n is missing/)
    expect(thrown(() => e.evaluate(null)).message).toMatch(/params\.a is missing/)
    expect(thrown(() => e.evaluate({ a: { b: [1] }, n: 1 })).message).toMatch(/params\.a\.b is an array, not a number/)
    // Inherited properties are not params.
    expect(thrown(() => compileExpr('params.constructor', site).evaluate({})).message).toMatch(/params\.constructor is missing/)
  })

  it('refuses results that are not finite numbers >= 0', () => {
    const e = compileExpr('params.a / params.b', site)
    expect(e.evaluate({ a: 1, b: 4 })).toBe(0.25)
    for (const params of [{ a: 1, b: 0 }, { a: 0, b: 0 }, { a: -1, b: 1 }]) {
      const err = thrown(() => e.evaluate(params))
      expect(err.code).toBe('INVALID_GRAPH')
      expect(err.message).toMatch(/op "prove": terms\[2\]\.count: "params\.a \/ params\.b" evaluates to .* \(must be a finite number >= 0\)/)
    }
    expect(thrown(() => compileExpr('log2(0)', site).evaluate({})).message).toMatch(/evaluates to -Infinity/)
  })
})

describe('compileCostModel', () => {
  it('refuses malformed models with INVALID_GAS_MODEL naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ version: 2, ops: {} }, /version/],
      [model({ prove: [{ unit: 'msm:bn254', count: 1 }] }), /ops\.prove\[0\]\.size: unit msm:bn254 needs a size/],
      [model({ prove: [{ unit: 'hash:sha256', count: 1, size: 4 }] }), /ops\.prove\[0\]\.size: unit hash:sha256 takes no size/],
      [model({ prove: [{ unit: 'hash:md5', count: 1 }] }), /ops\.prove\[0\]\.unit/],
      [model({ prove: [{ unit: 'hash:sha256', count: -3 }] }), /ops\.prove\[0\]\.count/],
      [model({ prove: [{ unit: 'hash:sha256', count: 1, extra: 1 }] }), /ops\.prove\[0\]/],
      [model({ prove: Array.from({ length: 33 }, () => ({ unit: 'add:64', count: 1 })) }), /ops\.prove/],
      [model({ prove: [{ unit: 'hash:sha256', count: 'x' }] }), /op "prove": terms\[0\]\.count: unknown identifier "x"/],
      [model({ prove: [{ unit: 'add:64', count: 1 }, { unit: 'ntt:254', count: 1, size: 'params.n ** 2' }] }), /op "prove": terms\[1\]\.size: operator \*\*/],
    ]
    for (const [m, problem] of cases) {
      const err = thrown(() => compileCostModel(m))
      expect(err.code).toBe('INVALID_GAS_MODEL')
      expect(err.message).toMatch(problem)
    }
  })

  it('opGas: terms by unit semantics, the total rounded up, and a clear error for an op not in the model', () => {
    const t = DEFAULT_GAS_TABLE
    const compiled = compileCostModel(
      model({
        prove: [
          { unit: 'hash:sha256', count: 'params.steps' },
          { unit: 'mul:254', count: 0.5 },
          { unit: 'msm:bn254', count: 2, size: 'params.points' },
          { unit: 'ntt:254', count: 3, size: 'params.points + 4' },
        ],
        empty: [],
      }),
    )
    const r = opGas(t, compiled, 'prove', { steps: 10, points: 1000 })
    const u = t.units
    expect(r.terms[0]).toEqual({ unit: 'hash:sha256', count: 10, gas: 10 * u['hash:sha256'].gas })
    expect(r.terms[1]).toEqual({ unit: 'mul:254', count: 0.5, gas: 18 })
    expect(r.terms[2]).toEqual({ unit: 'msm:bn254', count: 2, size: 1000, gas: 2 * 1000 * unitGasAt(u['msm:bn254'], 1000) })
    expect(r.terms[3]).toEqual({ unit: 'ntt:254', count: 3, size: 1024, gas: 3 * 512 * 10 * u['ntt:254'].gas })
    expect(r.gas).toBe(Math.ceil(r.terms.reduce((a, x) => a + x.gas, 0)))
    expect(Number.isInteger(r.gas)).toBe(true)
    expect(opGas(t, compiled, 'empty', {})).toEqual({ gas: 0, terms: [] })
    // A fraction of a gas is rounded up.
    const tiny = compileCostModel(model({ op: [{ unit: 'add:64', count: 'params.x' }] }))
    expect(opGas(t, tiny, 'op', { x: 0.01 }).gas).toBe(1)
    expect(opGas(t, tiny, 'op', { x: 0 }).gas).toBe(0)
    const err = thrown(() => opGas(t, compiled, 'verify', {}))
    expect(err.code).toBe('INVALID_GRAPH')
    expect(err.message).toBe('op "verify" has no cost model (the model prices prove, empty)')
  })

  it('refuses an op whose gas is not a safe integer', () => {
    const compiled = compileCostModel(model({ big: [{ unit: 'hash:poseidon', count: 'params.n' }] }))
    expect(opGas(DEFAULT_GAS_TABLE, compiled, 'big', { n: 1e9 }).gas).toBe(1e9 * DEFAULT_GAS_TABLE.units['hash:poseidon'].gas)
    const err = thrown(() => opGas(DEFAULT_GAS_TABLE, compiled, 'big', { n: 1e15 }))
    expect(err.code).toBe('INVALID_GRAPH')
    expect(err.message).toMatch(/op "big": gas .* is over 9007199254740991/)
    expect(thrown(() => opGas(DEFAULT_GAS_TABLE, compiled, 'big', { n: 1e308 })).message).toMatch(/over 9007199254740991/)
  })

  it('graphGas: every op and the total; errors name the op', () => {
    const m = compileCostModel(model({ a: [{ unit: 'add:64', count: 'params.n' }], b: [{ unit: 'mul:64', count: 2 }] }))
    const plugin = { name: 'p', version: '1.0.0' }
    const graph = {
      ops: [
        { id: 'x', name: 'a', plugin, params: { n: 5 } },
        { id: 'y', name: 'b', plugin, params: {} },
      ],
    }
    const models = new Map([['p@1.0.0', m]])
    const r = graphGas(DEFAULT_GAS_TABLE, models, graph)
    expect(r.ops.map((o) => [o.opId, o.gas])).toEqual([
      ['x', 5],
      ['y', 6],
    ])
    expect(r.total).toBe(11)
    const bad = thrown(() => graphGas(DEFAULT_GAS_TABLE, models, { ops: [graph.ops[1] as never, { id: 'z', name: 'a', plugin, params: {} }] }))
    expect(bad.code).toBe('INVALID_GRAPH')
    expect(bad.message).toMatch(/^ops\[1\] \(op "z"\): op "a": terms\[0\]\.count: params\.n is missing/)
    expect(bad.issues[0]?.path).toBe('ops[1]')
    const unknown = thrown(() => graphGas(DEFAULT_GAS_TABLE, models, { ops: [{ id: 'q', name: 'a', plugin: { name: 'other', version: '2' }, params: {} }] }))
    expect(unknown.message).toBe('ops[0] (op "q"): no cost model for plugin other@2')
    expect(unknown.issues[0]?.path).toBe('ops[0].plugin')
  })
})

describe('unit semantics', () => {
  const curve: UnitCost = {
    gas: 10,
    per: 'test',
    sizes: [
      { log2: 4, gas: 100 },
      { log2: 8, gas: 20 },
      { log2: 10, gas: 10 },
    ],
  }

  it('interpolates per-unit gas linearly in log2 of the size and clamps at the ends', () => {
    expect(unitGasAt(curve, 1)).toBe(100)
    expect(unitGasAt(curve, 0)).toBe(100)
    expect(unitGasAt(curve, 16)).toBe(100)
    expect(unitGasAt(curve, 64)).toBe(60)
    expect(unitGasAt(curve, 256)).toBe(20)
    expect(unitGasAt(curve, 512)).toBe(15)
    expect(unitGasAt(curve, 1024)).toBe(10)
    expect(unitGasAt(curve, 1 << 20)).toBe(10)
    expect(unitGasAt({ gas: 7, per: 'flat' }, 12345)).toBe(7)
  })

  it('rounds NTT domains up to a power of two and counts n/2 x log2 n butterflies', () => {
    expect([0, 1, 2, 3, 1000, 1024, 1025, 3844, 15364].map(nttDomain)).toEqual([1, 1, 2, 4, 1024, 1024, 2048, 4096, 16384])
    expect(nttButterflies(1)).toBe(0)
    expect(nttButterflies(2)).toBe(1)
    expect(nttButterflies(1024)).toBe(512 * 10)
    const t = { ...DEFAULT_GAS_TABLE, units: { ...DEFAULT_GAS_TABLE.units, 'ntt:254': curve } }
    expect(termGas(t, 'ntt:254', 2, 1000)).toEqual({ unit: 'ntt:254', count: 2, size: 1024, gas: 2 * 5120 * 10 })
    expect(termGas(t, 'ntt:254', 2, 0)).toEqual({ unit: 'ntt:254', count: 2, size: 0, gas: 0 })
    expect(termGas(t, 'ntt:254', 2, 1)).toEqual({ unit: 'ntt:254', count: 2, size: 1, gas: 0 })
    // MSM points are rounded up to whole points.
    expect(termGas(t, 'msm:bn254', 1, 15.2)).toMatchObject({ size: 16, gas: 16 * unitGasAt(t.units['msm:bn254'], 16) })
  })

  it('gas grows with count and size (every unit of the analytic table)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...GAS_UNITS),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.integer({ min: 0, max: 1 << 28 }),
        fc.integer({ min: 0, max: 1 << 28 }),
        (unit: GasUnit, c1, c2, s1, s2) => {
          const [clo, chi] = c1 <= c2 ? [c1, c2] : [c2, c1]
          const [slo, shi] = s1 <= s2 ? [s1, s2] : [s2, s1]
          const size = (s: number) => (SIZED_GAS_UNITS.includes(unit) ? s : undefined)
          const g = (c: number, s: number) => termGas(DEFAULT_GAS_TABLE, unit, c, size(s)).gas
          expect(g(clo, shi)).toBeLessThanOrEqual(g(chi, shi))
          expect(g(chi, slo)).toBeLessThanOrEqual(g(chi, shi) * (1 + 1e-12))
        },
      ),
    )
  })
})

describe('DEFAULT_GAS_TABLE', () => {
  it('is a valid table with every unit, add:64 = 1 gas', () => {
    expect(GasTable.parse(DEFAULT_GAS_TABLE)).toEqual(DEFAULT_GAS_TABLE)
    expect(Object.keys(DEFAULT_GAS_TABLE.units).sort()).toEqual([...GAS_UNITS].sort())
    expect(DEFAULT_GAS_TABLE.units['add:64'].gas).toBe(1)
    for (const unit of GAS_UNITS) expect(DEFAULT_GAS_TABLE.units[unit].gas, unit).toBeGreaterThan(0)
  })

  it('follows the documented formulas', () => {
    expect([fieldAddGas(64), fieldAddGas(254), fieldAddGas(381)]).toEqual([1, 4, 6])
    expect([fieldMulGas(64), fieldMulGas(254), fieldMulGas(381)]).toEqual([3, 36, 78])
    expect(DEFAULT_GAS_TABLE.units['ntt:254'].gas).toBe(36 + 2 * 4)
    expect(SHA256_BLOCK_OPS).toBe(2296)
    expect(KECCAK_BLOCK_OPS).toBe(3737)
    expect(poseidonOps()).toEqual({ muls: 828, adds: 585 })
    expect(poseidonGas()).toBe(828 * 36 + 585 * 4)
    expect(DEFAULT_GAS_TABLE.units['hash:poseidon'].gas).toBe(32_148)
    // 2^16 points: window 13, 20 windows x (65536 + 2^14 + 1) + 254 additions, 12 x mul:254 each.
    expect(msmPointGas(1 << 16, 254, 254)).toBeCloseTo(((20 * (65536 + 16384 + 1) + 254) / 65536) * 12 * 36, 9)
    // Per point an MSM gets cheaper as it grows, and a tiny one costs at most double-and-add.
    const sizes = DEFAULT_GAS_TABLE.units['msm:bn254'].sizes ?? []
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]?.gas).toBeLessThanOrEqual(sizes[i - 1]?.gas as number)
    expect(sizes[0]?.gas).toBe(1.5 * 254 * 12 * 36)
    expect(DEFAULT_GAS_TABLE.units['msm:bls12-381'].gas).toBeGreaterThan(DEFAULT_GAS_TABLE.units['msm:bn254'].gas)
  })

  it('parseGasTable names the bad field', () => {
    const { 'hash:poseidon': _dropped, ...rest } = DEFAULT_GAS_TABLE.units
    const err = thrown(() => parseGasTable({ ...DEFAULT_GAS_TABLE, units: rest }, 'gas table t.json'))
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.message).toMatch(/^invalid gas table t\.json: units\.hash:poseidon/)
    const unsorted = { ...DEFAULT_GAS_TABLE.units['msm:bn254'], sizes: [{ log2: 5, gas: 1 }, { log2: 4, gas: 2 }] }
    expect(thrown(() => parseGasTable({ ...DEFAULT_GAS_TABLE, units: { ...DEFAULT_GAS_TABLE.units, 'msm:bn254': unsorted } })).message).toMatch(
      /units\.msm:bn254\.sizes\[1\]\.log2: sizes must be in increasing log2 order/,
    )
    const sizedHash = { ...DEFAULT_GAS_TABLE.units['hash:sha256'], sizes: [{ log2: 1, gas: 1 }] }
    expect(thrown(() => parseGasTable({ ...DEFAULT_GAS_TABLE, units: { ...DEFAULT_GAS_TABLE.units, 'hash:sha256': sizedHash } })).message).toMatch(
      /units\.hash:sha256\.sizes: sizes apply to/,
    )
  })

  it('gasPerSecond needs a measured table', () => {
    expect(thrown(() => gasPerSecond(DEFAULT_GAS_TABLE)).code).toBe('INVALID_INPUT')
  })
})

describe('price', () => {
  it('is P_gas x Gas in wei, in bigint', () => {
    expect(price(27_701_240, 1000n)).toBe(27_701_240_000n)
    expect(price(Number.MAX_SAFE_INTEGER, 10n ** 30n)).toBe(BigInt(Number.MAX_SAFE_INTEGER) * 10n ** 30n)
    expect(price(0, 5n)).toBe(0n)
    expect(thrown(() => price(1.5, 1n)).code).toBe('INVALID_INPUT')
  })

  it('parseWei takes decimal integers only and names the field', () => {
    expect(parseWei('0')).toBe(0n)
    expect(parseWei('1000000000000000000000000', '--p-gas')).toBe(10n ** 24n)
    for (const bad of ['-1', '1.5', 'abc', '', '01', '+5', '1e9', ' 7']) {
      const err = thrown(() => parseWei(bad, '--p-gas'))
      expect(err.code, bad).toBe('INVALID_INPUT')
      expect(err.message, bad).toMatch(/^--p-gas: .* is not an integer amount of wei/)
      expect(err.issues[0]?.path).toBe('--p-gas')
    }
  })
})

describe('calibrate (real microbenchmarks, short budget)', () => {
  it('measures every unit on this machine and gives sane ratios', async () => {
    const seen: CalibrationProgress[] = []
    const table = await calibrate({ budgetMs: 2500, onProgress: (p) => seen.push(p), name: 'test' })
    expect(GasTable.parse(table)).toEqual(table)
    expect(table.name).toBe('test')
    expect(Object.keys(table.units).sort()).toEqual([...GAS_UNITS].sort())
    const g = (unit: GasUnit): number => table.units[unit].gas
    expect(g('add:64')).toBe(1)
    const measured = table.measured
    expect(measured?.nsPerGas).toBeGreaterThan(0)
    expect(gasPerSecond(table)).toBeCloseTo(1e9 / (measured?.nsPerGas as number), 6)
    expect(new Date(measured?.at as string).getTime()).not.toBeNaN()
    // Every unit was reported, MSM and NTT at several sizes.
    expect(new Set(seen.map((p) => p.unit))).toEqual(new Set(GAS_UNITS))
    for (const unit of SIZED_GAS_UNITS) {
      const sizes = table.units[unit].sizes ?? []
      expect(sizes.length, unit).toBeGreaterThanOrEqual(2)
      expect(g(unit)).toBe(sizes[sizes.length - 1]?.gas)
    }
    // Ratios any real machine shows: a multiplication costs more than an addition of the same width,
    // an MSM point (tens of point additions of 12 multiplications) and a Poseidon permutation (828
    // multiplications) far more than a multiplication.
    expect(g('mul:254')).toBeGreaterThan(g('add:254'))
    expect(g('mul:381')).toBeGreaterThan(g('add:381'))
    for (const unit of ['msm:bn254', 'msm:bls12-381'] as const) {
      for (const s of table.units[unit].sizes ?? []) expect(s.gas, `${unit} at 2^${s.log2}`).toBeGreaterThan(100 * g('mul:254'))
    }
    expect(g('hash:poseidon')).toBeGreaterThan(100 * g('mul:254'))
    expect(g('ntt:254')).toBeGreaterThan(g('add:254'))
    // Its speed in the analytic table's gas, unit by unit.
    const speeds = unitGasPerSecond(table)
    expect(Object.keys(speeds).sort()).toEqual([...GAS_UNITS].sort())
    for (const unit of GAS_UNITS) expect(Number.isFinite(speeds[unit]) && speeds[unit] > 0, unit).toBe(true)
    expect(speeds['add:64']).toBeCloseTo(gasPerSecond(table), 6)
  })

  it('unitGasPerSecond converts a measured speed into another table\'s gas', () => {
    const same = { ...DEFAULT_GAS_TABLE, measured: { host: 'h', cpu: 'c', at: new Date(0).toISOString(), nsPerGas: 2, durationMs: 0 } }
    for (const rate of Object.values(unitGasPerSecond(same))) expect(rate).toBeCloseTo(5e8, 3)
    // A machine whose SHA-256 costs 1 of its gas does 2296 analytic gas in that time.
    const fastSha = { ...same, units: { ...same.units, 'hash:sha256': { gas: 1, per: 'x' } } }
    expect(unitGasPerSecond(fastSha)['hash:sha256']).toBeCloseTo(2296 * 5e8, 0)
    expect(thrown(() => unitGasPerSecond(DEFAULT_GAS_TABLE)).code).toBe('INVALID_INPUT')
  })

  it('refuses a budget too small, and stops with ABORTED when aborted', async () => {
    await expect(calibrate({ budgetMs: 10 })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    const controller = new AbortController()
    await expect(calibrate({ budgetMs: 2000, signal: controller.signal, onProgress: () => controller.abort() })).rejects.toMatchObject({ code: 'ABORTED' })
  })
})

/** Keep the CostModel type exercised: the shape the schema exports is what compileCostModel takes. */
const _typed: CostModel = { version: 1, ops: { x: [{ unit: 'add:64', count: 1 }] } }
void _typed
