import { describe, expect, it } from 'vitest'
import { GraphEvent, parseGraph, Task as TaskSchema } from '@galactic/schemas'
import type { DeviceDescriptor, Graph, GraphInput, Task, TaskRef } from '@galactic/schemas'
import { createRegistry, DEFAULT_PROFILE, Scheduler, unschedulable } from '../src/core/index.js'
import type { FilterPlugin, SchedulerComponents, SchedulerInit, Step } from '../src/core/index.js'
import { assigns, cancels, device, FakeClock, failure, flat, MemoryStore, PLUGIN, success } from './helpers.js'

const G = 'g1'
const BASE = 1000

function setup(init: SchedulerInit = {}, components: Omit<SchedulerComponents, 'clock'> = {}) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const s = new Scheduler({ banBaseMs: BASE, livenessTimeoutMs: 3_600_000, ...init }, { clock, ...components })
  const run = (step: Step): Step => {
    const keys = step.changes.map((c) => (c.type === 'graph.put' ? `g:${c.graph.graphId}` : c.type === 'op.put' ? `o:${c.op.graphId}/${c.op.spec.id}` : `p:${c.prover.proverId}`))
    expect(new Set(keys).size).toBe(keys.length)
    for (const e of step.events) GraphEvent.parse(e)
    for (const a of step.actions) if (a.type === 'assign') TaskSchema.parse(a.task)
    store.apply(step.changes)
    return step
  }
  const register = (proverId: string, over: Partial<DeviceDescriptor> = {}, slots = 1, running: TaskRef[] = []): Step =>
    run(s.registerProver({ proverId, peerId: `peer-${proverId}`, device: device(over), slots, running }))
  const submit = (graphId: string, graph: Graph): Step => run(s.submit(graphId, `hash-${graphId}`, graph).step)
  const ok = (proverId: string, task: TaskRef): Step => run(s.taskResult(proverId, task, success(task as Task), [`peer-${proverId}`]))
  const fail = (proverId: string, task: TaskRef): Step => run(s.taskResult(proverId, task, failure, []))
  const op = (opId: string, graphId = G) => s.graphStatus(graphId)!.ops.find((o) => o.id === opId)!
  const on = (step: Step) => assigns(step).map((a) => `${a.task.opId}@${a.proverId}`)
  return { clock, store, s, run, register, submit, ok, fail, op, on }
}

const GPU = [{ vendor: 'nvidia' as const, model: 'H100', memoryMiB: 81_920 }]

function graph(ops: GraphInput['ops'], over: Partial<GraphInput> = {}): Graph {
  return parseGraph({ requester: 'r', nonce: 'n', ops, ...over })
}

const opSpec = (id: string, over: Partial<GraphInput['ops'][number]> = {}) => ({ id, name: 'prove', plugin: { ...PLUGIN }, ...over })

