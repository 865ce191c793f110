/**
 * Measurements of the oracle-scale bench that each want a fresh process, so nothing is warm but the
 * OS page cache. `node probe.js MODE DATA_DIR [OPS]` prints one JSON line:
 *
 * - `build DIR OPS`: writes an oracle journal (DIR/journal.sqlite) of OPS ops the way an oracle
 *   would: ZKM-shaped graphs of up to 10,000 ops (LIMITS.maxOps) through the pure scheduler core,
 *   every Step's changes through Journal.apply (batched: several Steps per transaction; the rows
 *   and the events table come out the same). Half the graphs run to the end (assign, started,
 *   result for every op); the other half are submitted and a fifth of their ops finish, the rest
 *   are left ready, pending or in flight on provers, as a crash would leave them.
 * - `phases DIR`: Journal.open, Journal.load and `new Scheduler(snapshot)`, each timed: the parts
 *   of OracleNode.start() that grow with the journal.
 * - `start DIR`: the whole OracleNode.start() on DIR, then the time until `oracle.info` answers
 *   through the SDK; the process's memory once it serves. Its 'journal loaded' log line splits
 *   start() into the journal part and the rest (pricing, verifier, libp2p, HTTP).
 * - `provers N` (with --expose-gc): the scheduler core's heap per registered prover, for the split
 *   of an agent's cost at the oracle between the core and the connection.
 * - `heap FILE`: a V8 heap snapshot's self sizes summed by kind of object (constructor name).
 */
import '@galactic/net/polyfill'
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Journal, OracleNode, Scheduler, type Action, type Change, type Step } from '@galactic/oracle'
import { buildZkmGraph, contentHash, parseGraph, type DeviceDescriptor, type Graph, type Task } from '@galactic/schemas'
import { GalacticClient } from '@galactic/sdk'
import { pino } from 'pino'
import { SIM_DEVICE } from './device.js'

export interface BuildResult {
  mode: 'build'
  ops: number
  graphs: number
  graphsFinished: number
  opsSucceeded: number
  opsInFlight: number
  provers: number
  journalBytes: number
  walBytes: number
  events: number
  ms: number
}

export interface PhasesResult {
  mode: 'phases'
  openMs: number
  loadMs: number
  schedulerMs: number
  graphs: number
  ops: number
  provers: number
  heapUsedBytes: number
  rssBytes: number
}

export interface ProversResult {
  mode: 'provers'
  provers: number
  /** Heap after a full GC, per prover registered in a bare Scheduler (the core's share of an agent). */
  bytesPerProver: number
}

export interface HeapResult {
  mode: 'heap'
  /** Self size (bytes) and count of heap objects by kind: `object:Constructor`, `(string)`, `(closure)`... */
  kinds: Record<string, { bytes: number; count: number }>
  /** Closures (and their contexts are not counted here) by the package of their code: `pkg` -> bytes, count. */
  closures: Record<string, { bytes: number; count: number }>
  totalBytes: number
}

export interface StartResult {
  mode: 'start'
  /** new OracleNode + start() resolving. */
  startMs: number
  /** From new OracleNode to its 'journal loaded' log line: Journal.open, security's store, Journal.load, new Scheduler. */
  journalMs: number
  /** From new OracleNode to the first oracle.info answer over WebSocket. */
  serveMs: number
  heapUsedBytes: number
  rssBytes: number
}

const PLUGIN = { name: 'zkm-stage', version: '1.0.0' }
const PROVERS = 200
const OPS_PER_GRAPH = 10_000

