import { describe, expect, it } from 'vitest'
import { GalacticError, GraphEvent, Task as TaskSchema } from '@galactic/schemas'
import type { DeviceDescriptor, Graph, Task, TaskRef } from '@galactic/schemas'
import { DEFAULT_FILTERS, Scheduler } from '../src/core/index.js'
import type { SchedulerInit, Step } from '../src/core/index.js'
import { assigns, cancels, device, FakeClock, failure, flat, MemoryStore, outputHash, success, zkm } from './helpers.js'

/** A scheduler, a fake clock, and a store that keeps every Step's changes as the journal would. */
function setup(init: SchedulerInit = {}) {
  const clock = new FakeClock()
  const store = new MemoryStore()
  const s = new Scheduler(init, { clock })
  const steps: Step[] = []
  const run = (step: Step): Step => {
    checkStep(step)
    store.apply(step.changes)
    steps.push(step)
    return step
  }
  const register = (proverId: string, over: Partial<DeviceDescriptor> = {}, slots = 1, running: TaskRef[] = []): Step =>
    run(s.registerProver({ proverId, peerId: `peer-${proverId}`, device: device(over), slots, running }))
  const submit = (graphId: string, graph: Graph): Step => run(s.submit(graphId, `hash-${graphId}`, graph).step)
  /** Starts and finishes a task successfully; returns the result's Step. */
  const complete = (proverId: string, task: Task): Step => {
    run(s.taskStarted(proverId, task))
    return run(s.taskResult(proverId, task, success(task), [`peer-${proverId}`]))
  }
  const states = (graphId: string): Record<string, string> =>
    Object.fromEntries((s.graphStatus(graphId)?.ops ?? []).map((o) => [o.id, o.state]))
  return { clock, store, s, steps, run, register, submit, complete, states }
}

/** Every Step: at most one change per record, actions and events well formed. */
function checkStep(step: Step): void {
  const keys = step.changes.map((c) =>
    c.type === 'graph.put' ? `g:${c.graph.graphId}` : c.type === 'op.put' ? `o:${c.op.graphId}/${c.op.spec.id}` : `p:${c.prover.proverId}`,
  )
  expect(new Set(keys).size).toBe(keys.length)
  for (const e of step.events) GraphEvent.parse(e)
  for (const a of step.actions) if (a.type === 'assign') TaskSchema.parse(a.task)
}

const GRAPH = 'g1'

describe('Scheduler: readiness along a ZKM graph', () => {
  it('moves ops from pending to ready as their inputs succeed', () => {
    const w = setup()
    const submitted = w.submit(GRAPH, zkm(3))
    expect(w.states(GRAPH)).toEqual({
      split: 'ready',
      'prove-0': 'pending',
      'prove-1': 'pending',
      'prove-2': 'pending',
      'agg-0-0': 'pending',
      'agg-1-0': 'pending',
      snark: 'pending',
    })
    // the graph and all its ops are journaled; events: graph running, split ready
    expect(submitted.changes.filter((c) => c.type === 'op.put')).toHaveLength(7)
    expect(submitted.changes.filter((c) => c.type === 'graph.put')).toHaveLength(1)
    expect(submitted.events.map((e) => (e.type === 'op' ? `${e.opId}:${e.state}` : `graph:${e.state}`))).toEqual([
      'graph:running',
      'split:ready',
    ])
    expect(submitted.actions).toEqual([])

    const reg = w.register('p1', {}, 4)
    const [split] = assigns(reg)
    expect(split?.task.opId).toBe('split')
    expect(w.states(GRAPH)['split']).toBe('assigned')

    const afterSplit = w.complete('p1', split!.task)
    const proves = assigns(afterSplit).map((a) => a.task.opId)
    expect(proves).toEqual(['prove-0', 'prove-1', 'prove-2'])
    expect(w.states(GRAPH)).toMatchObject({ split: 'succeeded', 'prove-0': 'assigned', 'agg-0-0': 'pending' })

    const tasks = new Map(assigns(afterSplit).map((a) => [a.task.opId, a.task]))
    expect(assigns(w.complete('p1', tasks.get('prove-0')!))).toEqual([])
    expect(w.states(GRAPH)['agg-0-0']).toBe('pending')
    const agg00 = assigns(w.complete('p1', tasks.get('prove-1')!))
    expect(agg00.map((a) => a.task.opId)).toEqual(['agg-0-0'])
    // the odd proof is carried up: agg-1-0 waits for agg-0-0 and prove-2
    expect(assigns(w.complete('p1', agg00[0]!.task))).toEqual([])
    expect(w.states(GRAPH)['agg-1-0']).toBe('pending')
    const agg10 = assigns(w.complete('p1', tasks.get('prove-2')!))
    expect(agg10.map((a) => a.task.opId)).toEqual(['agg-1-0'])
    expect(agg10[0]!.task.inputs.map((i) => i.opId)).toEqual(['agg-0-0', 'prove-2'])
  })

  it('records readyAt when an op becomes ready', () => {
    const w = setup()
    w.submit(GRAPH, zkm(1))
    const t0 = w.clock.now()
    const [split] = assigns(w.register('p1'))
    w.clock.advance(250)
    w.complete('p1', split!.task)
    const ops = w.s.graphStatus(GRAPH)!.ops
    expect(ops.find((o) => o.id === 'split')?.readyAt).toBe(t0)
    expect(ops.find((o) => o.id === 'prove-0')?.readyAt).toBe(t0 + 250)
    expect(ops.find((o) => o.id === 'snark')?.readyAt).toBeNull()
  })
})