describe('bans: windows double, then a permanent ban', () => {
  it('bans for 1x, 2x, 4x the base window, then for good after the fourth consecutive failure', () => {
    const w = setup({ maxAttempts: 10 })
    w.register('p1')
    let [a] = assigns(w.submit(G, flat(['a'])))
    const windows: number[] = []
    for (let n = 1; n <= 3; n++) {
      const step = w.fail('p1', a!.task)
      const t = w.clock.now()
      const ban = { consecutiveFailures: n, bannedUntil: t + BASE * 2 ** (n - 1), permanent: false }
      // journaled as a prover.put, and visible in proverState
      expect(step.changes).toContainEqual({ type: 'prover.put', prover: expect.objectContaining({ proverId: 'p1', ban }) })
      expect(w.s.proverState('p1')).toMatchObject({ consecutiveFailures: n, banned: true, permanent: false, bannedUntil: ban.bannedUntil })
      expect(assigns(step)).toEqual([])
      // one ms before the window ends it is still out; at its end it is back
      w.clock.advance(BASE * 2 ** (n - 1) - 1)
      expect(assigns(w.run(w.s.tick()))).toEqual([])
      w.clock.advance(1)
      const back = assigns(w.run(w.s.tick()))
      expect(back.map((x) => [x.proverId, x.task.attempt])).toEqual([['p1', n + 1]])
      windows.push(ban.bannedUntil - t)
      a = back[0]
    }
    expect(windows).toEqual([BASE, 2 * BASE, 4 * BASE])
    const fourth = w.fail('p1', a!.task)
    expect(fourth.changes).toContainEqual({
      type: 'prover.put',
      prover: expect.objectContaining({ ban: { consecutiveFailures: 4, bannedUntil: null, permanent: true } }),
    })
    w.clock.advance(365 * 24 * 3600 * 1000)
    w.run(w.s.heartbeat('p1', []))
    expect(assigns(w.run(w.s.tick()))).toEqual([])
    expect(w.s.proverState('p1')).toMatchObject({ banned: true, permanent: true, bannedUntil: null, consecutiveFailures: 4 })
    // re-registering under the same name does not lift it; a new name starts clean
    expect(assigns(w.register('p1'))).toEqual([])
    expect(w.on(w.register('p1-renamed'))).toEqual(['a@p1-renamed'])
    expect(w.s.proverState('p1-renamed')).toMatchObject({ banned: false, consecutiveFailures: 0 })
  })

  it('a success resets the consecutive count: the next failure gets the base window again', () => {
    const w = setup({ maxAttempts: 10 })
    w.register('p1')
    const [a] = assigns(w.submit(G, flat(['a', 'b'])))
    w.fail('p1', a!.task) // 1x
    w.clock.advance(BASE)
    const [again] = assigns(w.run(w.s.tick()))
    w.fail('p1', again!.task) // 2x
    expect(w.s.proverState('p1')).toMatchObject({ consecutiveFailures: 2, bannedUntil: w.clock.now() + 2 * BASE })
    w.clock.advance(2 * BASE)
    const [third] = assigns(w.run(w.s.tick()))
    const done = w.ok('p1', third!.task)
    // the window had ended: the ban record goes away
    expect(done.changes).toContainEqual({ type: 'prover.put', prover: expect.not.objectContaining({ ban: expect.anything() }) })
    expect(w.s.proverState('p1')).toMatchObject({ consecutiveFailures: 0, banned: false, bannedUntil: null })
    const [b] = assigns(done)
    w.fail('p1', b!.task)
    expect(w.s.proverState('p1')).toMatchObject({ consecutiveFailures: 1, bannedUntil: w.clock.now() + BASE })
  })

  it('a success during a window resets the count but the window runs out', () => {
    const w = setup({ maxAttempts: 10 })
    w.register('p1', {}, 2)
    const [a, b] = assigns(w.submit(G, flat(['a', 'b'])))
    w.fail('p1', a!.task)
    const until = w.clock.now() + BASE
    w.ok('p1', b!.task)
    expect(w.s.proverState('p1')).toMatchObject({ consecutiveFailures: 0, banned: true, bannedUntil: until })
    expect(w.op('a').state).toBe('ready')
  })

  it('the ban filter rejects a banned prover, with its reason in explain(); the window ending lets it back', () => {
    const w = setup()
    w.register('p1')
    const [a] = assigns(w.submit(G, flat(['a'])))
    w.fail('p1', a!.task)
    const why = w.s.explain(G, 'a')!
    const ban = why.rejections.find((r) => r.filter === 'ban')!
    expect(ban.count).toBe(1)
    expect(ban.reasons).toHaveLength(1)
    expect(ban.reasons[0]).toMatch(/^banned for 1 consecutive failure, until /)
    expect(why.statuses?.find((st) => st.plugin === 'ban')).toMatchObject({ code: 'unschedulable', plugin: 'ban' })
    expect(why.feasible).toBe(0)
    // retry-elsewhere (a preference) also notes that p1 failed this op
    expect(why.rejections.filter((r) => r.count > 0).map((r) => r.filter)).toEqual(['ban', 'retry-elsewhere'])
    w.clock.advance(BASE)
    expect(w.s.explain(G, 'a')!.rejections.find((r) => r.filter === 'ban')!.count).toBe(0)
    expect(w.on(w.run(w.s.tick()))).toEqual(['a@p1'])
  })

  it('counts a missed deadline as a failure, once per prover per Step; a lost prover is not charged', () => {
    const w = setup({ livenessTimeoutMs: 5000, maxAttempts: 10 })
    w.register('slow', {}, 2)
    w.submit(G, flat(['a', 'b'], { timeoutMs: 1000 }))
    w.clock.advance(1001)
    w.run(w.s.heartbeat('slow', []))
    const step = w.run(w.s.tick())
    expect(cancels(step).map((c) => `${c.ref.opId}@${c.proverId}`)).toEqual(['a@slow', 'b@slow'])
    expect(w.s.proverState('slow')).toMatchObject({ consecutiveFailures: 1, banned: true })
    expect(w.op('a').error?.code).toBe('TIMEOUT')

    w.register('flaky')
    w.clock.advance(BASE)
    w.run(w.s.heartbeat('slow', []))
    w.run(w.s.tick())
    expect(w.op('a').deviceIds).toEqual(['flaky'])
    w.clock.advance(5001)
    w.run(w.s.heartbeat('slow', []))
    w.run(w.s.tick()) // flaky is lost while holding a
    expect(w.s.proverState('flaky')).toMatchObject({ state: 'lost', consecutiveFailures: 0, banned: false })
  })

  it('exclude the prover that just failed an op from its next placement while another candidate exists', () => {
    const w = setup({ profile: { filters: DEFAULT_PROFILE.filters.filter((f) => f !== 'ban') }, maxAttempts: 10 })
    w.register('a1')
    w.register('b1')
    const [x] = assigns(w.submit(G, flat(['x'])))
    expect(x!.proverId).toBe('a1')
    // bans are off in this profile: a1 passes every required filter, retry-elsewhere prefers b1
    const retry = w.fail('a1', x!.task)
    expect(w.on(retry)).toEqual(['x@b1'])
    // b1 fails too: both failed it, the preference is relaxed
    const third = w.fail('b1', assigns(retry)[0]!.task)
    expect(assigns(third)).toHaveLength(1)
    expect(w.s.explain(G, 'x')).toMatchObject({ state: 'assigned', rejections: [] })
  })
})

