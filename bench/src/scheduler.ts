/**
 * Scheduler placement benchmark: drives the pure core (no network, no journal) with ten ZKM
 * graphs of 10,000 ops each (100,000 ops; LIMITS.maxOps is 10,000 per graph) and 10,000
 * provers of mixed devices, some banned and some busy, running every op through
 * assign -> task.started -> task.result so provers free up.
 *
 * Reports, per placed op, the time the core spends filtering, scoring, reserving and binding it
 * (timed inside the core with process.hrtime.bigint through SchedulerComponents.metrics):
 * placements per second over that time, p50 and p99. Also reports end-to-end throughput: placed
 * ops over the whole time of every submit, task.result and tick call, how much of the placement
 * time went to placements slower than 100 us (GC pauses, preemption on a shared machine), and
 * the 1-minute load average when the measured part started. With --json, prints one JSON object
 * as its last line.
 *
 * Run: npm run bench:scheduler [-- --json]
 */
import { loadavg } from 'node:os'
import { buildZkmGraph, parseGraph } from '@galactic/schemas'
import type { DeviceDescriptor, Task } from '@galactic/schemas'
import { Scheduler } from '@galactic/oracle'
import type { Action, ProverRecord, Step } from '@galactic/oracle'

const PLUGIN = { name: 'zkm-stage', version: '1.0.0' }
const PROVERS = 10_000
const GPU_SHARE = 0.3
const GRAPHS = 10
const SEGMENTS = 5_000 // split + 5,000 prove + 4,999 aggregate = 10,000 ops (stopAfter 'agg')
const BANNED = 500 // half in a long window, half permanent
const BACKGROUND_OPS = 1_000 // long ops that keep some provers busy for the whole run

const json = process.argv.includes('--json')

class Clock {
  t = 1_700_000_000_000
  now(): number {
    return this.t
  }
}

function deviceOf(i: number): { device: DeviceDescriptor; slots: number } {
  const gpu = i % 10 < GPU_SHARE * 10
  return {
    device: {
      os: 'linux',
      cpu: { model: 'bench', arch: i % 7 === 0 ? 'arm64' : 'x64', cores: [8, 16, 32, 64][i % 4] as number },
      gpus: gpu ? Array.from({ length: 1 + (i % 2) }, () => ({ vendor: 'nvidia' as const, model: i % 3 === 0 ? 'A100' : 'H100', memoryMiB: 81_920 })) : [],
      memoryMiB: [16_384, 32_768, 65_536][i % 3] as number,
      plugins: [{ ...PLUGIN }, { name: 'background', version: '1.0.0' }],
    },
    slots: gpu ? 1 : 2,
  }
}

function assignsOf(step: Step): Array<Extract<Action, { type: 'assign' }>> {
  const out: Array<Extract<Action, { type: 'assign' }>> = []
  for (const a of step.actions) if (a.type === 'assign') out.push(a)
  return out
}