describe('Scheduler: placement filters', () => {
  const gpu = (memoryMiB: number, vendor: 'nvidia' | 'amd' = 'nvidia', model = 'H100') => ({ vendor, model, memoryMiB })
  const cases: Array<{
    name: string
    filter: string
    requirements?: Record<string, unknown>
    plugin?: { name: string; version: string }
    bad: Partial<DeviceDescriptor>
    good: Partial<DeviceDescriptor>
  }> = [
    { name: 'plugin version', filter: 'plugin', bad: { plugins: [{ name: 'sha256-chain', version: '0.9.0' }] }, good: {} },
    { name: 'plugin name', filter: 'plugin', bad: { plugins: [{ name: 'other', version: '1.0.0' }] }, good: {} },
    { name: 'os', filter: 'os', requirements: { os: 'darwin' }, bad: { os: 'linux' }, good: { os: 'darwin' } },
    {
      name: 'cpu arch',
      filter: 'cpu',
      requirements: { cpu: { arch: 'arm64' } },
      bad: { cpu: { model: 'x', arch: 'x64', cores: 64 } },
      good: { cpu: { model: 'x', arch: 'arm64', cores: 1 } },
    },
    {
      name: 'cpu cores',
      filter: 'cpu',
      requirements: { cpu: { minCores: 16 } },
      bad: { cpu: { model: 'x', arch: 'x64', cores: 8 } },
      good: { cpu: { model: 'x', arch: 'x64', cores: 16 } },
    },
    { name: 'gpu missing', filter: 'gpu', requirements: { gpu: {} }, bad: { gpus: [] }, good: { gpus: [gpu(1)] } },
    {
      name: 'gpu vendor',
      filter: 'gpu',
      requirements: { gpu: { vendor: 'nvidia' } },
      bad: { gpus: [gpu(80_000, 'amd')] },
      good: { gpus: [gpu(80_000, 'nvidia')] },
    },
    {
      name: 'gpu model',
      filter: 'gpu',
      requirements: { gpu: { model: 'H100' } },
      bad: { gpus: [gpu(80_000, 'nvidia', 'A100')] },
      good: { gpus: [gpu(80_000, 'nvidia', 'H100')] },
    },
    {
      name: 'gpu memory',
      filter: 'gpu',
      requirements: { gpu: { minMemoryMiB: 40_000 } },
      bad: { gpus: [gpu(24_000), gpu(24_000)] },
      good: { gpus: [gpu(24_000), gpu(40_000)] },
    },
    {
      name: 'gpu count',
      filter: 'gpu',
      requirements: { gpu: { count: 2, minMemoryMiB: 40_000 } },
      bad: { gpus: [gpu(80_000), gpu(24_000)] },
      good: { gpus: [gpu(80_000), gpu(40_000)] },
    },
    { name: 'memory', filter: 'memory', requirements: { minMemoryMiB: 32_768 }, bad: { memoryMiB: 16_384 }, good: { memoryMiB: 32_768 } },
  ]

  it.each(cases)('$name: a prover that fails the $filter filter gets nothing, one that passes gets the op', (c) => {
    const w = setup()
    w.submit(GRAPH, flat(['a'], c.requirements === undefined ? {} : { requirements: c.requirements }))
    expect(assigns(w.register('bad', c.bad))).toEqual([])
    expect(w.states(GRAPH)['a']).toBe('ready')
    const why = w.s.explain(GRAPH, 'a')!
    expect(why.state).toBe('ready')
    const rejected = why.rejections.filter((r) => r.count > 0)
    expect(rejected.map((r) => r.filter)).toEqual([c.filter])
    expect(rejected[0]!.count).toBe(1)
    expect(rejected[0]!.reasons).toHaveLength(1)

    const good = assigns(w.register('good', c.good))
    expect(good.map((a) => [a.proverId, a.task.opId])).toEqual([['good', 'a']])
    expect(w.s.graphStatus(GRAPH)!.ops[0]!.deviceIds).toEqual(['good'])
  })

  it('capacity: a prover runs at most `slots` ops at once', () => {
    const w = setup()
    w.submit(GRAPH, flat(['a', 'b', 'c']))
    const step = w.register('p1', {}, 2)
    expect(assigns(step).map((a) => a.task.opId)).toEqual(['a', 'b'])
    const why = w.s.explain(GRAPH, 'c')!
    expect(why.rejections.find((r) => r.filter === 'capacity')).toEqual({ filter: 'capacity', count: 1, reasons: ['all 2 slots busy'] })
    // a freed slot takes the next op
    expect(assigns(w.complete('p1', assigns(step)[0]!.task)).map((a) => a.task.opId)).toEqual(['c'])
  })

  it('live: a disconnected or lost prover gets no new work', () => {
    const w = setup({ livenessTimeoutMs: 1000 })
    w.register('p1')
    w.run(w.s.disconnected('p1'))
    w.submit(GRAPH, flat(['a']))
    expect(w.states(GRAPH)['a']).toBe('ready')
    expect(w.s.explain(GRAPH, 'a')!.rejections.find((r) => r.filter === 'live')).toEqual({
      filter: 'live',
      count: 1,
      reasons: ['prover is not connected'],
    })
    w.clock.advance(1001)
    w.run(w.s.tick())
    expect(w.s.explain(GRAPH, 'a')!.rejections.find((r) => r.filter === 'live')?.reasons).toEqual(['prover is lost'])
  })

  it('explain() counts rejections per filter over every prover, with distinct reasons', () => {
    const w = setup()
    w.submit(GRAPH, flat(['a'], { requirements: { os: 'linux', minMemoryMiB: 64_000 } }))
    w.register('v1', { plugins: [{ name: 'sha256-chain', version: '0.1.0' }] })
    w.register('v2', { plugins: [{ name: 'sha256-chain', version: '0.2.0' }], memoryMiB: 1024 })
    w.register('mac', { os: 'darwin' })
    w.register('small', { memoryMiB: 8192 })
    const why = w.s.explain(GRAPH, 'a')!
    expect(why.state).toBe('ready')
    expect(why.rejections.map((r) => r.filter)).toEqual(DEFAULT_FILTERS.map((f) => f.name))
    const by = Object.fromEntries(why.rejections.map((r) => [r.filter, r]))
    expect(by['plugin']).toEqual({
      filter: 'plugin',
      count: 2,
      reasons: ['no plugin sha256-chain@1.0.0 (has sha256-chain@0.1.0)', 'no plugin sha256-chain@1.0.0 (has sha256-chain@0.2.0)'],
    })
    expect(by['os']).toEqual({ filter: 'os', count: 1, reasons: ['os is darwin, needs linux'] })
    expect(by['memory']?.count).toBe(4)
    expect(by['memory']?.reasons).toEqual(['memory is 16384 MiB, needs 64000 MiB', 'memory is 1024 MiB, needs 64000 MiB', 'memory is 8192 MiB, needs 64000 MiB'])
    expect(by['live']?.count).toBe(0)
    expect(by['capacity']?.count).toBe(0)
    expect(w.s.explain(GRAPH, 'nope')).toBeUndefined()
  })

  it('explain() of an op that is not ready has no rejections', () => {
    const w = setup()
    w.submit(GRAPH, zkm(1))
    expect(w.s.explain(GRAPH, 'snark')).toEqual({ state: 'pending', rejections: [] })
  })

  it('picks the prover with the fewest running ops, then the least recently assigned, then by id', () => {
    const w = setup()
    w.register('c', {}, 4)
    w.register('b', {}, 4)
    w.register('a', {}, 4)
    const first = assigns(w.submit(GRAPH, flat(['o1', 'o2', 'o3', 'o4', 'o5'])))
    // all idle and never assigned: by id; then each gets one, round robin by recency
    expect(first.map((x) => `${x.task.opId}@${x.proverId}`)).toEqual(['o1@a', 'o2@b', 'o3@c', 'o4@a', 'o5@b'])
    // c has fewest running now
    expect(assigns(w.submit('g2', flat(['x'], {}, 'other'))).map((x) => x.proverId)).toEqual(['c'])
  })

  it('places ready ops in submission order, then op index', () => {
    const w = setup()
    w.submit('first', flat(['z', 'y'], {}, 'n1'))
    w.submit('second', flat(['a'], {}, 'n2'))
    const step = w.register('p1', {}, 3)
    expect(assigns(step).map((a) => `${a.task.graphId}/${a.task.opId}`)).toEqual(['first/z', 'first/y', 'second/a'])
  })
})

