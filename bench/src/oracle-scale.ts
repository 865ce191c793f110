/**
 * Oracle scale: the oracle's memory with many connected agents, and its restart time on a large
 * journal.
 *
 * Restart (first, on a quiet set of processes): a journal of --restart-ops ops (ten ZKM-shaped
 * graphs of 10,000 ops through the scheduler core and Journal.apply: half run to the end, the rest
 * partly done with ops in flight, 200 provers) in a scratch folder; then, each in a fresh process:
 * Journal.open / Journal.load / new Scheduler(snapshot) timed apart, and OracleNode.start() on the
 * folder until `oracle.info` answers over WebSocket; and `galactic oracle start` (the CLI, a new
 * Node.js process) until `oracle.info` answers.
 *
 * Agents: a real OracleNode in its own process (scale/oracle-proc.ts, --heartbeat-ms and
 * --liveness-ms long so heartbeats do not dominate), and --workers processes simulating agents
 * (scale/agents-worker.ts): each agent its own libp2p node (TCP, noise, yamux, identify,
 * gossipsub), its own peer id and Ethereum key, a signed `register` on the agent protocol, then
 * heartbeats. Agents are added in steps (--steps); after each, the oracle runs a full GC and its
 * RSS, heap and live provers are read from its GET /metrics, and prover.list is asked through the
 * SDK. A step that adds no live prover for --stall-s stops the growth (a limit was hit).
 *
 * The oracle's own code runs as shipped; three settings of its libp2p node differ by default, each
 * because the shipped one stops the run before 10,000 agents (docs/benchmarks.md, "Findings"):
 * - `--connection-limit raised`: net/src/node.ts fixes maxConnections at 4096 and libp2p refuses
 *   every inbound connection past it; raised to --agents + 256 on the running oracle. `shipped` keeps
 *   it; a number sets it (to show the cap at a small scale).
 * - `--get-connections linear`: libp2p 3.3.11's ConnectionManager.getConnections() concatenates
 *   per-peer arrays one by one, quadratic in the number of connections, and runs on every inbound
 *   connection; a linear version is swapped in. `shipped` keeps libp2p's.
 * - `--ping-monitor off`: libp2p's connection monitor pings every connection every 10 s and aborts
 *   it when the ping takes over 5 s, so when the oracle's event loop lags that long it drops
 *   thousands of agents at once; stopped on the oracle (the agent protocol has its own heartbeats).
 *   `shipped` keeps it.
 * `--source-addresses one` makes every agent dial from 127.0.0.1, as agents behind one NAT would:
 * libp2p then admits 5 new connections per second from that host. `--agent-config light` (default)
 * cuts the simulated agents' own periodic work (see scale/agents-worker.ts); `full` is createNode's
 * stack as it is.
 *
 *   npm run bench:oracle-scale -- [--agents 10000] [--steps 1000,2500,5000,10000] [--workers 4]
 *     [--concurrency 2] [--connection-limit raised|shipped|N] [--get-connections linear|shipped]
 *     [--ping-monitor off|shipped] [--agent-config light|full] [--source-addresses many|one]
 *     [--stall-s 60] [--idle-s 10]
 *     [--restart-ops 100000] [--heap-breakdown] [--oracle-cpu-prof DIR] [--skip-agents]
 *     [--skip-restart] [--work-dir DIR] [--timeout-s 570] [--json]
 *
 * --oracle-cpu-prof DIR: a CPU profile of the oracle process (the e2e bench's preload), summarized.
 * --heap-breakdown: V8 heap snapshots of the oracle at 0 agents and after the first step, their
 * difference by kind of object (constructor) per agent: where an agent's bytes go.
 *
 * Needs a file-descriptor limit above --agents for the oracle: the bench raises its own (the
 * children inherit it) with prlimit when it can, and says so.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { spawnOracle } from '@galactic/cli/processes'
import { GalacticClient } from '@galactic/sdk'
import { Cleanup } from './e2e/cleanup.js'
import { profileOf, summarizeProfile } from './e2e/cpu-profile.js'
import { cpuMsOf } from './e2e/proc-cpu.js'
import { round } from './e2e/stats.js'
import type { ScaleReply, WorkerArgs } from './scale/agents-worker.js'
import { Child, killAll, runJson } from './scale/child.js'
import type { OracleProcArgs, OracleProcReply, OracleProcRequest } from './scale/oracle-proc.js'
import type { BuildResult, HeapResult, PhasesResult, ProversResult, StartResult } from './scale/probe.js'

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url))
const WORKER = here('./scale/agents-worker.js')
const ORACLE = here('./scale/oracle-proc.js')
const PROBE = here('./scale/probe.js')
const PRELOAD = new URL('./e2e/cpu-prof-preload.js', import.meta.url).href
const MiB = 2 ** 20

function positive(name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}`)
  return n
}

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ')
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Prometheus text -> `name{labels}` -> value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line)
    if (m !== null) out.set(m[1] as string, Number(m[2]))
  }
  return out
}

async function scrape(http: string): Promise<Map<string, number>> {
  const res = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(60_000) })
  if (!res.ok) throw new Error(`GET ${http}/metrics answered ${res.status}`)
  return parseMetrics(await res.text())
}

/** Raises this process's open-file limit (children inherit it); returns what is in effect. */
function raiseFdLimit(want: number): { soft: number; raised: boolean; note: string } {
  const read = (): number => {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.trim().split(/\s+/)[3]
    return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft)
  }
  const before = read()
  if (before >= want) return { soft: before, raised: false, note: `open-file limit ${before} (enough)` }
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' })
  } catch (err) {
    return { soft: before, raised: false, note: `open-file limit ${before}, below the ${want} needed, and prlimit could not raise it (${(err as Error).message.split('\n')[0]}): run as root or raise ulimit -n` }
  }
  const after = read()
  return { soft: after, raised: after > before, note: `open-file limit raised from ${before} to ${after} with prlimit` }
}