describe('redundancy', () => {
  it('performance priority places an op on `redundancy` distinct provers, defaultRedundancy when unset', () => {
    const w = setup()
    for (const p of ['p1', 'p2', 'p3', 'p4']) w.register(p, {}, 4)
    const three = w.submit('g3', graph([opSpec('a')], { priority: 'performance', redundancy: 3, nonce: '3' }))
    expect(assigns(three).map((a) => a.proverId)).toEqual(['p1', 'p2', 'p3'])
    expect(w.op('a', 'g3').deviceIds).toEqual(['p1', 'p2', 'p3'])
    expect(new Set(assigns(three).map((a) => a.task.attempt))).toEqual(new Set([1]))
    const dflt = w.submit('g2', graph([opSpec('a')], { priority: 'performance', nonce: '2' }))
    expect(assigns(dflt).map((a) => a.proverId)).toEqual(['p4', 'p1'])
    const cost = w.submit('g1', graph([opSpec('a')], { nonce: '1' }))
    expect(assigns(cost)).toHaveLength(1)
  })

  it('places on as many provers as there are candidates, at least one', () => {
    const w = setup({ defaultRedundancy: 5 })
    w.register('p1')
    w.register('p2')
    const step = w.submit(G, graph([opSpec('a')], { priority: 'performance' }))
    expect(assigns(step).map((a) => a.proverId)).toEqual(['p1', 'p2'])
    expect(w.s.explain(G, 'a')).toEqual({ state: 'assigned', rejections: [] })
  })

  it('the first valid result wins; the others get cancel and are freed; their late results are ignored', () => {
    const w = setup()
    for (const p of ['p1', 'p2', 'p3']) w.register(p)
    const placed = assigns(w.submit(G, graph([opSpec('a'), opSpec('b')], { priority: 'performance', redundancy: 3 })))
    expect(w.on({ changes: [], actions: placed, events: [] })).toEqual(['a@p1', 'a@p2', 'a@p3'])
    const task = placed[0]!.task
    w.run(w.s.taskStarted('p2', task))
    const won = w.ok('p2', task)
    expect(cancels(won).map((c) => [c.proverId, c.ref])).toEqual([
      ['p1', { graphId: G, opId: 'a', attempt: 1 }],
      ['p3', { graphId: G, opId: 'a', attempt: 1 }],
    ])
    expect(w.op('a')).toMatchObject({ state: 'succeeded', deviceIds: ['p2', 'p1', 'p3'] })
    // every prover is free again: b goes to all three
    expect(assigns(won).map((a) => a.proverId).sort()).toEqual(['p1', 'p2', 'p3'])
    for (const p of ['p1', 'p3']) expect(w.s.proverState(p)!.running).toEqual([{ graphId: G, opId: 'b', attempt: 1 }])
    // a result for the already succeeded op: acked, nothing else (never counted twice)
    const late = w.ok('p1', task)
    expect(late).toEqual({ changes: [], actions: [{ type: 'ack', proverId: 'p1', ref: { graphId: G, opId: 'a', attempt: 1 } }], events: [] })
    expect(w.s.graphStatus(G)!.ops.filter((o) => o.state === 'succeeded')).toHaveLength(1)
    expect(w.s.counts()).toMatchObject({ opsRunning: 1 })
  })

  it('a failed redundant copy does not fail the op while another prover still runs it', () => {
    const w = setup({ maxAttempts: 1 })
    w.register('p1')
    w.register('p2')
    const [c1, c2] = assigns(w.submit(G, graph([opSpec('a')], { priority: 'performance' })))
    const failed = w.fail(c1!.proverId, c1!.task)
    expect(failed.events.filter((e) => e.type === 'graph')).toEqual([])
    expect(w.op('a')).toMatchObject({ state: 'assigned', attempt: 1, deviceIds: [c2!.proverId] })
    expect(w.s.proverState(c1!.proverId)).toMatchObject({ consecutiveFailures: 1, running: [] })
    // the op stays on p2, which delivers
    w.ok(c2!.proverId, c2!.task)
    expect(w.s.graphStatus(G)!.state).toBe('succeeded')
  })

  it('when every copy fails the op is retried, or fails for good after maxAttempts', () => {
    const w = setup({ maxAttempts: 2 })
    for (const p of ['p1', 'p2', 'p3', 'p4']) w.register(p)
    const [c1, c2] = assigns(w.submit(G, graph([opSpec('a')], { priority: 'performance' })))
    w.fail(c1!.proverId, c1!.task)
    const retry = w.fail(c2!.proverId, c2!.task)
    // the failed provers are banned: the new attempt goes to the two others
    expect(assigns(retry).map((a) => [a.proverId, a.task.attempt])).toEqual([['p3', 2], ['p4', 2]])
    w.fail('p3', assigns(retry)[0]!.task)
    w.fail('p4', assigns(retry)[1]!.task)
    expect(w.s.graphStatus(G)).toMatchObject({ state: 'failed', ops: [{ state: 'failed', attempt: 2 }] })
  })

  it('high-penalty ops get highPenaltyProvers provers under cost priority', () => {
    const w = setup({ highPenaltyThreshold: 100 })
    for (const p of ['p1', 'p2', 'p3']) w.register(p)
    const step = w.submit(G, graph([opSpec('big', { penalty: 1000 }), opSpec('small', { penalty: 100 })]))
    expect(w.on(step)).toEqual(['big@p1', 'big@p2', 'small@p3'])
    expect(w.op('big').deviceIds).toEqual(['p1', 'p2'])
  })

  it('re-delivers a redundant copy to its prover when it reconnects', () => {
    const w = setup()
    w.register('p1')
    w.register('p2')
    const [c1] = assigns(w.submit(G, graph([opSpec('a')], { priority: 'performance' })))
    w.run(w.s.disconnected('p1'))
    const back = w.register('p1')
    expect(assigns(back).map((a) => a.task)).toEqual([c1!.task])
  })
})