describe('Scheduler: a full run', () => {
  it('runs a ZKM graph to succeeded, propagating outputs into Task.inputs', () => {
    const w = setup()
    w.register('p1', {}, 2)
    w.register('p2', {}, 2)
    let pending = assigns(w.submit(GRAPH, zkm(4, { pluginMode: 'performance' })))
    const seen = new Map<string, Task>()
    while (pending.length > 0) {
      const a = pending.shift()!
      const task = a.task
      seen.set(task.opId, task)
      expect(task.pluginMode).toBe('performance')
      expect(task.attempt).toBe(1)
      // every input arrives with the outputs its op produced, and the providers that hold them
      for (const input of task.inputs) {
        const producer = seen.get(input.opId)!
        expect(input.outputs).toEqual([{ name: 'proof', hash: outputHash(producer), size: 32, providers: [`peer-${deviceOf(w, producer)}`] }])
      }
      pending.push(...assigns(w.complete(a.proverId, task)))
    }
    expect(seen.size).toBe(1 + 4 + 3 + 1)
    const status = w.s.graphStatus(GRAPH)!
    expect(status.state).toBe('succeeded')
    expect(status.finishedAt).toBe(w.clock.now())
    expect(status.pluginMode).toBe('performance')
    expect(status.ops.every((o) => o.state === 'succeeded' && o.attempt === 1 && o.outputs?.length === 1)).toBe(true)
    expect(status.ops.map((o) => o.id)).toEqual(zkm(4).ops.map((o) => o.id))
    const last = w.steps.at(-1)!
    expect(last.events.at(-1)).toEqual({ type: 'graph', graphId: GRAPH, state: 'succeeded', at: w.clock.now() })
    expect(last.changes.find((c) => c.type === 'graph.put')).toMatchObject({ graph: { state: 'succeeded' } })
    const snark = seen.get('snark')!
    expect(w.s.output(outputHash(snark))).toMatchObject({ name: 'proof', hash: outputHash(snark) })
    expect(w.s.output(outputHash({ ...snark, attempt: 9 }))).toBeUndefined()
    expect(w.s.counts()).toEqual({ graphsRunning: 0, opsReady: 0, opsRunning: 0, proversLive: 2 })
  })

  it('acks every result and emits one event per op state change', () => {
    const w = setup()
    w.submit(GRAPH, flat(['a']))
    const [a] = assigns(w.register('p1'))
    const started = w.run(w.s.taskStarted('p1', a!.task))
    expect(started.events).toMatchObject([{ type: 'op', opId: 'a', state: 'running', attempt: 1, deviceIds: ['p1'] }])
    expect(w.s.graphStatus(GRAPH)!.ops[0]!.startedAt).toBe(w.clock.now())
    const done = w.run(w.s.taskResult('p1', a!.task, success(a!.task), []))
    expect(done.actions).toEqual([{ type: 'ack', proverId: 'p1', ref: { graphId: GRAPH, opId: 'a', attempt: 1 } }])
    expect(done.events.map((e) => e.state)).toEqual(['succeeded', 'succeeded'])
    expect(done.events.map((e) => e.type)).toEqual(['op', 'graph'])
  })

  it('submits and places a 1000-segment ZKM graph and runs it to the end', () => {
    const w = setup()
    for (let i = 0; i < 10; i++) w.register(`p${i}`, {}, 8)
    const graph = zkm(1000)
    const { step, created } = w.s.submit('big', 'h', graph)
    expect(created).toBe(true)
    expect(step.changes).toHaveLength(1 + graph.ops.length)
    const queue = assigns(step)
    let done = 0
    while (queue.length > 0) {
      const a = queue.shift()!
      queue.push(...assigns(w.s.taskResult(a.proverId, a.task, success(a.task), [])))
      done++
    }
    expect(done).toBe(graph.ops.length)
    expect(w.s.graphStatus('big')!.state).toBe('succeeded')
  })
})

