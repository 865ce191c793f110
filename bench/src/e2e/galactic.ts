import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { spawnAgent, spawnOracle, type AgentReady, type GalacticProcess } from '@galactic/cli/processes'
import { GalacticClient } from '@galactic/sdk'
import { buildZkmGraph, type ContentHash, type GraphInput, type GraphStatus } from '@galactic/schemas'
import type { Cleanup } from './cleanup.js'
import { childrenOf, cpuSnapshot, cpuSpent, type CpuTimes } from './proc-cpu.js'
import { medianBy, summarize, type Summary } from './stats.js'

export const NOOP = { name: 'noop', version: '1.0.0' } as const

export interface GalacticInit {
  /** galactic-plugin.json of the noop plugin. */
  manifest: string
  agents: number
  /** `--slots` of each agent. */
  slots: number
  /** The oracle's `--journal-sync`. */
  journalSync: 'full' | 'interval'
  segments: number
  warmupSegments: number
  /** Measured runs of the DAG after the warm-up; the median one is reported. */
  rounds: number
  /** Folder for the oracle's and agents' data. */
  workDir: string
  logLevel: string
  /** Oracle runs the noop plugin's `verify` on every result (`--verify-plugins`). */
  verify: boolean
  /** Write V8 CPU profiles of the oracle and the first agent (and their plugins) under this folder. */
  cpuProfDir?: string | undefined
  signal: AbortSignal
}

export interface GraphRun {
  ops: number
  /** First submit to the terminal graph event at the requester. */
  wallMs: number
  /** The submit call alone (parse, validate, journal, first placements). */
  submitMs: number
  /** Events the requester received (snapshot included). */
  events: number
  /** readyAt -> startedAt per op, from the final status (ms, whole). */
  readyToStarted: Summary
  /** startedAt -> finishedAt per op: the agent's part (inputs, plugin, upload, result) and the oracle's handling. */
  startedToFinished: Summary
  /** submittedAt -> finishedAt as the oracle records it. */
  oracleMs: number
  /** Agents that ran at least one op. */
  agentsUsed: number
  /** The snark's output bytes, to compare with BullMQ's. */
  sinkOutput: string
  status: GraphStatus
  /** The run on the monotonic clock (µs), to cut CPU profiles to it. */
  window: { fromUs: number; toUs: number }
  /** CPU snapshots at the window's edges (with a probe): the checks after it are not counted. */
  cpu?: { before: CpuTimes; after: CpuTimes }
}

export interface GalacticResult {
  /** The median measured round (by wall time), with its CPU below. */
  run: GraphRun
  /** Every measured round's wall time (ms), in the order they ran. */
  roundsWallMs: number[]
  warmup: GraphRun
  startMs: number
  oracleWs: string
  profiles: { oracle?: number | undefined; agent?: number | undefined }
  /**
   * CPU ms each group of processes used during the measured run (Linux /proc): the oracle, the
   * agents, their resident plugins, and this process (the requester; BullMQ is not running then).
   */
  cpuMs: Record<string, number>
  /** Of cpuMs, the time spent in the kernel (system time: syscalls, network stack, wake-ups). */
  cpuSystemMs: Record<string, number>
}

const PRELOAD = new URL('./cpu-prof-preload.js', import.meta.url).href

/**
 * Profiles the process that `spawn` starts (synchronously) into `dir`: NODE_OPTIONS gets
 * `--import` of the preload (NODE_OPTIONS refuses `--cpu-prof`), for that one spawn only.
 */