function success(task: Task) {
  const hex = (task.attempt.toString(16) + task.opId.replace(/[^0-9a-f]/g, '')).padEnd(64, '0').slice(0, 64)
  return { ok: true as const, outputs: [{ name: 'proof', hash: `sha256:${hex}`, size: 32 }] }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

function main(): void {
  const clock = new Clock()
  // some provers are banned: restored from a journal snapshot with their ban state
  const banned: ProverRecord[] = []
  for (let i = 0; i < BANNED; i++) {
    const id = `prover-${i * 20}`
    const { device, slots } = deviceOf(i * 20)
    banned.push({
      proverId: id,
      peerId: `peer-${id}`,
      device,
      slots,
      registeredAt: clock.t,
      lastSeenAt: clock.t,
      state: 'live',
      ban: i % 2 === 0 ? { consecutiveFailures: 4, bannedUntil: null, permanent: true } : { consecutiveFailures: 2, bannedUntil: clock.t + 3_600_000, permanent: false },
    })
  }
  // per placement: the core times each op's filter, score, reserve and bind (SchedulerMetrics)
  const samples = new Float64Array(400_000)
  let placements = 0
  let placementNs = 0
  let unschedulable = 0
  let unschedulableNs = 0
  let measuring = false
  const metrics = {
    placed(ns: number): void {
      if (!measuring) return
      if (placements < samples.length) samples[placements] = ns / 1000
      placements++
      placementNs += ns
    },
    unschedulable(ns: number): void {
      if (!measuring) return
      unschedulable++
      unschedulableNs += ns
    },
  }
  const k = process.env['K']
  const s = new Scheduler(
    { livenessTimeoutMs: 3_600_000, ...(k === undefined ? {} : { profile: { candidatesToScore: Number(k) } }) },
    { clock, metrics, hrtime: process.hrtime.bigint },
    { graphs: [], ops: [], provers: banned },
  )
  for (let i = 0; i < PROVERS; i++) {
    const { device, slots } = deviceOf(i)
    s.registerProver({ proverId: `prover-${i}`, peerId: `peer-prover-${i}`, device, slots, running: [] })
  }
  // some provers are busy: long background ops that never finish during the run
  const background = parseGraph({
    requester: 'bench',
    nonce: 'background',
    ops: Array.from({ length: BACKGROUND_OPS }, (_, i) => ({
      id: `bg-${i}`,
      name: 'background',
      plugin: { name: 'background', version: '1.0.0' },
      requirements: i % 3 === 0 ? { gpu: {} } : {},
      timeoutMs: 24 * 60 * 60 * 1000,
    })),
  })
  const bgPlaced = assignsOf(s.submit('background', 'bg', background).step).length

  const graphs = Array.from({ length: GRAPHS }, (_, g) =>
    parseGraph(
      buildZkmGraph({
        requester: 'bench',
        nonce: `zkm-${g}`,
        segments: SEGMENTS,
        plugin: { ...PLUGIN },
        stopAfter: 'agg',
        // half the graphs prove on GPUs; split and aggregation run on CPUs
        ...(g % 2 === 0 ? { requirements: { prove: { gpu: { vendor: 'nvidia', count: 1 } } } } : {}),
        timeoutMs: 24 * 60 * 60 * 1000,
      }),
    ),
  )
  const ops = graphs.reduce((n, g) => n + g.ops.length, 0)

  let assigned = 0
  let coreNs = 0n
  let calls = 0
  const queue: Array<Extract<Action, { type: 'assign' }>> = []
  const timed = (call: () => Step): Step => {
    const t0 = process.hrtime.bigint()
    const step = call()
    coreNs += process.hrtime.bigint() - t0
    calls++
    for (const a of step.actions) {
      if (a.type !== 'assign') continue
      queue.push(a)
      assigned++
    }
    return step
  }

  const loadAvg1 = Number((loadavg()[0] as number).toFixed(2))
  measuring = true
  const wall0 = process.hrtime.bigint()
  graphs.forEach((g, i) => timed(() => s.submit(`zkm-${i}`, `hash-${i}`, g).step))
  let head = 0
  let results = 0
  while (head < queue.length) {
    const a = queue[head++] as Extract<Action, { type: 'assign' }>
    clock.t += 1
    s.taskStarted(a.proverId, a.task)
    clock.t += 1 + (results % 5)
    timed(() => s.taskResult(a.proverId, a.task, success(a.task), []))
    results++
    if (results % 10_000 === 0) timed(() => s.tick())
    if (head > 4096) {
      queue.splice(0, head)
      head = 0
    }
  }
  const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6

  for (let i = 0; i < GRAPHS; i++) {
    const state = s.graphStatus(`zkm-${i}`)?.state
    if (state !== 'succeeded') throw new Error(`graph zkm-${i} ended ${state}`)
  }
  const sorted = samples.slice(0, Math.min(placements, samples.length)).sort()
  // placements slower than 100 us: a GC pause or a preemption landed inside them
  let slow = 0
  let slowUs = 0
  for (let i = sorted.length - 1; i >= 0 && (sorted[i] as number) > 100; i--) {
    slow++
    slowUs += sorted[i] as number
  }
  const coreSeconds = Number(coreNs) / 1e9
  const result = {
    ops,
    provers: PROVERS,
    placementsPerSec: Math.round(placements / (placementNs / 1e9)),
    p50Us: Number(percentile(sorted, 0.5).toFixed(2)),
    p99Us: Number(percentile(sorted, 0.99).toFixed(2)),
    placements,
    endToEndPerSec: Math.round(assigned / coreSeconds),
    slowPlacements: slow,
    slowPlacementMs: Number((slowUs / 1000).toFixed(1)),
    loadAvg1,
  }
  const gpu = Math.round(PROVERS * GPU_SHARE)
  const lines = [
    `scheduler placement: ${GRAPHS} ZKM graphs x ${ops / GRAPHS} ops (split, ${SEGMENTS} prove, ${SEGMENTS - 1} aggregate; prove on GPUs in half) = ${ops} ops`,
    `provers: ${PROVERS} (${PROVERS - gpu} CPU-only x 2 slots, ${gpu} GPU x 1 slot), ${BANNED} banned (half permanent), ${bgPlaced} busy with background ops`,
    `placements: ${placements} ops placed (${assigned} assign actions), ${unschedulable} attempts found no prover (${(unschedulableNs / 1e6).toFixed(0)} ms)`,
    `placement (filter, score, reserve, bind per op): ${result.placementsPerSec} placements/s, p50 ${result.p50Us} us, p99 ${result.p99Us} us  (goal >= 200000/s, p99 < 50 us)`,
    `slow placements (> 100 us: a GC pause or preemption inside): ${slow}, ${result.slowPlacementMs} ms of ${(placementNs / 1e6).toFixed(0)} ms placement time; 1-minute load average at the start: ${loadAvg1}`,
    `end to end (every submit, task.result and tick call, with result handling, events and journal changes): ${result.endToEndPerSec} placements/s over ${calls} calls, ${(coreSeconds * 1000).toFixed(0)} ms in the core, ${wallMs.toFixed(0)} ms wall`,
    `node ${process.version}`,
  ]
  for (const l of lines) console.log(l)
  if (json) console.log(JSON.stringify(result))
}

main()