interface Sample {
  agents: number
  /** Live provers at the oracle (galactic_provers{state="live"}). */
  liveGauge: number
  /** prover.list through the SDK: live and connected. */
  listed: number
  rssBytes: number
  heapUsedBytes: number
  heapTotalBytes: number
  externalBytes: number
  openFds: number
  /** The oracle's event-loop delay since the previous scrape (prom-client), p99 and max, seconds. */
  lagP99: number
  lagMax: number
  gcMs: number
  /** Time to connect and register this step's agents. */
  registerMs: number
  /** Oracle CPU during the step's registrations (ms). */
  oracleCpuMs: number
  /** Agent workers' CPU during the step's registrations (ms). */
  workersCpuMs: number
  /** Oracle and workers CPU while idle after the step (share of one core), over --idle-s. */
  oracleIdleCores: number
  workersIdleCores: number
  failed: number
  retries: number
  /** Sessions dropped after registering, since the start (each agent dialled again). */
  drops: number
  /** Connections the oracle's libp2p connection monitor aborted after a failed ping, since the start. */
  pingAborts: number
  workersRssBytes: number
  load: string
}

interface AgentsResult {
  samples: Sample[]
  /** Heap snapshots of the oracle at 0 agents and after the first step (--heap-breakdown). */
  snapshots: { empty: string; loaded: string; agents: number } | undefined
  reached: number
  target: number
  stalled: string | undefined
  connectionLimit: { shipped: number; now: number }
  errors: string[]
  workers: number
  stopMs: number
}

interface RestartResult {
  build: BuildResult
  phases: PhasesResult
  start: StartResult
  /** `galactic oracle start` from spawn to the first oracle.info answer. */
  cliMs: number
  cliReadyMs: number
  load: { build: string; phases: string; start: string; cli: string }
}

async function restartPart(ops: number, dir: string, cleanup: Cleanup): Promise<RestartResult> {
  const loads = { build: '', phases: '', start: '', cli: '' }
  const build = await runJson<BuildResult>([PROBE, 'build', dir, String(ops)], 300_000)
  loads.build = load()
  const phases = await runJson<PhasesResult>([PROBE, 'phases', dir], 120_000)
  loads.phases = load()
  const start = await runJson<StartResult>([PROBE, 'start', dir], 120_000)
  loads.start = load()
  const t0 = performance.now()
  const oracle = await spawnOracle({ dataDir: dir, wsPort: 0, p2pPort: 0, logLevel: 'warn' })
  cleanup.add('stop the restarted CLI oracle', () => oracle.stop())
  const cliReadyMs = performance.now() - t0
  const client = new GalacticClient({ url: oracle.ready.ws, requestTimeoutMs: 60_000 })
  try {
    await client.info()
  } finally {
    client.close()
  }
  const cliMs = performance.now() - t0
  loads.cli = load()
  await oracle.stop()
  return { build, phases, start, cliMs, cliReadyMs, load: loads }
}