describe('late results', () => {
  it('takes a late valid result for an earlier attempt and cancels the current one', () => {
    const w = setup()
    w.register('A')
    const [a1] = assigns(w.submit(G, flat(['a'], { timeoutMs: 1000 })))
    w.register('B')
    w.clock.advance(1001)
    const timeout = w.run(w.s.tick())
    expect(cancels(timeout).map((c) => c.proverId)).toEqual(['A'])
    const [a2] = assigns(timeout)
    expect([a2!.proverId, a2!.task.attempt]).toEqual(['B', 2])
    const late = w.ok('A', a1!.task)
    expect(late.actions).toEqual([
      { type: 'ack', proverId: 'A', ref: { graphId: G, opId: 'a', attempt: 1 } },
      { type: 'cancel', proverId: 'B', ref: { graphId: G, opId: 'a', attempt: 2 }, reason: expect.any(String) },
    ])
    expect(w.op('a')).toMatchObject({ state: 'succeeded', attempt: 2, deviceIds: ['A', 'B'] })
    expect(late.events.filter((e) => e.type === 'graph')).toMatchObject([{ state: 'succeeded' }])
    // B's result afterwards is acked and ignored
    expect(w.ok('B', a2!.task)).toEqual({ changes: [], actions: [{ type: 'ack', proverId: 'B', ref: { graphId: G, opId: 'a', attempt: 2 } }], events: [] })
    // the late success reset A's consecutive failures (the window it earned runs out)
    expect(w.s.proverState('A')).toMatchObject({ consecutiveFailures: 0 })
  })

  it('takes a late result while the op waits in ready, and ignores late failures and provers that never held it', () => {
    const w = setup()
    w.register('A')
    const [a1] = assigns(w.submit(G, flat(['a'], { timeoutMs: 1000 })))
    w.clock.advance(1001)
    w.run(w.s.tick())
    expect(w.op('a').state).toBe('ready') // A is banned, nobody else
    w.register('C')
    const c = assigns(w.run(w.s.tick()))
    expect(c).toEqual([]) // C took it at registration already
    expect(w.op('a').deviceIds).toEqual(['C'])
    expect(w.fail('A', a1!.task).changes).toEqual([])
    expect(w.ok('C', a1!.task).changes).toEqual([]) // C never held attempt 1
    expect(w.op('a').state).toBe('assigned')
    const taken = w.ok('A', a1!.task)
    expect(w.op('a')).toMatchObject({ state: 'succeeded', deviceIds: ['A', 'C'] })
    expect(cancels(taken).map((x) => x.proverId)).toEqual(['C'])
  })
})

