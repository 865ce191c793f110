/**
 * End-to-end throughput: one ZKM-shaped DAG of no-op ops through the whole of galactic (a real
 * oracle and real agents on loopback, the requester on the SDK), then the same DAG through BullMQ
 * on a Redis server the bench starts, in the same run.
 *
 * The DAG: buildZkmGraph with 500 segments and the noop plugin: 1 split, 500 prove, a binary
 * aggregation tree of 499 aggregate and 1 snark = 1,001 ops. Galactic: 8 agents
 * (`--plugins plugins/noop/galactic-plugin.json`), the graph in pluginMode `performance` so the noop
 * plugin stays resident in each agent; each agent runs up to 16 ops at once (`--slots 16`, its best
 * setup here: results then travel several per message under one signature). BullMQ: the split as one job, then the proves and
 * aggregations as one flow under the snark (a flow gives each job one parent); one Worker in this
 * process. Both first run a warm-up DAG (by default the same 1,001 ops: the code on both sides is
 * then JIT-compiled, as in a long-running service), not counted, then `--rounds` measured DAGs; the
 * median round of each is reported and compared.
 *
 * Reports ops/s (first submit to the last op's result known to the requester: the SDK's watch
 * seeing the graph end; BullMQ: QueueEvents seeing the snark complete) and ready -> started
 * latency p50/p99 (galactic: each op's readyAt -> startedAt in the final status; BullMQ: the later
 * of job.timestamp and its children's finishedOn -> processedOn). Both systems must end on the same
 * snark bytes. With --json, one JSON object as the last line.
 *
 *   npm run bench:e2e -- [--agents 8] [--slots 16] [--segments 500] [--concurrency 8] [--json]
 *     [--warmup-segments 500] [--rounds 3] [--verify] [--cpu-prof DIR] [--log-level warn] [--timeout-s 300]
 *     [--redis-server /usr/bin/redis-server] [--work-dir DIR] [--journal-sync interval|full]
 *
 * The oracle's journal, blobs and the agents' keys go in a fresh folder under --work-dir (default: the OS temp
 * folder); /dev/shm (tmpfs, where fsync costs nothing) shows what the journal's fsyncs cost.
 *
 * BullMQ 6 loads the `ioredis` driver, an optional peer dependency, at run time.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '@galactic/cli/processes'
import { buildZkmGraph } from '@galactic/schemas'
import { startBullmq, type FlowRun } from './e2e/bullmq.js'
import { Cleanup } from './e2e/cleanup.js'
import { profileOf, summarizeProfile } from './e2e/cpu-profile.js'
import { cpuSnapshot, cpuSpent } from './e2e/proc-cpu.js'
import { NOOP, runGalactic, type GalacticResult } from './e2e/galactic.js'
import { startRedis } from './e2e/redis.js'
import { medianBy, round } from './e2e/stats.js'

const NOOP_DIR = fileURLToPath(new URL('../../plugins/noop/', import.meta.url))

function positive(name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}`)
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '8' },
      slots: { type: 'string', default: '16' },
      segments: { type: 'string', default: '500' },
      'warmup-segments': { type: 'string', default: '500' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '8' },
      verify: { type: 'boolean', default: false },
      'journal-sync': { type: 'string', default: 'interval' },
      'cpu-prof': { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      'timeout-s': { type: 'string', default: '300' },
      'redis-server': { type: 'string', default: '/usr/bin/redis-server' },
      'work-dir': { type: 'string', default: tmpdir() },
      json: { type: 'boolean', default: false },
    },
  })
  const agents = positive('agents', values.agents)
  const slots = positive('slots', values.slots)
  const segments = positive('segments', values.segments)
  const warmupSegments = positive('warmup-segments', values['warmup-segments'])
  const rounds = positive('rounds', values.rounds)
  const concurrency = positive('concurrency', values.concurrency)
  const timeoutMs = positive('timeout-s', values['timeout-s']) * 1000
  const journalSync = values['journal-sync']
  if (journalSync !== 'full' && journalSync !== 'interval') throw new Error(`--journal-sync must be full or interval, got ${journalSync}`)
  const manifest = join(NOOP_DIR, 'galactic-plugin.json')
  if (!existsSync(join(NOOP_DIR, 'dist', 'main.js'))) throw new Error(`the noop plugin is not built: run npx tsc -b plugins/noop (${NOOP_DIR})`)
  try {
    createRequire(import.meta.resolve('bullmq')).resolve('ioredis')
  } catch {
    throw new Error("BullMQ 6 needs its optional peer dependency ioredis, which is not installed: add it to bench (npm install -w bench ioredis@5)")
  }

  const cleanup = new Cleanup()
  const abort = new AbortController()
  let exiting = false
  const bail = (why: string, code: number): void => {
    if (exiting) return
    exiting = true
    console.error(`e2e: ${why}; cleaning up`)
    abort.abort(new Error(why))
    void cleanup.run().then((failures) => {
      for (const f of failures) console.error(`cleanup: ${f}`)
      process.exit(code)
    })
  }
  const deadline = setTimeout(() => bail(`not done after ${timeoutMs / 1000} s`, 2), timeoutMs)
  process.once('SIGINT', () => bail('interrupted', 130))
  process.once('SIGTERM', () => bail('terminated', 143))

  const workDir = mkdtempSync(join(values['work-dir'], 'galactic-e2e-'))
  cleanup.add('remove the work folder', () => rmSync(workDir, { recursive: true, force: true }))
  let galactic: GalacticResult
  let bull: FlowRun & { cpuMs: { redis: number; node: number } }
  let bullRoundsWallMs: number[] = []
  let redisVersion: string
  try {
    // Galactic first, then its processes stop, so BullMQ runs on an idle machine too.
    const g = new Cleanup()
    cleanup.add('stop galactic', async () => void (await g.run()))
    try {
      galactic = await runGalactic(
        { manifest, agents, slots, segments, warmupSegments, rounds, workDir, journalSync, logLevel: values['log-level'], verify: values.verify, cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']), signal: abort.signal },
        g,
      )
    } finally {
      const failures = await g.run()
      for (const f of failures) console.error(`cleanup: ${f}`)
    }
    const redis = await startRedis({ bin: values['redis-server'], port: await freePort(), dir: join(workDir, 'redis') })
    redisVersion = redis.version
    cleanup.add('stop redis-server', () => redis.stop())
    const b = new Cleanup()
    cleanup.add('close BullMQ', async () => void (await b.run()))
    try {
      const harness = await startBullmq({ port: redis.port, concurrency, signal: abort.signal }, b)
      const graph = (nonce: string, n: number) => buildZkmGraph({ requester: 'bench-e2e', nonce, segments: n, plugin: { ...NOOP } })
      await harness.run(graph('warmup', warmupSegments), 'warmup')
      const runs: Array<FlowRun & { cpuMs: { redis: number; node: number } }> = []
      for (let i = 0; i < rounds; i++) {
        // CPU of redis-server and of this process (worker, flow producer, queue events) in the round.
        const r = await harness.run(graph(`run-${i}`, segments), `run-${i}`, () => cpuSnapshot({ redis: [redis.pid] }))
        const { total } = cpuSpent(r.cpu?.before ?? {}, r.cpu?.after ?? {})
        runs.push({ ...r, cpuMs: { redis: total['redis'] ?? 0, node: total['requester'] ?? 0 } })
      }
      bullRoundsWallMs = runs.map((r) => r.wallMs)
      bull = medianBy(runs, (r) => r.wallMs)
    } finally {
      const failures = await b.run()
      for (const f of failures) console.error(`cleanup: ${f}`)
    }
  } finally {
    clearTimeout(deadline)
    // idempotent: after a bail this waits for the cleanup it started
    const failures = await cleanup.run()
    if (!exiting) for (const f of failures) console.error(`cleanup: ${f}`)
  }

  const run = galactic.run
  if (run.sinkOutput !== bull.sinkOutput) throw new Error(`the two systems ended on different snark outputs:\n  galactic ${run.sinkOutput}\n  bullmq   ${bull.sinkOutput}`)
  const gRate = run.ops / (run.wallMs / 1000)
  const gCpuMs = Object.values(galactic.cpuMs).reduce((a, b) => a + b, 0)
  const bCpuMs = bull.cpuMs.redis + bull.cpuMs.node
  const bRate = bull.jobs / (bull.wallMs / 1000)
  // The issue's shape; p50Ms/p99Ms are galactic's ready -> started latency.
  const result = {
    ops: run.ops,
    agents,
    galacticOpsPerSec: round(gRate),
    bullmqOpsPerSec: round(bRate),
    ratio: round(gRate / bRate, 4),
    p50Ms: run.readyToStarted.p50,
    p99Ms: run.readyToStarted.p99,
    bullmqP50Ms: bull.readyToProcessed.p50,
    bullmqP99Ms: bull.readyToProcessed.p99,
    slots,
    journalSync,
    rounds,
    galacticRoundsOpsPerSec: galactic.roundsWallMs.map((ms) => round(run.ops / (ms / 1000))),
    bullmqRoundsOpsPerSec: bullRoundsWallMs.map((ms) => round(bull.jobs / (ms / 1000))),
    /** CPU of every process of each system in its median round (/proc), per op. */
    galacticCpuMsPerOp: round(gCpuMs / run.ops, 3),
    bullmqCpuMsPerJob: round(bCpuMs / bull.jobs, 3),
  }

  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`
  console.log(`e2e: ZKM DAG of ${run.ops} no-op ops (1 split, ${segments} prove, ${run.ops - segments - 2} aggregate, 1 snark); ${machine}`)
  console.log(
    `galactic: oracle (--journal-sync ${journalSync}) + ${agents} agents (--slots ${slots}, noop plugin resident: pluginMode performance${values.verify ? ', oracle verifies every result' : ''}), log level ${values['log-level']}, data in ${values['work-dir']}; started in ${Math.round(galactic.startMs)} ms; warm-up ${galactic.warmup.ops} ops in ${Math.round(galactic.warmup.wallMs)} ms on ${galactic.warmup.agentsUsed}/${agents} agents`,
  )
  console.log(`bullmq: redis-server ${redisVersion} on loopback (appendonly yes, appendfsync everysec), one Worker (concurrency ${concurrency}) in this process; split job, then one flow under the snark; warm-up DAG first`)
  const header = ['system', 'ops', 'wall ms', 'ops/s', 'ready->started p50 ms', 'p99 ms', 'mean ms', 'max ms']
  const rows = [
    header,
    ['galactic', run.ops, Math.round(run.wallMs), round(gRate), run.readyToStarted.p50, run.readyToStarted.p99, round(run.readyToStarted.mean, 2), run.readyToStarted.max].map(String),
    ['bullmq', bull.jobs, Math.round(bull.wallMs), round(bRate), bull.readyToProcessed.p50, bull.readyToProcessed.p99, round(bull.readyToProcessed.mean, 2), bull.readyToProcessed.max].map(String),
  ]
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  for (const r of rows) console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  '))
  console.log(`rounds (ops/s, in order; the median is the row above): galactic ${result.galacticRoundsOpsPerSec.join(', ')}; bullmq ${result.bullmqRoundsOpsPerSec.join(', ')}`)
  console.log(`ratio (galactic ops/s / bullmq jobs/s, medians): ${result.ratio}`)
  console.log(
    `galactic detail: submit call ${Math.round(run.submitMs)} ms; oracle submittedAt->finishedAt ${run.oracleMs} ms; ${run.events} events to the requester; ` +
      `started->finished per op p50 ${run.startedToFinished.p50} ms, p99 ${run.startedToFinished.p99} ms, mean ${round(run.startedToFinished.mean, 2)} ms; ops on ${run.agentsUsed}/${agents} agents; ` +
      `measured from ${run.window.fromUs} to ${run.window.toUs} µs on the monotonic clock (for \`perf record -k CLOCK_MONOTONIC\`)`,
  )
  const cpu = galactic.cpuMs
  console.log(
    `galactic CPU during the run (ms, /proc; in the kernel): ${Object.entries(cpu).map(([k, v]) => `${k} ${v} (${galactic.cpuSystemMs[k] ?? '?'})`).join(', ')}; total ${gCpuMs} ` +
      `= ${round(gCpuMs / run.wallMs, 2)} of ${cpus().length} cores; per op: oracle ${round((cpu['oracle'] ?? 0) / run.ops, 2)} ms, agents ${round((cpu['agents'] ?? 0) / run.ops, 2)} ms, all ${result.galacticCpuMsPerOp} ms`,
  )
  console.log(
    `bullmq CPU during the run (ms, /proc): redis-server ${bull.cpuMs.redis}, this process (worker, flow producer, queue events) ${bull.cpuMs.node}; total ${bCpuMs} ` +
      `= ${round(bCpuMs / bull.wallMs, 2)} of ${cpus().length} cores; per job ${result.bullmqCpuMsPerJob} ms (galactic / bullmq CPU per op: ${round(result.galacticCpuMsPerOp / result.bullmqCpuMsPerJob, 2)})`,
  )
  console.log(`bullmq detail: job.timestamp->processedOn (a parent's includes its wait for children) p50 ${bull.addedToProcessed.p50} ms, p99 ${bull.addedToProcessed.p99} ms`)
  console.log(`both systems ended on the same snark output: ${run.sinkOutput}`)

  const profDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof'])
  if (profDir !== undefined) {
    for (const [name, pid] of [['oracle', galactic.profiles.oracle], ['agent-0', galactic.profiles.agent]] as const) {
      const file = profileOf(join(profDir, name), pid)
      if (file === undefined) {
        console.log(`cpu profile of ${name}: none written (pid ${pid ?? '?'})`)
        continue
      }
      const s = summarizeProfile(file, run.window)
      console.log(`cpu profile of ${name} (${file}), ${s.windowed ? 'the measured run only' : 'whole process'}: ${s.busyMs} ms busy of ${s.totalMs} ms`)
      console.log(`  by area: ${s.areas.map((a) => `${a.name} ${a.ms}`).join(', ')}`)
      for (const f of s.functions) console.log(`  ${String(f.ms).padStart(8)} ms  ${f.name}`)
      console.log('  galactic functions, with what they call:')
      for (const f of s.inclusive) console.log(`  ${String(f.ms).padStart(8)} ms  ${f.name}`)
    }
  }
  if (values.json) console.log(JSON.stringify(result))
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