function profiled<T>(dir: string | undefined, spawn: () => T): T {
  if (dir === undefined) return spawn()
  const before = { options: process.env['NODE_OPTIONS'], dir: process.env['GALACTIC_E2E_CPU_PROF_DIR'] }
  process.env['NODE_OPTIONS'] = [before.options, `--import=${PRELOAD}`].filter((x) => x !== undefined && x !== '').join(' ')
  process.env['GALACTIC_E2E_CPU_PROF_DIR'] = dir
  try {
    return spawn()
  } finally {
    for (const [key, value] of [['NODE_OPTIONS', before.options], ['GALACTIC_E2E_CPU_PROF_DIR', before.dir]] as const) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

/** Starts an oracle and `agents` agents on loopback, runs a warm-up graph, then the measured one. */
export async function runGalactic(init: GalacticInit, cleanup: Cleanup): Promise<GalacticResult> {
  const t0 = performance.now()
  const profile = (name: string): string | undefined => {
    if (init.cpuProfDir === undefined) return undefined
    const dir = join(init.cpuProfDir, name)
    mkdirSync(dir, { recursive: true })
    return dir
  }
  const oracleArgs = [...(init.verify ? ['--verify-plugins', init.manifest] : []), '--journal-sync', init.journalSync]
  const oracle = await profiled(profile('oracle'), () =>
    // ports 0: the oracle binds free ones and reports them in its ready line
    spawnOracle({ dataDir: join(init.workDir, 'oracle'), wsPort: 0, p2pPort: 0, logLevel: init.logLevel, args: oracleArgs }),
  )
  // a long grace: a profiled process writes its profile on the way out
  cleanup.add('stop the oracle', () => oracle.stop(init.cpuProfDir === undefined ? 5_000 : 30_000))
  const ws = oracle.ready.ws

  const started = await Promise.allSettled(
    Array.from({ length: init.agents }, (_, i) =>
      profiled(i === 0 ? profile('agent-0') : undefined, () =>
        spawnAgent({
          oracle: ws,
          name: `e2e-agent-${i}`,
          dataDir: join(init.workDir, `agent-${i}`),
          logLevel: init.logLevel,
          args: ['--plugins', init.manifest, '--slots', String(init.slots)],
        }),
      ),
    ),
  )
  const agents: Array<GalacticProcess<AgentReady>> = []
  for (const s of started) if (s.status === 'fulfilled') agents.push(s.value)
  cleanup.add('stop the agents', async () => {
    await Promise.all(agents.map((a) => a.stop(init.cpuProfDir === undefined ? 5_000 : 30_000)))
  })
  const failed = started.find((s) => s.status === 'rejected')
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  const startMs = performance.now() - t0

  const client = new GalacticClient({ url: ws, requestTimeoutMs: 60_000 })
  cleanup.add('close the client', () => client.close())
  const nonce = `e2e-${process.pid}-${Date.now()}`
  const warmup = await runGraph(client, zkm(`${nonce}-warmup`, init.warmupSegments), init.signal)
  const pid = (p: { child: { pid?: number | undefined } }): number[] => (p.child.pid === undefined ? [] : [p.child.pid])
  const agentPids = agents.flatMap(pid)
  // the resident plugins, launched during the warm-up
  const groups = { oracle: pid(oracle), agents: agentPids, plugins: agentPids.flatMap(childrenOf) }
  const rounds: Array<{ run: GraphRun; cpuMs: Record<string, number>; cpuSystemMs: Record<string, number> }> = []
  for (let i = 0; i < init.rounds; i++) {
    const run = await runGraph(client, zkm(`${nonce}-${i}`, init.segments), init.signal, () => cpuSnapshot(groups))
    const { total, system } = cpuSpent(run.cpu?.before ?? {}, run.cpu?.after ?? {})
    rounds.push({ run, cpuMs: total, cpuSystemMs: system })
  }
  const median = medianBy(rounds, (r) => r.run.wallMs)
  return {
    ...median,
    roundsWallMs: rounds.map((r) => r.run.wallMs),
    warmup,
    startMs,
    oracleWs: ws,
    profiles: { oracle: oracle.child.pid, agent: agents[0]?.child.pid },
  }
}

function zkm(nonce: string, segments: number): GraphInput {
  return buildZkmGraph({ requester: 'bench-e2e', nonce, segments, plugin: { ...NOOP }, pluginMode: 'performance' })
}

/**
 * Submits one graph and follows it with `watch` until it ends; the clock stops at the terminal
 * event. Like `client.wait`, it asks for the graph's own events only (`ops: false`): per-op
 * timings come from the final status.
 */
async function runGraph(client: GalacticClient, graph: GraphInput, signal: AbortSignal, cpuProbe?: () => CpuTimes): Promise<GraphRun> {
  const cpuBefore = cpuProbe?.()
  const fromUs = Number(process.hrtime.bigint() / 1000n)
  const t0 = performance.now()
  const { graphId } = await client.submit(graph, { signal })
  const submitMs = performance.now() - t0
  let events = 0
  let state: string | undefined
  for await (const event of client.watch(graphId, { signal, reconnect: false, ops: false })) {
    events++
    if (event.type === 'snapshot') state = event.status.state
    else if (event.type === 'graph') state = event.state
  }
  const wallMs = performance.now() - t0
  const toUs = Number(process.hrtime.bigint() / 1000n)
  const cpuAfter = cpuProbe?.()
  const status = await client.status(graphId, { signal })
  if (state !== 'succeeded' || status.state !== 'succeeded') {
    const failed = status.ops.find((op) => op.state === 'failed')
    throw new Error(`galactic graph ended ${state ?? status.state}${failed === undefined ? '' : `: ${failed.id}: ${failed.error?.code ?? ''} ${failed.error?.message ?? ''}`}`)
  }
  const waits: number[] = []
  const runs: number[] = []
  const provers = new Set<string>()
  for (const op of status.ops) {
    if (op.readyAt !== null && op.startedAt !== null) waits.push(op.startedAt - op.readyAt)
    if (op.startedAt !== null && op.finishedAt !== null) runs.push(op.finishedAt - op.startedAt)
    for (const id of op.deviceIds ?? []) provers.add(id)
  }
  if (waits.length !== status.ops.length) throw new Error(`${status.ops.length - waits.length} ops have no readyAt or startedAt`)
  const sink = status.ops.find((op) => op.id === 'snark')?.outputs?.[0]
  if (sink === undefined) throw new Error('the snark op has no output')
  const sinkOutput = Buffer.from(await client.blob(sink.hash as ContentHash, { signal })).toString('utf8')
  return {
    ops: status.ops.length,
    wallMs,
    submitMs,
    events,
    readyToStarted: summarize(waits),
    startedToFinished: summarize(runs),
    oracleMs: (status.finishedAt ?? NaN) - status.submittedAt,
    agentsUsed: provers.size,
    sinkOutput,
    status,
    window: { fromUs, toUs },
    ...(cpuBefore === undefined || cpuAfter === undefined ? {} : { cpu: { before: cpuBefore, after: cpuAfter } }),
  }
}
