import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_GAS_TABLE, compileCostModel, graphGas, opGas, unitGasAt, type CompiledCostModel } from '@galactic/gas'
import { DESCRIPTION as GROTH16_DESCRIPTION, GAS_MODEL as GROTH16_MODEL, VERIFY_MULS } from '@galactic/plugin-groth16-chain'
import { PluginServer, definePlugin, type PluginDefinition } from '@galactic/plugin-kit'
import { GAS_MODEL as NOOP_MODEL, describePlugin as describeNoop } from '@galactic/plugin-noop'
import { GAS_MODEL as SHA256_MODEL, describePlugin as describeSha256 } from '@galactic/plugin-sha256-chain'
import { GalacticError, PLUGIN_METHODS, PLUGIN_PROTOCOL_VERSION, buildZkmGraph, parseGraph, type CostModel, type PluginResult } from '@galactic/schemas'

// The cost models of the bundled plugins (describe's `gas`) and plugin-kit's `gas` option.

const T = DEFAULT_GAS_TABLE
const SHA_BLOCK = T.units['hash:sha256'].gas

const plugins: Array<[string, PluginResult<'describe'>, CostModel]> = [
  ['sha256-chain', describeSha256(), SHA256_MODEL],
  ['groth16-chain', GROTH16_DESCRIPTION, GROTH16_MODEL],
  ['noop', describeNoop(), NOOP_MODEL],
]

function zkmGas(plugin: string, model: CompiledCostModel, segments: number, params: Record<string, unknown>) {
  const graph = parseGraph(buildZkmGraph({ requester: 'r', nonce: '1', segments, plugin: { name: plugin, version: '1.0.0' }, params }))
  return graphGas(T, new Map([[`${plugin}@1.0.0`, model]]), graph)
}

describe('the bundled plugins describe a cost model for every op they serve', () => {
  for (const [name, described, model] of plugins) {
    it(name, () => {
      const parsed = PLUGIN_METHODS.describe.result.parse(described)
      expect(parsed.gas).toEqual(model)
      const compiled = compileCostModel(parsed.gas)
      expect([...compiled.ops.keys()].sort()).toEqual(described.ops.map((o) => o.name).sort())
    })
  }
})

describe('sha256-chain: SHA-256 blocks from its params', () => {
  const model = compileCostModel(SHA256_MODEL)

  it('split runs the whole chain, prove one segment, aggregate and snark a few digests', () => {
    const g = zkmGas('sha256-chain', model, 4, { seed: 's', segmentSteps: 1000 })
    const gas = Object.fromEntries(g.ops.map((o) => [o.opId, o.gas]))
    expect(gas['split']).toBe((4 * 1000 + 1) * SHA_BLOCK)
    expect(gas['prove-2']).toBe(1002 * SHA_BLOCK)
    expect(gas['agg-0-0']).toBe(9 * SHA_BLOCK)
    expect(gas['snark']).toBe(7 * SHA_BLOCK)
    expect(g.total).toBe((4001 + 4 * 1002 + 3 * 9 + 7) * SHA_BLOCK)
  })

  it('prove gas grows with segmentSteps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 10_000_000 }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a]
        const gas = (steps: number) => opGas(T, model, 'prove', { seed: 's', segmentSteps: steps, segment: 0 }).gas
        expect(gas(lo)).toBeLessThanOrEqual(gas(hi))
      }),
    )
  })
})