describe('hardware affinity', () => {
  it('keeps a CPU op off a GPU prover while a CPU-only prover can take it', () => {
    const w = setup()
    w.register('a-gpu', { gpus: GPU }, 4)
    w.register('z-cpu', {}, 1)
    const step = w.submit(G, flat(['x', 'y']))
    // x goes to the CPU-only prover although a-gpu sorts first and is idle; y falls back to the GPU prover
    expect(w.on(step)).toEqual(['x@z-cpu', 'y@a-gpu'])
  })

  it('explain() counts the GPU provers the affinity preference keeps away from a CPU op', () => {
    const w = setup()
    w.register('gpu1', { gpus: GPU, memoryMiB: 8192 })
    w.register('gpu2', { gpus: GPU, memoryMiB: 8192 })
    w.register('cpu', { memoryMiB: 8192 })
    w.submit(G, flat(['y'], { requirements: { minMemoryMiB: 32_768 } }))
    const why = w.s.explain(G, 'y')!
    expect(why.rejections.find((r) => r.filter === 'affinity')).toEqual({
      filter: 'affinity',
      count: 2,
      reasons: ['gpu prover kept for gpu ops: op needs no gpu'],
    })
    expect(why.rejections.find((r) => r.filter === 'memory')!.count).toBe(3)
    expect(why).toMatchObject({ feasible: 0, relaxed: [], wanted: 1, ranking: [] })
  })

  it('a GPU op goes only to a GPU prover', () => {
    const w = setup()
    w.register('cpu', {}, 4)
    w.submit(G, flat(['g'], { requirements: { gpu: { vendor: 'nvidia' } } }))
    expect(w.op('g').state).toBe('ready')
    expect(w.s.explain(G, 'g')!.rejections.find((r) => r.filter === 'gpu')!.count).toBe(1)
    expect(w.on(w.register('gpu', { gpus: GPU }))).toEqual(['g@gpu'])
  })
})