function deviceOf(w: ReturnType<typeof setup>, task: TaskRef): string {
  return w.s.graphStatus(task.graphId)!.ops.find((o) => o.id === task.opId)!.deviceIds![0]!
}

describe('Scheduler: failures and retries', () => {
  it('retries a failed op with a new attempt, then fails it and its graph after maxAttempts', () => {
    const w = setup({ maxAttempts: 3 })
    w.register('p1')
    w.register('p2')
    // a prover that fails is banned for a while: each retry needs a fresh prover
    w.register('p3')
    w.register('p4')
    const first = assigns(w.submit(GRAPH, flat(['a', 'b'])))
    const a1 = first.find((x) => x.task.opId === 'a')!
    const b1 = first.find((x) => x.task.opId === 'b')!
    w.run(w.s.taskStarted(b1.proverId, b1.task))

    let current = a1
    for (let attempt = 1; attempt < 3; attempt++) {
      const step = w.run(w.s.taskResult(current.proverId, current.task, failure, []))
      expect(step.events.filter((e) => e.type === 'op').map((e) => e.state)).toEqual(['ready', 'assigned'])
      const next = assigns(step)
      expect(next.map((x) => [x.task.opId, x.task.attempt])).toEqual([['a', attempt + 1]])
      const op = w.s.graphStatus(GRAPH)!.ops.find((o) => o.id === 'a')!
      expect(op.error).toEqual(failure.ok ? null : failure.error) // kept until success
      current = next[0]!
    }
    const last = w.run(w.s.taskResult(current.proverId, current.task, failure, []))
    const status = w.s.graphStatus(GRAPH)!
    expect(status.state).toBe('failed')
    expect(status.finishedAt).toBe(w.clock.now())
    expect(status.ops.map((o) => [o.id, o.state, o.attempt])).toEqual([
      ['a', 'failed', 3],
      ['b', 'failed', 1],
    ])
    expect(status.ops[0]!.error?.code).toBe('PLUGIN_FAILED')
    // b was running on the other prover: cancelled, failed with TASK_CANCELLED
    expect(status.ops[1]!.error?.code).toBe('TASK_CANCELLED')
    expect(cancels(last)).toEqual([{ type: 'cancel', proverId: b1.proverId, ref: { graphId: GRAPH, opId: 'b', attempt: 1 }, reason: expect.any(String) }])
    expect(assigns(last)).toEqual([])
    expect(last.events.filter((e) => e.type === 'graph')).toMatchObject([{ state: 'failed' }])
    // b's late result is acked and ignored
    const late = w.run(w.s.taskResult(b1.proverId, b1.task, success(b1.task), []))
    expect(late.actions.map((x) => x.type)).toEqual(['ack'])
    expect(late.changes).toEqual([])
    expect(w.s.counts()).toMatchObject({ graphsRunning: 0, opsRunning: 0 })
  })

  it('leaves pending and ready ops of a failed graph alone and never places them', () => {
    const w = setup({ maxAttempts: 1 })
    w.submit(GRAPH, zkm(2))
    const [split] = assigns(w.register('p1'))
    w.run(w.s.taskResult('p1', split!.task, failure, []))
    expect(w.states(GRAPH)).toMatchObject({ split: 'failed', 'prove-0': 'pending' })
    w.register('p2') // p1 is banned after its failure
    w.submit('other', flat(['x', 'y']))
    expect(w.s.counts().opsReady).toBe(1) // y: x is on p2
  })
})

