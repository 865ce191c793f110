import { describe, expect, it } from 'vitest'
import { buildZkmGraph, GalacticError, LIMITS, parseGraph, type GraphInput } from '../src/index.js'

const plugin = { name: 'sha256-chain', version: '1.0.0' }

function graph(ops: GraphInput['ops']): GraphInput {
  return { requester: 'alice', nonce: '1', ops }
}

function invalid(input: unknown): GalacticError {
  try {
    parseGraph(input)
  } catch (err) {
    if (err instanceof GalacticError) return err
    throw err
  }
  throw new Error('expected parseGraph to throw')
}

describe('parseGraph', () => {
  it('fills defaults and orders ops so every op comes after its inputs', () => {
    const g = parseGraph(
      graph([
        { id: 'b', name: 'prove', inputs: ['a'], plugin },
        { id: 'a', name: 'split', plugin },
      ]),
    )
    expect(g.ops.map((o) => o.id)).toEqual(['a', 'b'])
    expect(g.priority).toBe('cost')
    expect(g.pluginMode).toBe('efficiency')
    expect(g.ops[0]).toMatchObject({ inputs: [], params: {}, requirements: {}, penalty: 0, deviceIds: null, outputs: null })
  })

  it('names the op and field of a schema error', () => {
    const err = invalid(graph([{ id: 'a', name: 'split', plugin: { name: 'sha256-chain', version: 'latest' } }]))
    expect(err.code).toBe('INVALID_GRAPH')
    expect(err.issues[0]).toMatchObject({ path: 'ops[0].plugin.version' })
    expect(err.issues[0]?.message).toContain('op "a"')
  })

  it('reports a missing plugin with its path', () => {
    const err = invalid(graph([{ id: 'a', name: 'split' } as never]))
    expect(err.issues.map((i) => i.path)).toContain('ops[0].plugin')
  })

  it('rejects unknown fields', () => {
    const err = invalid({ ...graph([{ id: 'a', name: 'split', plugin }]), extra: 1 })
    expect(err.code).toBe('INVALID_GRAPH')
  })

  it('rejects duplicate ids, unknown and repeated inputs, self inputs, all at once', () => {
    const err = invalid(
      graph([
        { id: 'a', name: 'split', plugin },
        { id: 'a', name: 'split', plugin },
        { id: 'b', name: 'prove', inputs: ['nope', 'a', 'a', 'b'], plugin },
      ]),
    )
    const paths = err.issues.map((i) => i.path)
    expect(paths).toEqual(['ops[1].id', 'ops[2].inputs[0]', 'ops[2].inputs[2]', 'ops[2].inputs[3]'])
    expect(err.issues[1]?.message).toContain('unknown input op "nope"')
  })

  it('rejects a cycle and names the ops on it', () => {
    const err = invalid(
      graph([
        { id: 'a', name: 'x', plugin },
        { id: 'b', name: 'x', inputs: ['a', 'd'], plugin },
        { id: 'c', name: 'x', inputs: ['b'], plugin },
        { id: 'd', name: 'x', inputs: ['c'], plugin },
      ]),
    )
    expect(err.message).toContain('cycle')
    for (const id of ['b', 'c', 'd']) expect(err.message).toContain(`"${id}"`)
    expect(err.message).not.toContain('"a"')
  })

  it('refuses oracle-owned fields from the requester', () => {
    const err = invalid(graph([{ id: 'a', name: 'x', plugin, deviceIds: ['p1'] }]))
    expect(err.issues[0]?.path).toBe('ops[0].deviceIds')
  })

  it('enforces limits on op count, params size and numbers', () => {
    const many = Array.from({ length: LIMITS.maxOps + 1 }, (_, i) => ({ id: `o${i}`, name: 'x', plugin }))
    expect(invalid(graph(many)).issues[0]?.path).toBe('ops')
    const big = invalid(graph([{ id: 'a', name: 'x', plugin, params: { blob: 'x'.repeat(LIMITS.maxParamsBytes) } }]))
    expect(big.issues[0]?.path).toBe('ops[0].params')
    expect(invalid(graph([{ id: 'a', name: 'x', plugin, timeoutMs: 1e12 }])).issues[0]?.path).toBe('ops[0].timeoutMs')
    expect(invalid(graph([{ id: 'a', name: 'x', plugin, penalty: -1 }])).issues[0]?.path).toBe('ops[0].penalty')
  })

  it('rejects non-objects and non-JSON values without crashing', () => {
    expect(invalid(null).code).toBe('INVALID_GRAPH')
    expect(invalid('graph').code).toBe('INVALID_GRAPH')
    const circular: Record<string, unknown> = {}
    circular['self'] = circular
    expect(invalid(circular).code).toBe('INVALID_GRAPH')
  })
})

describe('buildZkmGraph', () => {
  const base = { requester: 'alice', nonce: '1', plugin, params: { seed: 's', segmentSteps: 10 } }
  const ids = (segments: number, extra: object = {}) => parseGraph(buildZkmGraph({ ...base, segments, ...extra })).ops

  it('builds split, 4 proves, 3 aggregations and a snark', () => {
    const ops = ids(4)
    expect(ops.map((o) => o.name)).toEqual(['split', 'prove', 'prove', 'prove', 'prove', 'aggregate', 'aggregate', 'aggregate', 'snark'])
    const root = ops.find((o) => o.id === 'agg-1-0')
    expect(root?.inputs).toEqual(['agg-0-0', 'agg-0-1'])
    expect(ops.find((o) => o.id === 'snark')?.inputs).toEqual(['agg-1-0'])
    expect(ops.find((o) => o.id === 'prove-2')?.params).toEqual({ seed: 's', segmentSteps: 10, segments: 4, segment: 2 })
  })

  it('carries an odd proof up a level', () => {
    const ops = ids(5)
    expect(ops.filter((o) => o.name === 'aggregate')).toHaveLength(4)
    expect(ops.find((o) => o.id === 'agg-2-0')?.inputs).toEqual(['agg-1-0', 'prove-4'])
    expect(ops.find((o) => o.id === 'snark')?.inputs).toEqual(['agg-2-0'])
  })

  it('stops after split, after aggregation, or after prove when composite', () => {
    expect(ids(4, { stopAfter: 'split' }).map((o) => o.id)).toEqual(['split'])
    expect(ids(4, { stopAfter: 'agg' }).some((o) => o.name === 'snark')).toBe(false)
    expect(ids(4, { stopAfter: 'agg' }).some((o) => o.name === 'aggregate')).toBe(true)
    expect(ids(3, { composite: true }).map((o) => o.name)).toEqual(['split', 'prove', 'prove', 'prove'])
  })

  it('a single segment goes straight from prove to snark', () => {
    expect(ids(1).map((o) => o.id)).toEqual(['split', 'prove-0', 'snark'])
  })

  it('refuses a segment count below one', () => {
    expect(() => buildZkmGraph({ ...base, segments: 0 })).toThrow(RangeError)
  })
})

describe('GalacticError', () => {
  it('round-trips through its wire form', () => {
    const err = new GalacticError('NOT_FOUND', 'no graph g1', { graphId: 'g1' })
    const back = GalacticError.fromObject(JSON.parse(JSON.stringify(err.toObject())))
    expect(back.code).toBe('NOT_FOUND')
    expect(back.details).toEqual({ graphId: 'g1' })
    expect(GalacticError.is(back, 'NOT_FOUND')).toBe(true)
  })
})