describe('score plugins and the profile', () => {
  /** A on 2 slots runs x and z; B is idle; y consumes x. */
  function locality(init: SchedulerInit) {
    const w = setup(init)
    w.register('A', {}, 2)
    const first = assigns(w.submit(G, graph([opSpec('x'), opSpec('z'), opSpec('y', { inputs: ['x'] })])))
    expect(first.map((a) => `${a.task.opId}@${a.proverId}`)).toEqual(['x@A', 'z@A'])
    w.register('B')
    return w.on(w.ok('A', first[0]!.task))
  }

  it('idle first by default: an idle prover beats a busy one holding the inputs', () => {
    expect(locality({})).toEqual(['y@B'])
  })

  it('profile weights change the choice: weighting locality over idleness keeps y where its input is', () => {
    expect(locality({ profile: { scores: { idle: 1, locality: 10 } } })).toEqual(['y@A'])
  })

  it('holds the inputs: among idle provers, the one that produced the input wins', () => {
    const w = setup()
    w.register('A')
    w.register('B')
    const [x] = assigns(w.submit(G, graph([opSpec('w'), opSpec('x'), opSpec('y', { inputs: ['x'] })])))
    // w@A, x@B; finishing x frees B and makes y ready: B holds y's input
    expect(x!.task.opId).toBe('w')
    const done = w.ok('B', w.s.proverState('B')!.running[0]!)
    expect(w.on(done)).toEqual(['y@B'])
    expect(w.s.explain(G, 'y')).toEqual({ state: 'assigned', rejections: [] })
  })

  it('measured speed: an EWMA of run time per (prover, op name) prefers the faster prover', () => {
    const w = setup({ speedAlpha: 0.5 })
    w.register('fast')
    w.register('slow')
    const [f, s] = assigns(w.submit(G, flat(['a', 'b'])))
    expect([f!.proverId, s!.proverId]).toEqual(['fast', 'slow'])
    w.run(w.s.taskStarted('fast', f!.task))
    w.run(w.s.taskStarted('slow', s!.task))
    w.clock.advance(100)
    w.ok('fast', f!.task)
    w.clock.advance(900)
    w.ok('slow', s!.task)
    expect(w.s.proverState('fast')!.speedMs).toEqual({ prove: 100 })
    expect(w.s.proverState('slow')!.speedMs).toEqual({ prove: 1000 })
    // both idle; slow was assigned less recently, yet fast wins on speed
    const next = w.submit('g2', flat(['c'], {}, 'n2'))
    expect(w.on(next)).toEqual(['c@fast'])
    const c = assigns(next)[0]!
    w.run(w.s.taskStarted('fast', c.task))
    w.clock.advance(300)
    w.ok('fast', c.task)
    expect(w.s.proverState('fast')!.speedMs).toEqual({ prove: 200 }) // 100 + 0.5 * (300 - 100)
  })

  it('cost: the smaller device that fits wins over a bigger one', () => {
    const w = setup()
    w.register('big', { cpu: { model: 'x', arch: 'x64', cores: 128 } })
    w.register('small', { cpu: { model: 'x', arch: 'x64', cores: 4 } })
    expect(w.on(w.submit(G, flat(['a'])))).toEqual(['a@small'])
  })

  it('explain() ranks feasible provers with their scores and says how many provers the op wants', () => {
    const w = setup({ defaultRedundancy: 3 })
    w.register('small', { cpu: { model: 'x', arch: 'x64', cores: 4 }, plugins: [] })
    w.submit(G, graph([opSpec('a')], { priority: 'performance' }))
    w.run(w.s.disconnected('small'))
    w.register('p1', { plugins: [] })
    const why = w.s.explain(G, 'a')!
    expect(why.wanted).toBe(3)
    expect(why.feasible).toBe(0)
    expect(why.ranking).toEqual([])
    expect(why.rejections.find((r) => r.filter === 'plugin')!.count).toBe(2)
    expect(why.rejections.find((r) => r.filter === 'live')!.reasons).toEqual(['prover is not connected'])
  })

  it('a custom filter plugin from the registry, enabled by the profile, rejects provers and shows in explain()', () => {
    const noArm: FilterPlugin = {
      name: 'no-arm',
      filter: (_ctx, p) => (p.record.device.cpu.arch === 'arm64' ? unschedulable('no-arm', 'arm64 is not allowed here') : { code: 'success', reasons: [], plugin: 'no-arm' }),
    }
    const w = setup({ profile: { filters: [...DEFAULT_PROFILE.filters, 'no-arm'] } }, { registry: createRegistry({ filters: [noArm] }) })
    w.register('arm', { cpu: { model: 'm', arch: 'arm64', cores: 8 } })
    w.submit(G, flat(['a']))
    expect(w.s.explain(G, 'a')!.rejections.at(-1)).toEqual({ filter: 'no-arm', count: 1, reasons: ['arm64 is not allowed here'] })
    expect(w.on(w.register('x86'))).toEqual(['a@x86'])
  })

  it('refuses a profile with an unknown plugin, a missing required filter or a negative weight', () => {
    const clock = new FakeClock()
    for (const profile of [{ filters: ['live', 'capacity', 'plugin', 'nope'] }, { filters: ['capacity', 'plugin'] }, { scores: { idle: -1 } }, { scores: { fastest: 1 } }, { candidatesToScore: 0 }]) {
      expect(() => new Scheduler({ profile }, { clock })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
    }
  })

  it('a profile without the ban filter places on a banned prover', () => {
    const w = setup({ profile: { filters: ['live', 'capacity', 'plugin'] }, maxAttempts: 3 })
    w.register('p1')
    const [a] = assigns(w.submit(G, flat(['a'])))
    const retry = w.fail('p1', a!.task)
    expect(w.s.proverState('p1')!.banned).toBe(true)
    expect(w.on(retry)).toEqual(['a@p1'])
  })

  it('samples at most candidatesToScore feasible provers, always including input holders', () => {
    const w = setup({ profile: { candidatesToScore: 1, scores: { locality: 1 } } })
    for (const p of ['p1', 'p2', 'p3', 'p4']) w.register(p)
    const placed = assigns(w.submit(G, graph([opSpec('x'), opSpec('y', { inputs: ['x'] })])))
    const producer = placed[0]!.proverId
    w.run(w.s.disconnected(producer))
    w.register(producer) // reconnects idle, outside the sample's start
    const done = w.ok(producer, placed[0]!.task)
    expect(w.on(done)).toEqual([`y@${producer}`])
  })
})

describe('restore keeps ban state', () => {
  it('a restored scheduler keeps windows, counts and permanent bans', () => {
    const w = setup({ maxAttempts: 10 })
    w.register('p2')
    let [b] = assigns(w.submit(G, flat(['b'])))
    // p2 fails four times in a row: banned for good
    for (let n = 1; n <= 4; n++) {
      w.fail('p2', b!.task)
      if (n === 4) break
      w.clock.advance(BASE * 2 ** (n - 1))
      ;[b] = assigns(w.run(w.s.tick()))
    }
    // p1 takes b and fails it once: a 1x window
    const [b5] = assigns(w.register('p1'))
    w.fail('p1', b5!.task)
    const before = { p1: w.s.proverState('p1')!, p2: w.s.proverState('p2')! }
    expect(before.p2).toMatchObject({ permanent: true, consecutiveFailures: 4 })
    const snapshot = w.store.snapshot()
    expect(snapshot.provers.find((p) => p.proverId === 'p2')?.ban).toEqual({ consecutiveFailures: 4, bannedUntil: null, permanent: true })

    const clock = new FakeClock(w.clock.now())
    const s2 = new Scheduler({ banBaseMs: BASE }, { clock }, snapshot)
    for (const id of ['p1', 'p2'] as const) {
      const { connected: _c, running: _r, speedMs: _s, ...ban } = before[id]
      expect(s2.proverState(id)).toMatchObject({ ...ban, connected: false })
    }
    // p2 comes back under the same name: still banned for good
    const back = s2.registerProver({ proverId: 'p2', peerId: 'peer-p2', device: device(), slots: 1, running: [] })
    expect(assigns(back).filter((x) => x.proverId === 'p2')).toEqual([])
    expect(s2.proverState('p2')).toMatchObject({ banned: true, permanent: true })
  })
})