interface AgentsInit {
  agents: number
  steps: number[]
  workers: number
  concurrency: number
  attempts: number
  heartbeatMs: number
  livenessMs: number
  /** libp2p maxConnections for the oracle; null: the shipped value. */
  maxConnections: number | null
  /** Each agent dials from its own 127.x address; false: all from 127.0.0.1. */
  ownAddress: boolean
  agentConfig: 'full' | 'light'
  /** Swap libp2p's quadratic getConnections() for a linear one in the oracle. */
  linearGetConnections: boolean
  /** Keep the oracle's libp2p connection monitor running (as shipped). */
  pingMonitor: boolean
  stallMs: number
  idleMs: number
  /** performance.now() past which no agent is added (the run's time budget, less its wind-down). */
  growUntil: number
  /** Take heap snapshots of the oracle at 0 agents and after the first step. */
  heapBreakdown: boolean
  /** Write a CPU profile of the oracle process into this folder. */
  cpuProfDir: string | undefined
  dir: string
}

async function agentsPart(init: AgentsInit, cleanup: Cleanup, log: (line: string) => void): Promise<AgentsResult> {
  const oracleArgs: OracleProcArgs = {
    dataDir: join(init.dir, 'oracle'),
    heartbeatMs: init.heartbeatMs,
    livenessMs: init.livenessMs,
    maxConnections: init.maxConnections,
    linearGetConnections: init.linearGetConnections,
    stopPingMonitor: !init.pingMonitor,
  }
  let snapshots: AgentsResult['snapshots']
  const snapshot = async (name: string): Promise<string> => {
    oracle.send({ type: 'snapshot', path: join(init.dir, `${name}.heapsnapshot`) } satisfies OracleProcRequest)
    return (await oracle.next('snapshot', 300_000)).path
  }
  if (init.cpuProfDir !== undefined) mkdirSync(init.cpuProfDir, { recursive: true })
  const profile: Record<string, string> = init.cpuProfDir === undefined ? {} : { NODE_OPTIONS: `--import=${PRELOAD}`, GALACTIC_E2E_CPU_PROF_DIR: init.cpuProfDir }
  // libp2p logs each connection its connection monitor aborts after a failed ping (DEBUG): counted, not kept
  const oracle = new Child<OracleProcReply>(
    'oracle',
    ORACLE,
    [JSON.stringify(oracleArgs)],
    ['--expose-gc', '--max-old-space-size=12288'],
    { DEBUG: '*connection-monitor:error', DEBUG_COLORS: 'no', ...profile },
    /aborting connection due to ping failure/,
  )
  cleanup.add('stop the oracle', () => oracle.stop(15_000))
  const ready = await oracle.next('ready', 60_000)
  const http = ready.ws.replace(/^ws/, 'http')
  const client = new GalacticClient({ url: ready.ws, requestTimeoutMs: 120_000, maxMessageBytes: 256 * MiB })
  cleanup.add('close the SDK client', () => client.close())

  const sample = async (agents: number, step: Omit<Sample, 'agents' | 'liveGauge' | 'listed' | 'rssBytes' | 'heapUsedBytes' | 'heapTotalBytes' | 'externalBytes' | 'openFds' | 'lagP99' | 'lagMax' | 'gcMs' | 'load'>): Promise<Sample> => {
    await sleep(2_000)
    // the event-loop delay since the last scrape (the idle window), before the forced GC adds its pause
    const lag = await scrape(http)
    oracle.send({ type: 'gc' } satisfies OracleProcRequest)
    const gc = await oracle.next('gc', 120_000)
    const m = await scrape(http)
    const provers = await client.provers()
    const get = (k: string): number => m.get(k) ?? NaN
    return {
      agents,
      liveGauge: get('galactic_provers{state="live"}'),
      listed: provers.filter((p) => p.state === 'live' && p.connected).length,
      rssBytes: get('galactic_oracle_process_resident_memory_bytes'),
      heapUsedBytes: get('galactic_oracle_nodejs_heap_size_used_bytes'),
      heapTotalBytes: get('galactic_oracle_nodejs_heap_size_total_bytes'),
      externalBytes: get('galactic_oracle_nodejs_external_memory_bytes'),
      openFds: get('galactic_oracle_process_open_fds'),
      lagP99: lag.get('galactic_oracle_nodejs_eventloop_lag_p99_seconds') ?? NaN,
      lagMax: lag.get('galactic_oracle_nodejs_eventloop_lag_max_seconds') ?? NaN,
      gcMs: gc.ms,
      load: load(),
      ...step,
    }
  }

  const samples: Sample[] = [await sample(0, { registerMs: 0, pingAborts: 0, oracleCpuMs: 0, workersCpuMs: 0, oracleIdleCores: 0, workersIdleCores: 0, failed: 0, retries: 0, drops: 0, workersRssBytes: 0 })]
  const show = (s: Sample): void =>
    log(
      `  ${String(s.agents).padStart(6)} agents: oracle RSS ${round(s.rssBytes / MiB)} MiB, heap ${round(s.heapUsedBytes / MiB)} MiB used (${round(s.heapTotalBytes / MiB)} total), ` +
        `live ${s.liveGauge} (/metrics) ${s.listed} (prover.list), fds ${s.openFds}; step took ${round(s.registerMs / 1000)} s, CPU oracle ${round(s.oracleCpuMs / 1000)} s, agents ${round(s.workersCpuMs / 1000)} s; ` +
        `idle after: oracle ${round(s.oracleIdleCores, 2)} cores (event-loop delay p99 ${round(s.lagP99 * 1000)} ms, max ${round(s.lagMax * 1000)} ms), agents ${round(s.workersIdleCores, 2)} cores; ` +
        `${s.retries} retries, ${s.failed} failed, ${s.drops} sessions dropped so far (${s.pingAborts} connections aborted by the oracle's ping monitor); workers RSS ${round(s.workersRssBytes / MiB)} MiB; load ${s.load}`,
    )
  show(samples[0] as Sample)
  const empty = init.heapBreakdown ? await snapshot('oracle-0-agents') : undefined

  const workers: Array<Child<ScaleReply>> = []
  for (let w = 0; w < init.workers; w++) {
    const args: WorkerArgs = { oracle: ready.p2p, index: w, concurrency: init.concurrency, attempts: init.attempts, ownAddress: init.ownAddress, config: init.agentConfig }
    // DEBUG_COLORS: libp2p's loggers (weald) otherwise ask isatty(stderr) for each of the thousands made here
    const child = new Child<ScaleReply>(`agents worker ${w}`, WORKER, [JSON.stringify(args)], ['--max-old-space-size=8192'], { DEBUG_COLORS: 'no' })
    workers.push(child)
  }
  let stopMs = 0
  cleanup.add('stop the agent workers', async () => {
    const t0 = performance.now()
    await Promise.all(workers.map((w) => w.stop(60_000, { type: 'stop' })))
    stopMs = performance.now() - t0
  })
  await Promise.all(workers.map((w) => w.next('ready', 60_000)))
  const workersCpu = (): number => workers.reduce((sum, w) => sum + (cpuMsOf(w.pid ?? 0) ?? 0), 0)

  const errors = new Set<string>()
  const dropReasons = new Set<string>()
  let stalled: string | undefined
  const workersRss = new Array<number>(init.workers).fill(0)
  for (const target of init.steps) {
    if (performance.now() > init.growUntil - 20_000) {
      stalled = `the time budget (--timeout-s) ran out before the step to ${target}`
      log(`  ${stalled}`)
      break
    }
    const t0 = performance.now()
    const cpu0 = cpuMsOf(oracle.pid ?? 0) ?? 0
    const wcpu0 = workersCpu()
    const replies = workers.map((w, i) => {
      const to = Math.floor((target * (i + 1)) / init.workers) - Math.floor((target * i) / init.workers)
      w.send({ type: 'grow', to })
      return w.next('grown', 30 * 60_000)
    })
    let done = false
    const all = Promise.all(replies).finally(() => {
      done = true
    })
    // Watch the oracle: no new live prover for stallMs means a limit was hit; stop growing.
    let last = -1
    let lastChange = performance.now()
    while (!done) {
      await Promise.race([all.catch(() => {}), sleep(5_000)])
      if (done) break
      const live = (await scrape(http)).get('galactic_provers{state="live"}') ?? 0
      if (live > last) {
        last = live
        lastChange = performance.now()
      } else if (stalled === undefined && performance.now() - lastChange > init.stallMs) {
        stalled = `no new live prover at the oracle for ${init.stallMs / 1000} s at ${live} live, on the way to ${target}`
        log(`  stalled: ${stalled}; halting the workers`)
        for (const w of workers) w.send({ type: 'halt' })
      }
      if (stalled === undefined && performance.now() > init.growUntil) {
        stalled = `the time budget (--timeout-s) ran out at ${live} live, on the way to ${target}`
        log(`  ${stalled}; halting the workers`)
        for (const w of workers) w.send({ type: 'halt' })
      }
    }
    const grown = await all
    const registerMs = performance.now() - t0
    const oracleCpuMs = (cpuMsOf(oracle.pid ?? 0) ?? 0) - cpu0
    const workersCpuMs = workersCpu() - wcpu0
    // steady state: what N connected agents cost when nothing happens (gossipsub heartbeats, pings)
    const idle0 = { oracle: cpuMsOf(oracle.pid ?? 0) ?? 0, workers: workersCpu(), at: performance.now() }
    await sleep(init.idleMs)
    const idleMs = performance.now() - idle0.at
    const oracleIdleCores = ((cpuMsOf(oracle.pid ?? 0) ?? 0) - idle0.oracle) / idleMs
    const workersIdleCores = (workersCpu() - idle0.workers) / idleMs
    // the agents' view after the idle window: sessions held, and drops since the start
    for (const w of workers) w.send({ type: 'status' })
    const status = await Promise.all(workers.map((w) => w.next('status', 120_000)))
    const live = status.reduce((n, x) => n + x.live, 0)
    const drops = status.reduce((n, x) => n + x.drops, 0)
    status.forEach((x, i) => {
      workersRss[i] = x.rssBytes
      for (const d of x.dropReasons) dropReasons.add(`worker ${i}: ${d}`)
    })
    let failed = 0
    let retries = 0
    for (const g of grown) {
      failed += g.failed
      retries += g.retries
      for (const e of g.errors) if (errors.size < 12) errors.add(e)
    }
    const s = await sample(live, { registerMs, pingAborts: oracle.counted, oracleCpuMs, workersCpuMs, oracleIdleCores, workersIdleCores, failed, retries, drops, workersRssBytes: workersRss.reduce((a, b) => a + b, 0) })
    samples.push(s)
    show(s)
    if (dropReasons.size > 0) log(`    why sessions dropped (agents' side): ${[...dropReasons].join(' | ')}`)
    dropReasons.clear()
    oracle.send({ type: 'stats' } satisfies OracleProcRequest)
    const logged = (await oracle.next('stats', 60_000)).logged
    const unusual = Object.entries(logged).filter(([k]) => k !== 'prover registered' && !k.startsWith('journal') && !k.startsWith('pricing') && !k.startsWith('result verification') && !k.startsWith('oracle started'))
    if (unusual.length > 0) log(`    the oracle logged, since it started: ${unusual.map(([k, n]) => `${n} x ${k}`).join(' | ')}`)
    if (empty !== undefined && snapshots === undefined) snapshots = { empty, loaded: await snapshot(`oracle-${s.listed}-agents`), agents: s.listed - (samples[0] as Sample).listed }
    if (stalled !== undefined) break
  }
  const reached = samples[samples.length - 1]?.listed ?? 0
  // stop the workers now (their close storm is not part of the figures), then the oracle
  const t0 = performance.now()
  await Promise.all(workers.map((w) => w.stop(60_000, { type: 'stop' })))
  stopMs = performance.now() - t0
  client.close()
  await oracle.stop(15_000)
  if (init.cpuProfDir !== undefined) {
    const file = profileOf(init.cpuProfDir, oracle.pid)
    if (file === undefined) log(`agents: no CPU profile of the oracle in ${init.cpuProfDir}`)
    else {
      const p = summarizeProfile(file, undefined)
      log(`agents: oracle CPU profile ${file}: ${p.busyMs} ms busy of ${p.totalMs} ms; by area: ${p.areas.slice(0, 12).map((a) => `${a.name} ${a.ms}`).join(', ')}`)
      for (const f of p.functions.slice(0, 25)) log(`  ${String(f.ms).padStart(8)} ms  ${f.name}`)
    }
  }
  return { samples, snapshots, reached, target: init.steps[init.steps.length - 1] ?? 0, stalled, connectionLimit: ready.maxConnections, errors: [...errors], workers: init.workers, stopMs }
}

