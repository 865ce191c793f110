/**
 * Per-task overhead of the plugin modes: efficiency (a fresh instance per task: launch, init,
 * start, close) against performance (one resident instance), for the process runtime and, when a
 * Docker socket answers, the docker runtime. The op is tiny (sha256-chain `prove` of one step), so
 * a task's time is the runtime's overhead.
 *
 *   npm run bench:plugin-modes -- [--tasks 20] [--docker-socket /var/run/docker.sock] [--no-docker] [--json]
 *
 * The docker socket is --docker-socket, else GALACTIC_DOCKER_SOCKET, else /var/run/docker.sock.
 * The images (a node base from this host's node, and the plugin FROM it) are built first; their
 * build time is reported apart. Prints a table; with --json, one JSON object as the last line.
 */
import { existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { contentHash, type PluginManifest, type PluginMode, type PluginParams } from '@galactic/schemas'
import {
  DockerRuntime,
  PluginHost,
  ProcessRuntime,
  buildNodeBaseImage,
  buildPluginImage,
  dockerManifest,
  loadPluginManifest,
  type PluginRuntime,
} from '@galactic/plugin-runtime'

type Input = PluginParams<'start'>['inputs'][number]

interface Row {
  runtime: string
  mode: PluginMode
  tasks: number
  /**
   * The first task on a fresh host, not counted in the others: in performance mode it launches the
   * resident instance; with docker, the first launch of a runtime also asks the image's describe.
   */
  firstMs: number
  meanMs: number
  p50Ms: number
  p95Ms: number
  minMs: number
  maxMs: number
}

const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/sha256-chain/', import.meta.url))
const PARAMS = { seed: 'bench', segmentSteps: 1 }

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i] as number
}

const round = (ms: number): number => Math.round(ms * 100) / 100

/** The split output the prove tasks take. */
async function splitInput(runtime: PluginRuntime, manifest: PluginManifest, dir: string): Promise<Input> {
  const host = new PluginHost({ plugins: [{ manifest, dir }] }, { runtime })
  try {
    const split = await host.run(manifest, 'efficiency', { taskId: 'split', op: 'split', params: { ...PARAMS, segments: 1 }, inputs: [] })
    const out = split.outputs[0]
    if (out === undefined) throw new Error('split gave no output')
    return { opId: 'split', name: out.name, hash: contentHash(Buffer.from(out.data, 'base64')), data: out.data }
  } finally {
    await host.close()
  }
}

/** Runs `tasks` + 1 prove tasks one after another through a fresh host; the first is reported apart. */
async function measure(runtime: PluginRuntime, label: string, manifest: PluginManifest, dir: string, mode: PluginMode, tasks: number, input: Input): Promise<Row> {
  const host = new PluginHost({ plugins: [{ manifest, dir }] }, { runtime })
  try {
    const prove = (i: number): PluginParams<'start'> => ({ taskId: `prove-${i}`, op: 'prove', params: { ...PARAMS, segment: 0 }, inputs: [input] })
    const times: number[] = []
    let firstMs = 0
    for (let i = 0; i <= tasks; i++) {
      const t0 = performance.now()
      await host.run(manifest, mode, prove(i))
      const ms = performance.now() - t0
      if (i === 0) firstMs = ms
      else times.push(ms)
    }
    times.sort((a, b) => a - b)
    const mean = times.reduce((a, b) => a + b, 0) / times.length
    return {
      runtime: label,
      mode,
      tasks,
      firstMs: round(firstMs),
      meanMs: round(mean),
      p50Ms: round(quantile(times, 0.5)),
      p95Ms: round(quantile(times, 0.95)),
      minMs: round(times[0] ?? NaN),
      maxMs: round(times[times.length - 1] ?? NaN),
    }
  } finally {
    await host.close()
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: 'string', default: '20' },
      'docker-socket': { type: 'string' },
      'no-docker': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  const tasks = Number(values.tasks)
  if (!Number.isInteger(tasks) || tasks < 1) throw new Error('--tasks must be a positive integer')
  const rows: Row[] = []
  const { manifest, dir } = loadPluginManifest(`${PLUGIN_DIR}galactic-plugin.json`)

  const processRuntime = new ProcessRuntime()
  const input = await splitInput(processRuntime, manifest, dir)
  for (const mode of ['efficiency', 'performance'] as const) rows.push(await measure(processRuntime, 'process', manifest, dir, mode, tasks, input))

  let docker: Record<string, unknown>
  const socket = values['docker-socket'] ?? process.env['GALACTIC_DOCKER_SOCKET'] ?? '/var/run/docker.sock'
  if (values['no-docker']) {
    docker = { skipped: '--no-docker' }
  } else if (!existsSync(socket)) {
    docker = { skipped: `no Docker socket at ${socket}` }
  } else {
    const runtime = new DockerRuntime({ agentId: `bench-${process.pid}`, socketPath: socket })
    await runtime.docker.ping()
    const t0 = performance.now()
    const base = await buildNodeBaseImage(runtime.docker, `galactic-bench/node-base:${process.versions.node}`)
    const baseMs = performance.now() - t0
    const image = await buildPluginImage(runtime.docker, dir, `galactic-bench/${manifest.name}:${manifest.version}`, { base: base.tag })
    const pluginMs = performance.now() - t0 - baseMs
    const inDocker = dockerManifest(manifest, image)
    for (const mode of ['efficiency', 'performance'] as const) rows.push(await measure(runtime, 'docker', inDocker, dir, mode, tasks, input))
    await runtime.cleanupStale()
    const version = await runtime.docker.version()
    docker = { socket, server: version.Version, baseImageBuildMs: Math.round(baseMs), pluginImageBuildMs: Math.round(pluginMs), image: image.id }
  }

  const machine = {
    node: process.version,
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
  }
  const header = ['runtime', 'mode', 'tasks', 'first ms', 'mean ms', 'p50 ms', 'p95 ms', 'min ms', 'max ms']
  const table = [header, ...rows.map((r) => [r.runtime, r.mode, r.tasks, r.firstMs, r.meanMs, r.p50Ms, r.p95Ms, r.minMs, r.maxMs].map(String))]
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)))
  console.log(`plugin modes: sha256-chain prove (segmentSteps 1), ${tasks} tasks each after one first task; ${machine.cores} cores, ${machine.node}`)
  for (const row of table) console.log(row.map((cell, i) => cell.padStart(widths[i] ?? 0)).join('  '))
  if ('skipped' in docker) console.log(`docker: skipped (${String(docker['skipped'])})`)
  else console.log(`docker: server ${String(docker['server'])}, image builds: base ${String(docker['baseImageBuildMs'])} ms, plugin ${String(docker['pluginImageBuildMs'])} ms`)
  const overhead = (runtime: string): string | undefined => {
    const eff = rows.find((r) => r.runtime === runtime && r.mode === 'efficiency')
    const perf = rows.find((r) => r.runtime === runtime && r.mode === 'performance')
    return eff === undefined || perf === undefined ? undefined : `${runtime}: efficiency costs ${round(eff.p50Ms - perf.p50Ms)} ms more per task (p50)`
  }
  for (const line of [overhead('process'), overhead('docker')]) if (line !== undefined) console.log(line)
  if (values.json) console.log(JSON.stringify({ bench: 'plugin-modes', machine, tasks, results: rows, docker }))
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