function fileSize(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

function device(i: number): DeviceDescriptor {
  return {
    os: 'linux',
    cpu: { model: 'bench', arch: 'x64', cores: [8, 16, 32, 64][i % 4] as number },
    gpus: [],
    memoryMiB: 32_768,
    plugins: [{ ...PLUGIN }],
  }
}

function success(task: Task) {
  const hex = createHash('sha256').update(`${task.graphId}/${task.opId}#${task.attempt}`).digest('hex')
  return { ok: true as const, outputs: [{ name: 'proof', hash: `sha256:${hex}`, size: 32 }] }
}

/** The graph id and spec hash the oracle gives a submitted graph (oracle-node.ts submit). */
function identify(graph: Graph): { graphId: string; specHash: string } {
  const graphId = `g_${createHash('sha256').update(`${graph.requester}\n${graph.nonce}`).digest('hex').slice(0, 24)}`
  return { graphId, specHash: contentHash(new TextEncoder().encode(JSON.stringify(graph))) }
}

function build(dir: string, totalOps: number): BuildResult {
  const t0 = performance.now()
  const path = join(dir, 'journal.sqlite')
  const journal = Journal.open({ path })
  let t = Date.now() - 2 * 3_600_000
  const clock = { now: () => t }
  const s = new Scheduler({}, { clock })
  let pending: Change[] = []
  const commit = (step: Step): Step => {
    for (const c of step.changes) pending.push(c)
    if (pending.length >= 20_000) flush()
    return step
  }
  const flush = (): void => {
    journal.apply(pending)
    pending = []
  }
  for (let i = 0; i < PROVERS; i++) {
    commit(s.registerProver({ proverId: `prover-${i}`, peerId: `peer-prover-${i}`, device: device(i), slots: 2, running: [] }))
  }

  const graphCount = Math.max(1, Math.round(totalOps / OPS_PER_GRAPH))
  // split + n prove + (n - 1) aggregate = 2n ops (stopAfter 'agg')
  const segments = Math.max(1, Math.round(totalOps / graphCount / 2))
  const graphs = Array.from({ length: graphCount }, (_, g) =>
    parseGraph(buildZkmGraph({ requester: 'bench-restart', nonce: `restart-${g}`, segments, plugin: { ...PLUGIN }, stopAfter: 'agg', timeoutMs: 24 * 3_600_000 })),
  )
  const finished = Math.floor(graphCount / 2)
  const queue: Array<Extract<Action, { type: 'assign' }>> = []
  const take = (step: Step): void => {
    for (const a of step.actions) if (a.type === 'assign') queue.push(a)
  }
  let head = 0
  let succeeded = 0
  const runResults = (limit: number): void => {
    let done = 0
    while (head < queue.length && done < limit) {
      const a = queue[head++] as Extract<Action, { type: 'assign' }>
      t += 1
      commit(s.taskStarted(a.proverId, a.task))
      t += 1
      take(commit(s.taskResult(a.proverId, a.task, success(a.task), [])))
      done++
      succeeded++
      if (head > 4096) {
        queue.splice(0, head)
        head = 0
      }
    }
  }
  // the first half of the graphs, run to the end
  for (let g = 0; g < finished; g++) {
    const graph = graphs[g] as Graph
    const { graphId, specHash } = identify(graph)
    take(commit(s.submit(graphId, specHash, graph).step))
  }
  runResults(Number.POSITIVE_INFINITY)
  // the second half: submitted, a fifth of their ops done, the rest waiting or in flight
  let rest = 0
  for (let g = finished; g < graphCount; g++) {
    const graph = graphs[g] as Graph
    const { graphId, specHash } = identify(graph)
    rest += graph.ops.length
    take(commit(s.submit(graphId, specHash, graph).step))
  }
  runResults(Math.floor(rest / 5))
  // some of the ops in flight have started
  for (let i = head; i < Math.min(queue.length, head + 100); i++) {
    const a = queue[i] as Extract<Action, { type: 'assign' }>
    commit(s.taskStarted(a.proverId, a.task))
  }
  flush()
  for (let g = 0; g < finished; g++) {
    const state = s.graphStatus(identify(graphs[g] as Graph).graphId)?.state
    if (state !== 'succeeded') throw new Error(`restart journal: graph ${g} ended ${state}, expected succeeded`)
  }
  const counts = s.counts()
  let events = 0
  for (const g of graphs) events += journal.events(identify(g).graphId).length
  journal.close()
  return {
    mode: 'build',
    ops: graphs.reduce((n, g) => n + g.ops.length, 0),
    graphs: graphCount,
    graphsFinished: finished,
    opsSucceeded: succeeded,
    opsInFlight: counts.opsRunning,
    provers: PROVERS,
    journalBytes: fileSize(path),
    walBytes: fileSize(`${path}-wal`),
    events,
    ms: performance.now() - t0,
  }
}

function phases(dir: string): PhasesResult {
  const t0 = performance.now()
  const journal = Journal.open({ path: join(dir, 'journal.sqlite') })
  const t1 = performance.now()
  const snapshot = journal.load()
  const t2 = performance.now()
  // OracleNode.newScheduler passes the oracle's defaults, which are the core's defaults.
  const scheduler = new Scheduler({}, { clock: { now: () => Date.now() } }, snapshot)
  const t3 = performance.now()
  const mem = process.memoryUsage()
  const result: PhasesResult = {
    mode: 'phases',
    openMs: t1 - t0,
    loadMs: t2 - t1,
    schedulerMs: t3 - t2,
    graphs: snapshot.graphs.length,
    ops: snapshot.ops.length,
    provers: snapshot.provers.length,
    heapUsedBytes: mem.heapUsed,
    rssBytes: mem.rss,
  }
  if (scheduler.counts().graphsRunning < 0) throw new Error('unreachable')
  journal.close()
  return result
}

/** The scheduler core's memory per registered prover (run with --expose-gc). */
function provers(n: number): ProversResult {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('probe provers: run node with --expose-gc')
  const clock = { now: () => Date.now() }
  gc()
  const before = process.memoryUsage().heapUsed
  const s = new Scheduler({}, { clock })
  for (let i = 0; i < n; i++) {
    // a fresh copy each, as the oracle gets a freshly parsed message per registration
    const device = JSON.parse(JSON.stringify(SIM_DEVICE)) as DeviceDescriptor
    s.registerProver({ proverId: `sim-0-${i}`, peerId: `12D3KooW${String(i).padStart(44, 'x')}`, device, slots: 1, running: [] })
  }
  gc()
  const after = process.memoryUsage().heapUsed
  if (s.provers().length !== n) throw new Error(`probe provers: ${s.provers().length} registered, expected ${n}`)
  return { mode: 'provers', provers: n, bytesPerProver: Math.round((after - before) / n) }
}

interface HeapSnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

/** `node_modules/@scope/pkg/...` -> `@scope/pkg`; a galactic workspace -> `galactic:<dir>`; node's own -> `node`. */
function packageOf(url: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m !== null) return m[1] as string
  if (url.startsWith('node:') || url === '') return url === '' ? '(no script)' : 'node'
  const g = /\/(schemas|net|oracle|sdk|bench|cli|plugin-runtime|prover-agent)\/dist\//.exec(url)
  return g !== null ? `galactic:${g[1]}` : url.slice(-60)
}