/** The oracle's heap growth from 0 agents to N, per agent and kind of object, largest first. */
async function heapBreakdown(snaps: NonNullable<AgentsResult['snapshots']>, log: (line: string) => void): Promise<Array<{ kind: string; bytesPerAgent: number; countPerAgent: number }>> {
  const [a, b] = await Promise.all([snaps.empty, snaps.loaded].map((f) => runJson<HeapResult>(['--max-old-space-size=8192', PROBE, 'heap', f], 300_000)))
  const before = (a as HeapResult).kinds
  const after = (b as HeapResult).kinds
  const rows = Object.entries(after).map(([kind, v]) => ({
    kind,
    bytesPerAgent: (v.bytes - (before[kind]?.bytes ?? 0)) / snaps.agents,
    countPerAgent: (v.count - (before[kind]?.count ?? 0)) / snaps.agents,
  }))
  rows.sort((x, y) => y.bytesPerAgent - x.bytesPerAgent)
  const total = ((b as HeapResult).totalBytes - (a as HeapResult).totalBytes) / snaps.agents
  log(`agents: oracle heap snapshot, 0 -> ${snaps.agents} agents: ${Math.round(total)} bytes per agent (self sizes); the largest kinds, bytes (objects) per agent:`)
  for (const r of rows.slice(0, 20)) log(`  ${String(Math.round(r.bytesPerAgent)).padStart(7)} (${round(r.countPerAgent, 1)})  ${r.kind}`)
  const cb = (a as HeapResult).closures
  const closures = Object.entries((b as HeapResult).closures)
    .map(([pkg, v]) => ({ pkg, bytes: (v.bytes - (cb[pkg]?.bytes ?? 0)) / snaps.agents, count: (v.count - (cb[pkg]?.count ?? 0)) / snaps.agents }))
    .sort((x, y) => y.bytes - x.bytes)
  log(`agents: closures per agent by the package of their code: ${closures.slice(0, 10).map((c) => `${c.pkg} ${round(c.count, 1)} (${Math.round(c.bytes)} B)`).join(', ')}`)
  return rows.slice(0, 20)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '10000' },
      steps: { type: 'string', default: '1000,2500,5000,10000' },
      workers: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '2' },
      attempts: { type: 'string', default: '6' },
      'heartbeat-ms': { type: 'string', default: '600000' },
      'liveness-ms': { type: 'string', default: '3600000' },
      'connection-limit': { type: 'string', default: 'raised' },
      'source-addresses': { type: 'string', default: 'many' },
      'agent-config': { type: 'string', default: 'light' },
      'get-connections': { type: 'string', default: 'linear' },
      'ping-monitor': { type: 'string', default: 'off' },
      'stall-s': { type: 'string', default: '60' },
      'idle-s': { type: 'string', default: '10' },
      'restart-ops': { type: 'string', default: '100000' },
      'skip-agents': { type: 'boolean', default: false },
      'heap-breakdown': { type: 'boolean', default: false },
      'oracle-cpu-prof': { type: 'string' },
      'skip-restart': { type: 'boolean', default: false },
      'work-dir': { type: 'string', default: tmpdir() },
      'timeout-s': { type: 'string', default: '570' },
      json: { type: 'boolean', default: false },
    },
  })
  const agents = positive('agents', values.agents)
  const steps = values.steps.split(',').map((s) => positive('steps', s.trim())).filter((n) => n <= agents)
  if (steps[steps.length - 1] !== agents) steps.push(agents)
  const limit = values['connection-limit']
  if (limit !== 'raised' && limit !== 'shipped') positive('connection-limit', limit)
  const pingMonitor = values['ping-monitor']
  if (pingMonitor !== 'shipped' && pingMonitor !== 'off') throw new Error(`--ping-monitor must be shipped or off, got ${pingMonitor}`)
  const getConnections = values['get-connections']
  if (getConnections !== 'linear' && getConnections !== 'shipped') throw new Error(`--get-connections must be linear or shipped, got ${getConnections}`)
  const config = values['agent-config']
  if (config !== 'full' && config !== 'light') throw new Error(`--agent-config must be full or light, got ${config}`)
  const sources = values['source-addresses']
  if (sources !== 'many' && sources !== 'one') throw new Error(`--source-addresses must be many or one, got ${sources}`)
  const timeoutMs = positive('timeout-s', values['timeout-s']) * 1000
  const restartOps = positive('restart-ops', values['restart-ops'])
  const log = (line: string): void => console.log(line)

  const cleanup = new Cleanup(70_000)
  cleanup.add('kill every helper process left', () => killAll())
  let exiting = false
  const bail = (why: string, code: number): void => {
    if (exiting) return
    exiting = true
    console.error(`oracle-scale: ${why}; cleaning up`)
    void cleanup.run().then((failures) => {
      for (const f of failures) console.error(`cleanup: ${f}`)
      killAll()
      process.exit(code)
    })
  }
  const started = performance.now()
  const deadline = setTimeout(() => bail(`not done after ${timeoutMs / 1000} s`, 2), timeoutMs)
  process.once('SIGINT', () => bail('interrupted', 130))
  process.once('SIGTERM', () => bail('terminated', 143))

  const fd = raiseFdLimit(agents + 2_048)
  const workDir = mkdtempSync(join(values['work-dir'], 'galactic-scale-'))
  cleanup.add('remove the work folder', () => rmSync(workDir, { recursive: true, force: true }))
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`
  log(`oracle-scale: ${machine}; data in ${values['work-dir']}; ${fd.note}; load average at start ${load()}`)

  let restart: RestartResult | undefined
  let scale: AgentsResult | undefined
  let perProver: ProversResult | undefined
  try {
    if (!values['skip-restart']) {
      log(`restart: building a journal of ${restartOps} ops ...`)
      restart = await restartPart(restartOps, join(workDir, 'restart'), cleanup)
      const { build: b, phases: p, start: s } = restart
      log(
        `restart: journal of ${b.ops} ops (${b.graphs} ZKM graphs, ${b.graphsFinished} finished; ${b.opsSucceeded} ops succeeded, ${b.opsInFlight} in flight; ${b.provers} provers; ${b.events} event rows), ` +
          `${round(b.journalBytes / MiB)} MiB (+ ${round(b.walBytes / MiB)} MiB WAL), built in ${round(b.ms / 1000)} s (load ${restart.load.build})`,
      )
      log(
        `restart: fresh process: Journal.open ${round(p.openMs)} ms, Journal.load ${round(p.loadMs)} ms, new Scheduler(snapshot) ${round(p.schedulerMs)} ms; ` +
          `heap ${round(p.heapUsedBytes / MiB)} MiB, RSS ${round(p.rssBytes / MiB)} MiB after (load ${restart.load.phases})`,
      )
      log(
        `restart: OracleNode.start() ${round(s.startMs)} ms: ${round(s.journalMs)} ms to 'journal loaded' (open, load, new Scheduler), then ${round(s.startMs - s.journalMs)} ms (pricing, verifier, libp2p, HTTP); serving (oracle.info answered) at ${round(s.serveMs)} ms; ` +
          `RSS ${round(s.rssBytes / MiB)} MiB, heap ${round(s.heapUsedBytes / MiB)} MiB (load ${restart.load.start})`,
      )
      log(`restart: galactic oracle start (a new Node.js process, CLI): ready line at ${round(restart.cliReadyMs)} ms, oracle.info answered at ${round(restart.cliMs)} ms (load ${restart.load.cli})`)
    }
    if (!values['skip-agents']) {
      perProver = await runJson<ProversResult>(['--expose-gc', PROBE, 'provers', String(Math.min(agents, 10_000))], 120_000)
      log(
        `agents: ${agents} simulated in ${values.workers} processes x ${values.concurrency} registrations at a time, each its own libp2p node (TCP from ${sources === 'many' ? 'its own 127.x address' : '127.0.0.1, all of them'}, noise, yamux, identify, gossipsub; ${config} config) with a signed register; ` +
          `oracle --heartbeat-ms ${values['heartbeat-ms']} --liveness-ms ${values['liveness-ms']}, connection limit ${limit}, libp2p getConnections() ${getConnections}, libp2p connection monitor ${pingMonitor}`,
      )
      scale = await agentsPart(
        {
          agents,
          steps,
          workers: positive('workers', values.workers),
          concurrency: positive('concurrency', values.concurrency),
          attempts: positive('attempts', values.attempts),
          heartbeatMs: positive('heartbeat-ms', values['heartbeat-ms']),
          livenessMs: positive('liveness-ms', values['liveness-ms']),
          maxConnections: limit === 'shipped' ? null : limit === 'raised' ? agents + 256 : positive('connection-limit', limit),
          ownAddress: values['source-addresses'] === 'many',
          agentConfig: config,
          linearGetConnections: getConnections === 'linear',
          pingMonitor: pingMonitor === 'shipped',
          stallMs: positive('stall-s', values['stall-s']) * 1000,
          idleMs: positive('idle-s', values['idle-s']) * 1000,
          // leave time for the last sample, stopping the agents and the oracle
          growUntil: started + timeoutMs - 90_000,
          heapBreakdown: values['heap-breakdown'],
          cpuProfDir: values['oracle-cpu-prof'] === undefined ? undefined : resolve(values['oracle-cpu-prof']),
          dir: workDir,
        },
        cleanup,
        log,
      )
      if (scale.snapshots !== undefined) await heapBreakdown(scale.snapshots, log)
    }
  } finally {
    clearTimeout(deadline)
    const failures = await cleanup.run()
    if (!exiting) for (const f of failures) console.error(`cleanup: ${f}`)
    killAll()
  }

  let perAgent: { rss: number; heap: number; core: number } | undefined
  if (scale !== undefined) {
    const first = scale.samples[0] as Sample
    const last = scale.samples[scale.samples.length - 1] as Sample
    const n = last.listed - first.listed
    log(`agents: connection limit at the oracle: ${scale.connectionLimit.shipped} shipped (net/src/node.ts), ${scale.connectionLimit.now} in this run; agent workers stopped in ${round(scale.stopMs / 1000)} s`)
    if (scale.stalled !== undefined) log(`agents: growth stopped: ${scale.stalled}`)
    if (scale.errors.length > 0) log(`agents: errors seen by the agents (retried): ${scale.errors.join(' | ')}`)
    if (n > 0) {
      perAgent = { rss: (last.rssBytes - first.rssBytes) / n, heap: (last.heapUsedBytes - first.heapUsedBytes) / n, core: perProver?.bytesPerProver ?? NaN }
      log(
        `agents: per connected agent at the oracle (from 0 to ${last.listed}): RSS ${Math.round(perAgent.rss)} bytes, heap ${Math.round(perAgent.heap)} bytes, ` +
          `of which the scheduler core's prover record ${perAgent.core} bytes (bare Scheduler, after GC); the rest is the libp2p connection (noise, yamux, identify, gossipsub, peer store) and the agent session`,
      )
    }
  }

  if (values.json) {
    const last = scale?.samples[scale.samples.length - 1]
    console.log(
      JSON.stringify({
        agents: last?.listed ?? null,
        oracleRssMiB: last === undefined ? null : round(last.rssBytes / MiB),
        oracleHeapMiB: last === undefined ? null : round(last.heapUsedBytes / MiB),
        bytesPerAgentRss: perAgent === undefined ? null : Math.round(perAgent.rss),
        bytesPerAgentHeap: perAgent === undefined ? null : Math.round(perAgent.heap),
        restartOps: restart?.build.ops ?? null,
        restartMs: restart === undefined ? null : Math.round(restart.start.serveMs),
        restartLoadMs: restart === undefined ? null : Math.round(restart.phases.loadMs),
        restartSchedulerMs: restart === undefined ? null : Math.round(restart.phases.schedulerMs),
        restartRestMs: restart === undefined ? null : Math.round(restart.start.startMs - restart.start.journalMs),
        restartCliMs: restart === undefined ? null : Math.round(restart.cliMs),
        journalMiB: restart === undefined ? null : round((restart.build.journalBytes + restart.build.walBytes) / MiB),
        steps: scale?.samples.map((s) => ({ agents: s.listed, rssMiB: round(s.rssBytes / MiB), heapMiB: round(s.heapUsedBytes / MiB), registerS: round(s.registerMs / 1000), load: s.load })) ?? [],
      }),
    )
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    killAll()
    process.exit(1)
  },
)
