import { describe, expect, it } from 'vitest'
import { parseGraph } from '@galactic/schemas'
import type { GraphInput, Task } from '@galactic/schemas'
import { costScore, createRegistry, DEFAULT_SCORES, idleScore, localityScore, Scheduler, speedScore, success as ok, unschedulable } from '../src/core/index.js'
import type { FilterPlugin, PlacementContext, ProverRecord, ProverView, ScorePlugin } from '../src/core/index.js'
import { CountMap, Heap, removeAt } from '../src/core/structures.js'
import { assigns, device, FakeClock, PLUGIN, success } from './helpers.js'

/**
 * The data structures and batch forms that keep a placement cheap (docs/benchmarks.md,
 * "Scheduler placement"): each must give exactly what the plain form gives.
 */

describe('CountMap', () => {
  it('counts keys in first-insertion order and reads like a Map', () => {
    const m = new CountMap<{ id: string }>()
    const a = { id: 'a' }
    const b = { id: 'b' }
    m.increment('a', a)
    m.increment('b', b)
    m.increment('a', a)
    m.increment('c', undefined)
    expect(m.size).toBe(3)
    expect([m.get('a'), m.get('b'), m.get('c'), m.get('d')]).toEqual([2, 1, 1, undefined])
    expect([m.has('c'), m.has('d')]).toEqual([true, false])
    expect([...m]).toEqual([['a', 2], ['b', 1], ['c', 1]])
    expect([...m.keys()]).toEqual(['a', 'b', 'c'])
    expect([...m.values()]).toEqual([2, 1, 1])
    expect([...m.entries()]).toEqual([...new Map([['a', 2], ['b', 1], ['c', 1]]).entries()])
    const seen: string[] = []
    m.forEach((v, k, map) => seen.push(`${k}=${v}:${map === m}`))
    expect(seen).toEqual(['a=2:true', 'b=1:true', 'c=1:true'])
    expect([m.keyAt(1), m.ownerAt(1), m.ownerAt(2)]).toEqual(['b', b, undefined])
    // by identity: the owner's count; an object that owns no key counts 0
    const byId = (o: { id: string }) => o.id
    expect([m.countFor(a, byId), m.countFor(b, byId), m.countFor({ id: 'a' }, byId)]).toEqual([2, 1, 0])
  })

  it('starts empty again after reset, and past 8 keys looks keys up by name', () => {
    const m = new CountMap<{ id: string }>()
    m.increment('x', { id: 'x' })
    m.reset()
    expect(m.size).toBe(0)
    expect(m.get('x')).toBeUndefined()
    expect([...m]).toEqual([])
    const owners = Array.from({ length: 12 }, (_, i) => ({ id: `k${i}` }))
    for (const o of owners) m.increment(o.id, o)
    for (const o of owners.slice(0, 3)) m.increment(o.id, o)
    expect(m.size).toBe(12)
    expect(owners.map((o) => m.get(o.id))).toEqual([2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    // beyond 8 keys an owner is found by its key: an equal copy counts too
    expect(m.countFor({ id: 'k1' }, (o) => o.id)).toBe(2)
    expect(m.countFor({ id: 'nope' }, (o) => o.id)).toBe(0)
    m.reset()
    m.increment('k5', owners[5])
    expect([...m]).toEqual([['k5', 1]])
    expect(m.countFor(owners[5]!, (o) => o.id)).toBe(1)
    expect(m.countFor({ id: 'k5' }, (o) => o.id)).toBe(0)
  })
})

describe('Heap and removeAt', () => {
  it('pops in order, and after clear is empty and reusable', () => {
    const h = new Heap<number>((a, b) => a < b)
    expect([h.size, h.peek(), h.pop()]).toEqual([0, undefined, undefined])
    let seed = 7
    const next = () => (seed = (seed * 48_271) % 2_147_483_647)
    const xs = Array.from({ length: 200 }, next)
    for (const x of xs) h.push(x)
    const out: number[] = []
    while (h.size > 0) out.push(h.pop()!)
    expect(out).toEqual([...xs].sort((a, b) => a - b))
    for (const x of [5, 3, 9]) h.push(x)
    h.clear()
    expect([h.size, h.peek()]).toEqual([0, undefined])
    for (const x of [5, 3, 9, 1]) h.push(x)
    expect([h.pop(), h.pop(), h.pop(), h.pop(), h.pop()]).toEqual([1, 3, 5, 9, undefined])
  })

  it('siftDown restores order after the top grows', () => {
    const items = [{ k: 1 }, { k: 2 }, { k: 3 }]
    const h = new Heap<{ k: number }>((a, b) => a.k < b.k)
    for (const x of items) h.push(x)
    h.peek()!.k = 10
    h.siftDown()
    expect([h.pop()!.k, h.pop()!.k, h.pop()!.k]).toEqual([2, 3, 10])
  })

  it('removeAt keeps the order of the others', () => {
    const a = ['a', 'b', 'c', 'd']
    removeAt(a, 1)
    expect(a).toEqual(['a', 'c', 'd'])
    removeAt(a, 2)
    expect(a).toEqual(['a', 'c'])
    removeAt(a, 0)
    expect(a).toEqual(['c'])
  })
})

describe('score plugins: scoreAll adds exactly what score gives', () => {
  function view(i: number): ProverView {
    const gpus = Array.from({ length: i % 3 }, () => ({ vendor: 'nvidia' as const, model: 'H100', memoryMiB: 81_920 }))
    const d = device({ cpu: { model: 't', arch: 'x64', cores: [2, 8, 16, 64][i % 4]! }, gpus })
    const record: ProverRecord = { proverId: `p${i}`, peerId: `peer-p${i}`, device: d, slots: 4, registeredAt: 0, lastSeenAt: 0, state: 'live' }
    const speed = new Map(i % 2 === 0 ? [['prove', 100 + 37 * i]] : [])
    return { record, connected: true, running: i % 4, speed, gpuCount: d.gpus.length, cores: d.cpu.cores }
  }

  function context(provers: ProverView[], requirements: Record<string, unknown>): PlacementContext {
    const g = parseGraph({ requester: 'r', nonce: 'n', ops: [{ id: 'a', name: 'prove', plugin: { ...PLUGIN }, requirements }] })
    const holders = new Map([['p1', 2], ['p4', 1]])
    return {
      op: { graphId: 'g', index: 0, spec: g.ops[0]!, state: 'ready', attempt: 0, deviceIds: null, outputs: null, error: null, readyAt: 0, assignedAt: null, startedAt: null, finishedAt: null },
      graph: { graphId: 'g', seq: 1, requester: 'r', nonce: 'n', specHash: 'h', priority: 'cost', redundancy: null, pluginMode: 'performance', state: 'running', submittedAt: 0, finishedAt: null },
      now: 0,
      failedOn: new Set(),
      inputHolders: holders,
      inputCount: 3,
      referenceMs: 250,
      heldBy: (p) => holders.get(p.record.proverId) ?? 0,
      speedOf: (p) => p.speed.get('prove'),
    }
  }

  for (const requirements of [{}, { gpu: { count: 1 } }, { cpu: { minCores: 8 } }]) {
    it(`for every built-in plugin, requirements ${JSON.stringify(requirements)}`, () => {
      const provers = Array.from({ length: 12 }, (_, i) => view(i))
      const ctx = context(provers, requirements)
      expect(DEFAULT_SCORES).toEqual([idleScore, localityScore, speedScore, costScore])
      for (const plugin of DEFAULT_SCORES) {
        const totals = new Float64Array(provers.length).fill(1.25)
        plugin.scoreAll!(ctx, provers, 10, 3, totals)
        const expected = provers.map((p, i) => (i < 10 ? 1.25 + 3 * plugin.score(ctx, p) : 1.25))
        expect([...totals]).toEqual(expected)
      }
    })
  }
})

const OK_PER_CLASS = ok('per-class')

describe('placement through the fast paths', () => {
  const op = (id: string, over: Partial<GraphInput['ops'][number]> = {}) => ({ id, name: 'prove', plugin: { ...PLUGIN }, ...over })

  it('an op with inputs from more than 8 provers goes to one of them when locality decides', () => {
    const clock = new FakeClock()
    const s = new Scheduler({ profile: { scores: { locality: 1 } } }, { clock })
    for (let i = 0; i < 11; i++) s.registerProver({ proverId: `p${i}`, peerId: `peer-p${i}`, device: device(), slots: 1, running: [] })
    const inputs = Array.from({ length: 10 }, (_, i) => `a${i}`)
    const g = parseGraph({ requester: 'r', nonce: 'n', ops: [...inputs.map((id) => op(id)), op('join', { inputs })] })
    const first = assigns(s.submit('g', 'h', g).step)
    expect(first.map((a) => a.task.opId)).toEqual(inputs)
    const holders = new Set(first.map((a) => a.proverId))
    expect(holders.size).toBe(10)
    let last: Task | undefined
    for (const a of first) {
      s.taskStarted(a.proverId, a.task)
      const placed = assigns(s.taskResult(a.proverId, a.task, success(a.task), [`peer-${a.proverId}`]))
      if (placed.length > 0) {
        expect(placed.map((p) => p.task.opId)).toEqual(['join'])
        expect(holders.has(placed[0]!.proverId)).toBe(true)
        last = placed[0]!.task
      }
    }
    expect(last?.inputs.map((i) => i.opId)).toEqual(inputs)
  })

  it('a skipPerClass filter is asked once per placement class, another filter once per placement', () => {
    const asked = { perClass: 0, perOp: 0 }
    const filters: FilterPlugin[] = [
      {
        name: 'per-class',
        skipPerClass: true,
        skip: () => (asked.perClass++, false),
        filter: (_ctx, p) => (p.record.proverId === 'y' ? unschedulable('per-class', 'not y') : OK_PER_CLASS),
      },
      { name: 'per-op', skip: () => (asked.perOp++, true), filter: () => unschedulable('per-op', 'never runs') },
    ]
    const s = new Scheduler(
      { profile: { filters: ['live', 'capacity', 'plugin', 'per-class', 'per-op'] } },
      { clock: new FakeClock(), registry: createRegistry({ filters }) },
    )
    for (const id of ['x', 'y']) s.registerProver({ proverId: id, peerId: `peer-${id}`, device: device(), slots: 3, running: [] })
    const ids = ['a', 'b', 'c']
    const placed = assigns(s.submit('g', 'h', parseGraph({ requester: 'r', nonce: 'n', ops: ids.map((id) => op(id)) })).step)
    // the per-class filter ran (y is refused), its skip was asked once; the per-op one skipped each time
    expect(placed.map((a) => `${a.task.opId}@${a.proverId}`)).toEqual(['a@x', 'b@x', 'c@x'])
    expect(asked).toEqual({ perClass: 1, perOp: 3 })
  })

  it('a score plugin without scoreAll is called per prover', () => {
    const calls: string[] = []
    const prefer: ScorePlugin = {
      name: 'prefer-z',
      score: (_ctx, p) => {
        calls.push(p.record.proverId)
        return p.record.proverId === 'z' ? 100 : 0
      },
    }
    const s = new Scheduler({ profile: { scores: { idle: 1, 'prefer-z': 5 } } }, { clock: new FakeClock(), registry: createRegistry({ scores: [prefer] }) })
    for (const id of ['x', 'y', 'z']) s.registerProver({ proverId: id, peerId: `peer-${id}`, device: device(), slots: 1, running: [] })
    const placed = assigns(s.submit('g', 'h', parseGraph({ requester: 'r', nonce: 'n', ops: [op('a')] })).step)
    expect(placed.map((a) => a.proverId)).toEqual(['z'])
    expect([...calls].sort()).toEqual(['x', 'y', 'z'])
  })
})