/** Self sizes in a V8 heap snapshot (node:v8 writeHeapSnapshot), summed by kind of object. */
function heap(file: string): HeapResult {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshotFile
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const width = fields.length
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number]
  const kinds: Record<string, { bytes: number; count: number }> = {}
  const closures: Record<string, { bytes: number; count: number }> = {}
  // edges of node k start at the sum of edge_count of the nodes before it
  const edgeFields = snap.snapshot.meta.edge_fields
  const edgeTypes = snap.snapshot.meta.edge_types[0]
  const edgeWidth = edgeFields.length
  const [edgeTypeAt, edgeNameAt, edgeToAt] = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f)) as [number, number, number]
  const countAt = fields.indexOf('edge_count')
  const firstEdge = new Uint32Array(snap.nodes.length / width + 1)
  for (let k = 0, e = 0; k < snap.nodes.length / width; k++) {
    firstEdge[k] = e
    e += (snap.nodes[k * width + countAt] as number) * edgeWidth
  }
  /** The node an edge named `name` of node index `i` (in snap.nodes) points to, or -1. */
  const follow = (i: number, name: string): number => {
    const k = i / width
    const end = (firstEdge[k] as number) + (snap.nodes[i + countAt] as number) * edgeWidth
    for (let e = firstEdge[k] as number; e < end; e += edgeWidth) {
      const t = edgeTypes[snap.edges[e + edgeTypeAt] as number]
      if (t === 'element' || t === 'hidden') continue
      if (snap.strings[snap.edges[e + edgeNameAt] as number] === name) return snap.edges[e + edgeToAt] as number
    }
    return -1
  }
  let totalBytes = 0
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?'
    const size = snap.nodes[i + sizeAt] as number
    const name = snap.strings[snap.nodes[i + nameAt] as number] ?? '?'
    // objects by constructor; strings, closures, code and numbers each as one kind
    const kind = type === 'object' || type === 'native' || type === 'hidden' || type === 'array' ? `${type}:${name.slice(0, 60)}` : `(${type})`
    const k = (kinds[kind] ??= { bytes: 0, count: 0 })
    k.bytes += size
    k.count++
    totalBytes += size
    if (type === 'closure') {
      // closure -shared-> SharedFunctionInfo -script_or_debug_info-> Script, named by its URL
      const shared = follow(i, 'shared')
      const script = shared < 0 ? -1 : follow(shared, 'script_or_debug_info')
      const url = script < 0 ? '' : (snap.strings[snap.nodes[script + nameAt] as number] ?? '')
      const c = (closures[packageOf(url)] ??= { bytes: 0, count: 0 })
      c.bytes += size
      c.count++
    }
  }
  return { mode: 'heap', kinds, closures, totalBytes }
}

async function start(dir: string): Promise<StartResult> {
  // start() logs 'journal loaded' once Journal.open, load and new Scheduler are done: that splits it
  let loadedAt = Number.NaN
  const log = pino({ level: 'info' }, {
    write(line: string): void {
      if (line.includes('"msg":"journal loaded"')) loadedAt = performance.now()
    },
  })
  const t0 = performance.now()
  const oracle = new OracleNode({ dataDir: dir, wsPort: 0, p2pPort: 0 }, { log })
  try {
    await oracle.start()
    const t1 = performance.now()
    const client = new GalacticClient({ url: oracle.wsUrl, requestTimeoutMs: 60_000 })
    try {
      await client.info()
    } finally {
      client.close()
    }
    const t2 = performance.now()
    const mem = process.memoryUsage()
    return { mode: 'start', startMs: t1 - t0, journalMs: loadedAt - t0, serveMs: t2 - t0, heapUsedBytes: mem.heapUsed, rssBytes: mem.rss }
  } finally {
    await oracle.stop()
  }
}

async function main(): Promise<void> {
  const [mode, dir, ops] = process.argv.slice(2)
  if (dir === undefined) throw new Error('usage: probe.js build|phases|start DATA_DIR [OPS], probe.js provers N, or probe.js heap SNAPSHOT')
  let result: BuildResult | PhasesResult | StartResult | ProversResult | HeapResult
  if (mode === 'provers') result = provers(Number(dir))
  else if (mode === 'heap') result = heap(dir)
  else if (mode === 'build') result = build(dir, Number(ops ?? 100_000))
  else if (mode === 'phases') result = phases(dir)
  else if (mode === 'start') result = await start(dir)
  else throw new Error(`probe: unknown mode ${mode}: build, phases, start, provers or heap`)
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