describe('groth16-chain: Groth16 MSMs and NTTs from its constraint counts', () => {
  const model = compileCostModel(GROTH16_MODEL)

  it('prove: MSMs of 240 constraints per step, NTTs of the power-of-two domain', () => {
    const p16 = opGas(T, model, 'prove', { seed: 's', segmentSize: 16, segment: 0 })
    const p64 = opGas(T, model, 'prove', { seed: 's', segmentSize: 64, segment: 0 })
    expect(p16.terms.filter((t) => t.unit === 'msm:bn254').map((t) => [t.count, t.size])).toEqual([
      [3, 3840],
      [1, 4096],
      [3, 3840],
    ])
    expect(p16.terms.find((t) => t.unit === 'ntt:254')).toMatchObject({ count: 7, size: 4096 })
    expect(p64.terms.find((t) => t.unit === 'ntt:254')).toMatchObject({ count: 7, size: 16384 })
    expect(p16.terms.find((t) => t.unit === 'hash:poseidon')).toMatchObject({ count: 32 })
    // Four times the constraints, a little less than four times the gas (Pippenger per point falls).
    expect(p64.gas).toBeGreaterThan(3 * p16.gas)
    expect(p64.gas).toBeLessThan(4 * p16.gas)
    const msm = 6 * 3840 * unitGasAt(T.units['msm:bn254'], 3840) + 4096 * unitGasAt(T.units['msm:bn254'], 4096)
    expect(p16.gas).toBeGreaterThan(msm)
  })

  it("aggregate: over a whole tree, the segment proofs re-verified match the tree's (exact for powers of two)", () => {
    for (const segments of [2, 3, 4, 6, 8, 13, 16, 64]) {
      const graph = parseGraph(
        buildZkmGraph({ requester: 'r', nonce: '1', segments, plugin: { name: 'groth16-chain', version: '1.0.0' }, params: { seed: 's', segmentSize: 16 } }),
      )
      // Segment proofs under each aggregate, from the graph's own tree.
      const leaves = new Map<string, number>()
      let real = 0
      for (const op of graph.ops) {
        if (op.name === 'prove') leaves.set(op.id, 1)
        if (op.name === 'aggregate') {
          const n = op.inputs.reduce((a, id) => a + (leaves.get(id) ?? 0), 0)
          leaves.set(op.id, n)
          real += n
        }
      }
      const priced = graphGas(T, new Map([['groth16-chain@1.0.0', model]]), graph)
      const modelled = priced.ops.filter((o) => o.name === 'aggregate').reduce((a, o) => a + (o.terms.find((t) => t.unit === 'mul:254')?.count ?? 0), 0) / VERIFY_MULS
      if ((segments & (segments - 1)) === 0) expect(modelled, `${segments} segments`).toBeCloseTo(real, 6)
      else {
        expect(modelled, `${segments} segments`).toBeGreaterThanOrEqual(real * 0.8)
        expect(modelled, `${segments} segments`).toBeLessThanOrEqual(real * 1.2)
      }
      const snark = priced.ops.find((o) => o.name === 'snark')
      expect(snark?.terms.find((t) => t.unit === 'mul:254')?.count).toBe(VERIFY_MULS * segments)
    }
  })

  it('needs params.segments for aggregate and snark, and says so', () => {
    const err = (() => {
      try {
        opGas(T, model, 'aggregate', { seed: 's', segmentSize: 16 })
      } catch (e) {
        return e as GalacticError
      }
      return undefined
    })()
    expect(err?.code).toBe('INVALID_GRAPH')
    expect(err?.message).toMatch(/op "aggregate": terms\[0\]\.count: params\.segments is missing/)
  })
})

describe('noop: a tiny constant', () => {
  it('every op is two SHA-256 blocks', () => {
    const g = zkmGas('noop', compileCostModel(NOOP_MODEL), 3, {})
    for (const op of g.ops) expect(op.gas).toBe(2 * SHA_BLOCK)
  })
})

describe("plugin-kit's gas option", () => {
  const base: PluginDefinition = {
    describe: () => ({ name: 'p', version: '1', protocolVersion: PLUGIN_PROTOCOL_VERSION, ops: [{ name: 'a' }], resources: {} }),
    start: () => ({ outputs: [] }),
    verify: () => ({ valid: true }),
  }

  it("describe answers the definition's cost model", () => {
    const gas: CostModel = { version: 1, ops: { a: [{ unit: 'hash:keccak256', count: 'params.blocks' }] } }
    const lines: string[] = []
    const server = new PluginServer(definePlugin({ ...base, gas }), { send: (l) => lines.push(l), exit: () => {} })
    server.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'describe', params: {} }))
    const reply = JSON.parse(lines[0] as string) as { result: unknown }
    expect(PLUGIN_METHODS.describe.result.parse(reply.result).gas).toEqual(gas)
    // Without the option, describe answers what describe() returns.
    const plain = new PluginServer(definePlugin(base), { send: (l) => lines.push(l), exit: () => {} })
    plain.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'describe', params: {} }))
    expect((JSON.parse(lines[1] as string) as { result: Record<string, unknown> }).result['gas']).toBeUndefined()
  })

  it('definePlugin refuses a malformed model, naming the field', () => {
    const bad = { version: 1, ops: { a: [{ unit: 'msm:bn254', count: 1 }] } } as CostModel
    expect(() => definePlugin({ ...base, gas: bad })).toThrow(GalacticError)
    try {
      definePlugin({ ...base, gas: bad })
    } catch (err) {
      expect((err as GalacticError).code).toBe('INVALID_GAS_MODEL')
      expect((err as GalacticError).message).toMatch(/ops\.a\[0\]\.size: unit msm:bn254 needs a size/)
    }
  })

  it("the describe schema refuses a plugin's malformed gas", () => {
    const r = PLUGIN_METHODS.describe.result.safeParse({ ...base.describe(), gas: { version: 1, ops: { a: [{ unit: 'hash:sha256', count: 1, size: 2 }] } } })
    expect(r.success).toBe(false)
    expect(r.error?.issues[0]?.path).toEqual(['gas', 'ops', 'a', 0, 'size'])
  })
})