describe('Scheduler: liveness and deadlines', () => {
  it('a silent prover is lost and its ops go back to ready', () => {
    const w = setup({ livenessTimeoutMs: 5000 })
    w.submit(GRAPH, flat(['a']))
    const [a] = assigns(w.register('p1'))
    w.clock.advance(4000)
    const hb = w.run(w.s.heartbeat('p1', [a!.task]))
    // a reported task still `assigned` becomes `running`; lastSeenAt is not journaled
    expect(hb.changes.map((c) => c.type)).toEqual(['op.put'])
    expect(w.states(GRAPH)['a']).toBe('running')
    expect(w.run(w.s.heartbeat('p1', [a!.task])).changes).toEqual([])
    w.clock.advance(5000)
    expect(w.run(w.s.tick()).changes).toEqual([])
    w.clock.advance(1)
    const lost = w.run(w.s.tick())
    expect(lost.changes).toContainEqual({ type: 'prover.put', prover: expect.objectContaining({ proverId: 'p1', state: 'lost' }) })
    expect(w.states(GRAPH)['a']).toBe('ready')
    const op = w.s.graphStatus(GRAPH)!.ops[0]!
    expect(op.error?.code).toBe('CONNECTION_CLOSED')
    expect(op.deviceIds).toBeNull()
    expect(w.s.counts()).toEqual({ graphsRunning: 1, opsReady: 1, opsRunning: 0, proversLive: 0 })

    const again = assigns(w.register('p2'))
    expect(again.map((x) => [x.proverId, x.task.attempt])).toEqual([['p2', 2]])
    // the lost prover's late but valid result for attempt 1 is taken: the op succeeds, attempt 2 on p2 is cancelled
    const late = w.run(w.s.taskResult('p1', a!.task, success(a!.task), []))
    expect(late.actions).toEqual([
      { type: 'ack', proverId: 'p1', ref: { graphId: GRAPH, opId: 'a', attempt: 1 } },
      { type: 'cancel', proverId: 'p2', ref: { graphId: GRAPH, opId: 'a', attempt: 2 }, reason: expect.any(String) },
    ])
    expect(w.s.graphStatus(GRAPH)!.ops[0]).toMatchObject({ state: 'succeeded', attempt: 2, deviceIds: ['p1', 'p2'], outputs: [{ hash: outputHash(a!.task) }] })
    expect(w.s.counts()).toEqual({ graphsRunning: 0, opsReady: 0, opsRunning: 0, proversLive: 1 })
  })

  it('a lost prover that heartbeats again is live again and its stale tasks are cancelled', () => {
    const w = setup({ livenessTimeoutMs: 1000 })
    w.submit(GRAPH, flat(['a']))
    const [a] = assigns(w.register('p1'))
    w.clock.advance(1001)
    w.run(w.s.tick())
    const back = w.run(w.s.heartbeat('p1', [a!.task]))
    expect(back.changes.filter((c) => c.type === 'prover.put')).toEqual([{ type: 'prover.put', prover: expect.objectContaining({ state: 'live' }) }])
    expect(cancels(back).map((c) => c.ref)).toEqual([{ graphId: GRAPH, opId: 'a', attempt: 1 }])
    expect(assigns(back).map((x) => x.task.attempt)).toEqual([2])
  })

  it('an op past its deadline is cancelled and goes back to ready with a TIMEOUT error', () => {
    const w = setup({ livenessTimeoutMs: 60_000 })
    w.submit(GRAPH, flat(['a'], { timeoutMs: 1000 }))
    const [a] = assigns(w.register('p1'))
    w.register('p2')
    w.clock.advance(1000)
    expect(w.run(w.s.tick()).actions).toEqual([])
    w.clock.advance(1)
    const step = w.run(w.s.tick())
    expect(cancels(step)).toEqual([{ type: 'cancel', proverId: 'p1', ref: { graphId: GRAPH, opId: 'a', attempt: 1 }, reason: expect.stringContaining('1000 ms') }])
    // re-placed at once: p1 is free again but was assigned most recently, p2 never
    expect(assigns(step).map((x) => [x.proverId, x.task.attempt])).toEqual([['p2', 2]])
    const op = w.s.graphStatus(GRAPH)!.ops[0]!
    expect(op.error?.code).toBe('TIMEOUT')
    expect(op.state).toBe('assigned')
  })

  it('an op past its deadline on its last attempt fails for good', () => {
    const w = setup({ maxAttempts: 1, livenessTimeoutMs: 60_000 })
    w.submit(GRAPH, flat(['a'], { timeoutMs: 100 }))
    w.register('p1')
    w.clock.advance(101)
    const step = w.run(w.s.tick())
    expect(cancels(step)).toHaveLength(1)
    expect(w.s.graphStatus(GRAPH)).toMatchObject({ state: 'failed', ops: [{ state: 'failed', error: { code: 'TIMEOUT' } }] })
  })
})

describe('Scheduler: reconnects and stale messages', () => {
  it('re-delivers assigned ops on re-register with the same attempt, and cancels what it should not run', () => {
    const w = setup()
    w.submit(GRAPH, flat(['a', 'b', 'c']))
    const first = assigns(w.register('p1', {}, 3))
    const [a, b, c] = first.map((x) => x.task)
    w.run(w.s.taskStarted('p1', a!))
    w.run(w.s.disconnected('p1'))
    const stale: TaskRef = { graphId: GRAPH, opId: 'c', attempt: 7 }
    const unknown: TaskRef = { graphId: 'nope', opId: 'x', attempt: 1 }
    const step = w.register('p1', {}, 3, [{ graphId: GRAPH, opId: 'b', attempt: 1 }, stale, unknown])
    // a (running, not reported) and c (not reported) are sent again, same attempt; b is kept
    expect(assigns(step).map((x) => x.task)).toEqual([a, c])
    expect(cancels(step).map((x) => x.ref)).toEqual([stale, unknown])
    expect(w.states(GRAPH)).toEqual({ a: 'running', b: 'running', c: 'assigned' })
    expect(w.s.graphStatus(GRAPH)!.ops.map((o) => o.attempt)).toEqual([1, 1, 1])
    expect(b?.attempt).toBe(1)
  })

  it('refuses a different peer under a connected prover id, accepts it once disconnected', () => {
    const w = setup()
    w.register('p1')
    const other = { proverId: 'p1', peerId: 'intruder', device: device(), slots: 1, running: [] }
    expect(() => w.s.registerProver(other)).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }))
    w.run(w.s.disconnected('p1'))
    w.run(w.s.registerProver(other))
    expect(w.s.provers()).toMatchObject([{ proverId: 'p1', peerId: 'intruder', connected: true }])
  })

  it('heartbeat from an unknown prover is a protocol error', () => {
    const w = setup()
    let err: unknown
    try {
      w.s.heartbeat('ghost', [])
    } catch (e) {
      err = e
    }
    expect(GalacticError.is(err, 'PROTOCOL_ERROR')).toBe(true)
  })

  it('acks and ignores stale results: old attempt, other prover, finished op', () => {
    const w = setup({ maxAttempts: 5 })
    w.register('p1')
    w.register('p2')
    const [a] = assigns(w.submit(GRAPH, flat(['a'])))
    const retry = assigns(w.run(w.s.taskResult(a!.proverId, a!.task, failure, [])))
    const a2 = retry[0]!
    expect(a2.task.attempt).toBe(2)
    const before = w.s.graphStatus(GRAPH)
    const other = a2.proverId === 'p1' ? 'p2' : 'p1'
    for (const [prover, ref] of [
      [a2.proverId, a!.task], // old attempt
      [other, a2.task], // not this prover
    ] as const) {
      const step = w.run(w.s.taskResult(prover, ref, success(a2.task), []))
      expect(step).toEqual({ changes: [], actions: [{ type: 'ack', proverId: prover, ref: { graphId: GRAPH, opId: 'a', attempt: ref.attempt } }], events: [] })
      expect(w.run(w.s.taskStarted(prover, ref)).changes).toEqual([])
    }
    expect(w.s.graphStatus(GRAPH)).toEqual(before)
    w.complete(a2.proverId, a2.task)
    const done = w.s.graphStatus(GRAPH)
    const again = w.run(w.s.taskResult(a2.proverId, a2.task, failure, []))
    expect(again.changes).toEqual([])
    expect(again.actions.map((x) => x.type)).toEqual(['ack'])
    expect(w.s.graphStatus(GRAPH)).toEqual(done)
  })
})

describe('Scheduler: submission', () => {
  it('is idempotent for the same spec and refuses another spec under the same id', () => {
    const w = setup()
    const first = w.s.submit(GRAPH, 'h1', zkm(2))
    expect(first.created).toBe(true)
    const again = w.s.submit(GRAPH, 'h1', zkm(2))
    expect(again).toEqual({ created: false, step: { changes: [], actions: [], events: [] } })
    expect(() => w.s.submit(GRAPH, 'h2', zkm(3))).toThrow(expect.objectContaining({ code: 'NONCE_CONFLICT' }))
    expect(w.s.hasGraph(GRAPH)).toBe(true)
    expect(w.s.hasGraph('g2')).toBe(false)
    expect(w.s.graphStatus('g2')).toBeUndefined()
    expect(w.s.requesterOf(GRAPH)).toBe('alice')
    expect(w.s.requesterOf('g2')).toBeUndefined()
  })

  it('numbers graphs in submission order and keeps the submitted graph fields', () => {
    const w = setup()
    w.submit('x', zkm(1))
    const step = w.submit('y', parseGraph2())
    const g = step.changes.find((c) => c.type === 'graph.put')
    expect(g).toEqual({
      type: 'graph.put',
      graph: {
        graphId: 'y',
        seq: 2,
        requester: 'carol',
        nonce: 'r',
        specHash: 'hash-y',
        priority: 'performance',
        redundancy: 3,
        pluginMode: 'efficiency',
        state: 'running',
        submittedAt: w.clock.now(),
        finishedAt: null,
      },
    })
  })

  it('rejects bad options', () => {
    expect(() => new Scheduler({ maxAttempts: 0 }, { clock: new FakeClock() })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})

function parseGraph2(): Graph {
  return { ...flat(['a'], {}, 'r'), requester: 'carol', priority: 'performance', redundancy: 3 }
}

describe('Scheduler: restore from a snapshot', () => {
  it('rebuilds the state from the Changes emitted so far, in the middle of a run', () => {
    const w = setup({ livenessTimeoutMs: 5000 })
    w.register('p1', {}, 2)
    let pending = assigns(w.submit(GRAPH, zkm(3)))
    // run split and two proves; leave prove-2 assigned and agg-0-0 running
    const split = pending.shift()!
    pending = assigns(w.complete('p1', split.task))
    const [p0, p1] = pending
    w.complete('p1', p0!.task)
    const agg = assigns(w.complete('p1', p1!.task))
    expect(agg.map((x) => x.task.opId)).toEqual(['agg-0-0'])
    w.run(w.s.taskStarted('p1', agg[0]!.task))
    w.clock.advance(10)
    const before = w.s.graphStatus(GRAPH)!
    expect(before.ops.map((o) => o.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'assigned', 'running', 'pending', 'pending'])

    // restart
    const clock = new FakeClock(w.clock.now() + 1000)
    const s2 = new Scheduler({ livenessTimeoutMs: 5000 }, { clock }, w.store.snapshot())
    expect(s2.graphStatus(GRAPH)).toEqual(before)
    expect(s2.provers()).toMatchObject([{ proverId: 'p1', connected: false, state: 'live', lastSeenAt: clock.now(), running: [
      { graphId: GRAPH, opId: 'prove-2', attempt: 1 },
      { graphId: GRAPH, opId: 'agg-0-0', attempt: 1 },
    ] }])
    expect(s2.counts()).toEqual({ graphsRunning: 1, opsReady: 0, opsRunning: 2, proversLive: 1 })
    const prove0 = before.ops.find((o) => o.id === 'prove-0')!
    expect(s2.output(prove0.outputs![0]!.hash)).toEqual(prove0.outputs![0])
    // a full liveness timeout to come back
    clock.advance(5000)
    expect(s2.tick().changes).toEqual([])

    // it reconnects still running agg-0-0: prove-2 is delivered again, same attempt
    const back = s2.registerProver({ proverId: 'p1', peerId: 'peer-p1', device: device(), slots: 2, running: [agg[0]!.task] })
    expect(assigns(back).map((x) => [x.task.opId, x.task.attempt])).toEqual([['prove-2', 1]])
    const prove2 = assigns(back)[0]!.task
    expect(prove2.inputs).toEqual([{ opId: 'split', outputs: before.ops[0]!.outputs }])
    // finishing the rest works on the restored scheduler
    const agg10 = assigns(s2.taskResult('p1', prove2, success(prove2), ['peer-p1']))
    expect(agg10).toEqual([])
    const next = assigns(s2.taskResult('p1', agg[0]!.task, success(agg[0]!.task), ['peer-p1']))
    expect(next.map((x) => x.task.opId)).toEqual(['agg-1-0'])
    const snark = assigns(s2.taskResult('p1', next[0]!.task, success(next[0]!.task), []))
    s2.taskResult('p1', snark[0]!.task, success(snark[0]!.task), [])
    expect(s2.graphStatus(GRAPH)!.state).toBe('succeeded')
    expect(s2.graphStatus(GRAPH)!.ops.map((o) => o.attempt)).toEqual([1, 1, 1, 1, 1, 1, 1])
  })

  it('re-queues the ops of a restored prover that does not come back in time', () => {
    const w = setup({ livenessTimeoutMs: 5000 })
    w.submit(GRAPH, flat(['a']))
    w.register('p1')
    const clock = new FakeClock(w.clock.now() + 60_000)
    const s2 = new Scheduler({ livenessTimeoutMs: 5000 }, { clock }, w.store.snapshot())
    clock.advance(5001)
    const step = s2.tick()
    expect(step.changes).toContainEqual({ type: 'prover.put', prover: expect.objectContaining({ proverId: 'p1', state: 'lost' }) })
    expect(s2.graphStatus(GRAPH)!.ops[0]).toMatchObject({ state: 'ready', attempt: 1 })
  })

  it('continues graph numbering after a restore', () => {
    const w = setup()
    w.submit('a', flat(['x'], {}, '1'))
    w.submit('b', flat(['x'], {}, '2'))
    const s2 = new Scheduler({}, { clock: w.clock }, w.store.snapshot())
    const step = s2.submit('c', 'h', flat(['x'], {}, '3')).step
    expect(step.changes.find((c) => c.type === 'graph.put')).toMatchObject({ graph: { seq: 3 } })
    expect(s2.submit('a', 'hash-a', flat(['x'], {}, '1')).created).toBe(false)
  })
})
