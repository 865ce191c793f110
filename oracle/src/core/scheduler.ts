import { GalacticError, pluginKey, taskKey } from '@galactic/schemas'
import type { ErrorObject, Graph, GraphEvent, GraphStatus, OpStatus, OutputRef, Task, TaskOutcome, TaskRef } from '@galactic/schemas'
import { affinityFilter, banFilter, capacityFilter, gpuFilter, isBanned, liveFilter, pluginFilter } from './filters.js'
import { DEFAULT_REGISTRY, resolveProfile, type ResolvedProfile } from './profile.js'
import { Heap, IndexedSet } from './structures.js'
import type {
  Action,
  Change,
  Explanation,
  FilterPlugin,
  GraphRecord,
  GraphSummary,
  OpRecord,
  PlacementContext,
  ProverBan,
  ProverInfo,
  ProverRecord,
  ProverRegistration,
  ProverState,
  ProverView,
  ScorePlugin,
  SchedulerComponents,
  SchedulerCounts,
  SchedulerInit,
  Snapshot,
  Status,
  Step,
} from './types.js'

const DEFAULTS = {
  heartbeatIntervalMs: 1000,
  livenessTimeoutMs: 5000,
  maxAttempts: 5,
  defaultRedundancy: 2,
  highPenaltyThreshold: Number.POSITIVE_INFINITY,
  highPenaltyProvers: 2,
  banBaseMs: 60_000,
  maxConsecutiveFailures: 3,
  speedAlpha: 0.3,
} as const

/** One op plus the links the scheduler keeps for it. `rec` is mutated in place; Steps carry copies. */
interface OpEntry {
  readonly key: string
  readonly graph: GraphEntry
  readonly rec: OpRecord
  readonly inputs: OpEntry[]
  readonly consumers: OpEntry[]
  /** Its placement class (plugin, name, requirements); set when first queued. */
  cls: OpClass | undefined
  /** Token of its live entry in its class queue; 0 when not queued. */
  queued: number
  /** Provers running its current attempt. */
  readonly holders: Set<ProverEntry>
  /** Provers cut off from an earlier attempt (deadline, lost) whose late success is still taken. Not journaled. */
  earlier: Map<ProverEntry, number> | undefined
  /** Provers whose attempt at it failed. Not journaled. */
  failedOn: Set<string> | undefined
  /** The prover whose result won. */
  producer: string | undefined
}

interface GraphEntry {
  readonly rec: GraphRecord
  /** In index order. */
  readonly ops: OpEntry[]
  succeeded: number
}

/** Provers of one plugin key, with or without GPUs, that can take work now: idle, or busy with a free slot. */
interface Bucket {
  readonly key: string
  readonly idle: IndexedSet<ProverEntry>
  readonly partial: IndexedSet<ProverEntry>
  /** Bumped whenever a prover enters it (gains capacity, connects, comes back, leaves a ban). */
  version: number
  cursor: number
}

const TIER_NONE = 0
const TIER_IDLE = 1
const TIER_PARTIAL = 2

class ProverEntry implements ProverView {
  connected = false
  /** Ops whose current attempt it runs (state assigned/running). */
  readonly assigned = new Set<OpEntry>()
  /** When it started each op it holds (task.started). */
  readonly started = new Map<OpEntry, number>()
  readonly speed = new Map<string, number>()
  /** Order of its latest assignment (0: never); ties in placement go to the least recent. */
  lastAssign = 0
  /** Where it sits in its buckets: none, idle, partial. */
  tier = TIER_NONE
  buckets: Bucket[] = []
  /** Scan stamp: considered once per placement. */
  stamp = 0
  constructor(public record: ProverRecord) {}
  get running(): number {
    return this.assigned.size
  }
}

/** Ops that share plugin, name and requirements: every filter says the same about them. */
interface OpClass {
  readonly key: string
  readonly queue: Heap<Queued>
  /** Buckets to search, in order: CPU-only then GPU for ops that need no GPU; GPU only for GPU ops. */
  readonly tiers: Bucket[]
  /** Whether to stop before the GPU bucket once CPU-only provers suffice (affinity). */
  readonly cpuFirst: boolean
  /** Bucket versions when no prover could take its head; null when not blocked. */
  blocked: number[] | null
}

interface Queued {
  readonly e: OpEntry
  readonly token: number
}

function before(a: OpEntry, b: OpEntry): boolean {
  const sa = a.graph.rec.seq
  const sb = b.graph.rec.seq
  return sa < sb || (sa === sb && a.rec.index < b.rec.index)
}

/**
 * Collects one call's changes, actions and events. Changes are deduplicated (the final record
 * wins) and ordered by first touch, so a new graph comes before its ops and a finished op
 * before its graph.
 */
class StepBuilder {
  /** Keyed by the record object itself: records are mutated in place, so identity names them. */
  private readonly touched = new Map<object, Change>()
  readonly actions: Action[] = []
  readonly events: GraphEvent[] = []
  /** Provers charged a failure in this Step: one failure per prover per Step. */
  readonly charged = new Set<ProverEntry>()

  graph(g: GraphRecord): void {
    if (!this.touched.has(g)) this.touched.set(g, { type: 'graph.put', graph: g })
  }

  op(o: OpRecord): void {
    if (!this.touched.has(o)) this.touched.set(o, { type: 'op.put', op: o })
  }

  prover(p: ProverRecord): void {
    if (!this.touched.has(p)) this.touched.set(p, { type: 'prover.put', prover: p })
  }

  /** The Step, with copies of the records as they are now. */
  finish(): Step {
    const changes: Change[] = []
    for (const c of this.touched.values()) {
      if (c.type === 'graph.put') changes.push({ type: 'graph.put', graph: { ...c.graph } })
      else if (c.type === 'op.put') changes.push({ type: 'op.put', op: { ...c.op } })
      else changes.push({ type: 'prover.put', prover: { ...c.prover } })
    }
    return { changes, actions: this.actions, events: this.events }
  }
}

function emptyStep(): Step {
  return { changes: [], actions: [], events: [] }
}

function refOf(e: OpEntry): TaskRef {
  return { graphId: e.rec.graphId, opId: e.rec.spec.id, attempt: e.rec.attempt }
}

function opKey(graphId: string, opId: string): string {
  return `${graphId}/${opId}`
}

function inFlight(e: OpEntry): boolean {
  return e.rec.state === 'assigned' || e.rec.state === 'running'
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 1) throw new GalacticError('INVALID_INPUT', `${name} must be an integer >= 1`, { [name]: v })
  return v
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const NO_HOLDERS: ReadonlyMap<string, number> = new Map()
const NO_FAILURES: ReadonlySet<string> = new Set()

/**
 * The oracle's scheduling policy: graphs, ops and provers in memory, decisions out as Steps.
 * Pure: no sockets, no storage, no timers; time comes from `components.clock`.
 *
 * Placement is a pipeline of plugins chosen by the profile (see docs/scheduling.md): filter
 * plugins decide which provers can run an op, score plugins rank them, then the chosen provers
 * are reserved and bound (an `assign` action each).
 *
 * Every mutating method returns a {@link Step}: commit its `changes` in one transaction,
 * then send its `actions` and publish its `events`. Every method ends by placing ready ops.
 *
 * @example
 * const scheduler = new Scheduler({}, { clock: { now: () => Date.now() } }, journal.load())
 * const { step, created } = scheduler.submit(graphId, specHash, parseGraph(input))
 */
export class Scheduler {
  readonly heartbeatIntervalMs: number
  readonly livenessTimeoutMs: number
  readonly maxAttempts: number
  readonly defaultRedundancy: number
  readonly highPenaltyThreshold: number
  readonly highPenaltyProvers: number
  readonly banBaseMs: number
  readonly maxConsecutiveFailures: number
  readonly speedAlpha: number
  /** The enabled plugins, in order, and the score weights. */
  readonly profile: ResolvedProfile
  /** The enabled filter plugins, in order. */
  readonly filters: readonly FilterPlugin[]

  private readonly clock: SchedulerComponents['clock']
  private readonly metrics: SchedulerComponents['metrics']
  private readonly hrtime: SchedulerComponents['hrtime']
  private readonly graphs = new Map<string, GraphEntry>()
  private readonly runningGraphs = new Set<GraphEntry>()
  private readonly ops = new Map<string, OpEntry>()
  private readonly proverMap = new Map<string, ProverEntry>()
  private readonly outputIndex = new Map<string, OutputRef>()
  /** In-flight ops restored from a snapshot whose prover is unknown: re-queued at the next tick. */
  private readonly orphans = new Set<OpEntry>()
  private readonly inFlightOps = new Set<OpEntry>()
  private lastSeq = 0
  private assignCounter = 0
  /**
   * Whether placement could find something new: set when an op becomes ready or a prover
   * gains capacity, connects, comes back or leaves a ban. Plain heartbeats leave it alone, so
   * they cost no placement pass.
   */
  private placementDirty = true

  // ready queue: ops grouped by placement class
  private readonly classes = new Map<string, OpClass>()
  private readonly nonEmpty = new Set<OpClass>()
  private readyCount = 0
  private queueToken = 0

  // prover index
  private readonly buckets = new Map<string, Bucket>()
  private freeProvers = 0
  private scanStamp = 0
  /** Provers in a ban window, and the earliest window end among them. */
  private readonly timedBans = new Set<ProverEntry>()
  private nextBanExpiry = Number.POSITIVE_INFINITY
  /** Run time EWMA per op name over every prover. */
  private readonly referenceMs = new Map<string, number>()

  // how the index maps onto the profile
  private readonly indexBans: boolean
  private readonly gpuOnlyForGpuOps: boolean
  private readonly affinityFirst: boolean
  /** Required filters the index does not already guarantee: they run per candidate. */
  private readonly checkFilters: readonly FilterPlugin[]
  private readonly preferenceFilters: readonly FilterPlugin[]
  // scratch arrays for one placement
  private readonly candP: ProverEntry[] = []
  private readonly candRank: number[] = []
  private readonly candTotal: number[] = []
  private clean = 0
  private readonly activeChecks: FilterPlugin[] = []
  private readonly activePrefs: FilterPlugin[] = []
  private readonly activeScores: ScorePlugin[] = []
  private readonly activeWeights: number[] = []
  private readonly order = new Heap<{ cls: OpClass; head: OpEntry }>((a, b) => before(a.head, b.head))

  constructor(init: SchedulerInit, components: SchedulerComponents, snapshot?: Snapshot) {
    this.heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', init.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs)
    this.livenessTimeoutMs = positiveInt('livenessTimeoutMs', init.livenessTimeoutMs, DEFAULTS.livenessTimeoutMs)
    this.maxAttempts = positiveInt('maxAttempts', init.maxAttempts, DEFAULTS.maxAttempts)
    this.defaultRedundancy = positiveInt('defaultRedundancy', init.defaultRedundancy, DEFAULTS.defaultRedundancy)
    this.highPenaltyProvers = positiveInt('highPenaltyProvers', init.highPenaltyProvers, DEFAULTS.highPenaltyProvers)
    this.banBaseMs = positiveInt('banBaseMs', init.banBaseMs, DEFAULTS.banBaseMs)
    this.maxConsecutiveFailures = positiveInt('maxConsecutiveFailures', init.maxConsecutiveFailures, DEFAULTS.maxConsecutiveFailures)
    this.highPenaltyThreshold = init.highPenaltyThreshold ?? DEFAULTS.highPenaltyThreshold
    if (Number.isNaN(this.highPenaltyThreshold)) {
      throw new GalacticError('INVALID_INPUT', 'highPenaltyThreshold must be a number', { highPenaltyThreshold: init.highPenaltyThreshold })
    }
    this.speedAlpha = init.speedAlpha ?? DEFAULTS.speedAlpha
    if (!(this.speedAlpha > 0 && this.speedAlpha <= 1)) {
      throw new GalacticError('INVALID_INPUT', 'speedAlpha must be in (0, 1]', { speedAlpha: init.speedAlpha })
    }
    this.profile = resolveProfile(init.profile, components.registry ?? DEFAULT_REGISTRY)
    this.filters = this.profile.filters
    const enabled = new Set(this.filters)
    this.indexBans = enabled.has(banFilter)
    this.gpuOnlyForGpuOps = enabled.has(gpuFilter)
    this.affinityFirst = this.filters.find((f) => f.preference === true) === affinityFilter
    const indexed = new Set<FilterPlugin>([liveFilter, capacityFilter, pluginFilter, banFilter])
    this.checkFilters = this.filters.filter((f) => f.preference !== true && !indexed.has(f))
    this.preferenceFilters = this.filters.filter((f) => f.preference === true)
    this.clock = components.clock
    this.metrics = components.hrtime === undefined ? undefined : components.metrics
    this.hrtime = components.hrtime
    if (snapshot !== undefined) this.restore(snapshot)
  }

  // ---------------------------------------------------------------- graphs

  /**
   * Adds a graph (already checked by `parseGraph`: ops in topological order). Idempotent:
   * the same `graphId` with the same `specHash` returns `created: false` and an empty Step.
   *
   * @throws GalacticError `NONCE_CONFLICT` when `graphId` exists with another `specHash`.
   */
  submit(graphId: string, specHash: string, graph: Graph): { step: Step; created: boolean } {
    const existing = this.graphs.get(graphId)
    if (existing !== undefined) {
      if (existing.rec.specHash === specHash) return { step: emptyStep(), created: false }
      throw new GalacticError('NONCE_CONFLICT', `graph ${graphId} was already submitted with different contents`, {
        graphId,
        requester: graph.requester,
        nonce: graph.nonce,
      })
    }
    const now = this.clock.now()
    const sb = new StepBuilder()
    const g: GraphEntry = {
      rec: {
        graphId,
        seq: ++this.lastSeq,
        requester: graph.requester,
        nonce: graph.nonce,
        specHash,
        priority: graph.priority,
        redundancy: graph.redundancy ?? null,
        pluginMode: graph.pluginMode,
        state: 'running',
        submittedAt: now,
        finishedAt: null,
      },
      ops: [],
      succeeded: 0,
    }
    this.graphs.set(graphId, g)
    this.runningGraphs.add(g)
    this.graphChanged(sb, g)
    graph.ops.forEach((spec, index) => {
      const ready = spec.inputs.length === 0
      this.addOp(g, {
        graphId,
        index,
        spec,
        state: ready ? 'ready' : 'pending',
        attempt: 0,
        deviceIds: null,
        outputs: null,
        error: null,
        readyAt: ready ? now : null,
        assignedAt: null,
        startedAt: null,
        finishedAt: null,
      })
    })
    this.link(g)
    for (const e of g.ops) {
      sb.op(e.rec)
      if (e.rec.state === 'ready') {
        this.enqueue(e)
        this.opEvent(sb, e)
      }
    }
    this.place(sb)
    return { step: sb.finish(), created: true }
  }

  hasGraph(graphId: string): boolean {
    return this.graphs.has(graphId)
  }

  /**
   * The task of an op as it was handed out (inputs with their outputs), for checking a result
   * against it; undefined when the op is unknown. The attempt is the op's current one.
   */
  taskFor(graphId: string, opId: string): Task | undefined {
    const e = this.ops.get(opKey(graphId, opId))
    return e === undefined ? undefined : this.task(e)
  }

  /** Every graph, newest first, as one line each (no ops): for lists and dashboards. */
  graphSummaries(limit = Number.POSITIVE_INFINITY): GraphSummary[] {
    const out: GraphSummary[] = []
    const all = [...this.graphs.values()]
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const g = all[i] as GraphEntry
      out.push({
        graphId: g.rec.graphId,
        requester: g.rec.requester,
        priority: g.rec.priority,
        state: g.rec.state,
        submittedAt: g.rec.submittedAt,
        finishedAt: g.rec.finishedAt,
        ops: g.ops.length,
        succeeded: g.succeeded,
      })
    }
    return out
  }

  /** A graph as requesters see it, ops in index order. */
  graphStatus(graphId: string): GraphStatus | undefined {
    const g = this.graphs.get(graphId)
    if (g === undefined) return undefined
    const r = g.rec
    return {
      graphId: r.graphId,
      requester: r.requester,
      nonce: r.nonce,
      priority: r.priority,
      pluginMode: r.pluginMode,
      state: r.state,
      submittedAt: r.submittedAt,
      finishedAt: r.finishedAt,
      ops: g.ops.map((e) => opStatus(e.rec)),
    }
  }

  /**
   * Why a ready op is (not) placed. For every enabled filter plugin, run on every known
   * prover: how many it rejects and the distinct reasons; plus each plugin's Status, the
   * preference filters that are relaxed, the number of feasible provers, how many provers
   * the op wants and the best-scored ones. Only `state` and empty `rejections` for other states.
   */
  explain(graphId: string, opId: string): Explanation | undefined {
    const e = this.ops.get(opKey(graphId, opId))
    if (e === undefined) return undefined
    if (e.queued === 0) return { state: e.rec.state, rejections: [] }
    const now = this.clock.now()
    const ctx = this.context(e, now)
    const provers = [...this.proverMap.values()]
    const pass = new Map<ProverEntry, boolean>(provers.map((p) => [p, true]))
    const statuses: Status[] = []
    const rejections = this.filters.map((f) => {
      let count = 0
      let error = false
      const reasons = new Set<string>()
      for (const p of provers) {
        const st = f.filter(ctx, p)
        if (st.code === 'success') continue
        count++
        if (st.code === 'error') error = true
        for (const r of st.reasons) reasons.add(r)
        if (f.preference !== true) pass.set(p, false)
      }
      statuses.push({ code: error ? 'error' : count > 0 ? 'unschedulable' : 'success', reasons: [...reasons], plugin: f.name })
      return { filter: f.name, count, reasons: [...reasons] }
    })
    let feasible = provers.filter((p) => pass.get(p) === true)
    const relaxed: string[] = []
    let remaining = feasible
    for (const f of this.preferenceFilters) {
      const kept = remaining.filter((p) => f.filter(ctx, p).code === 'success')
      if (kept.length === 0 && remaining.length > 0) relaxed.push(f.name)
      else remaining = kept
    }
    const ranked = feasible.map((p) => {
      const scores: Record<string, number> = {}
      let total = 0
      for (const { plugin, weight } of this.profile.scores) {
        const v = plugin.score(ctx, p)
        scores[plugin.name] = v
        total += weight * v
      }
      return { p, rank: this.preferenceRank(ctx, p), total, scores }
    })
    ranked.sort((a, b) => a.rank - b.rank || b.total - a.total || a.p.lastAssign - b.p.lastAssign || compareIds(a.p.record.proverId, b.p.record.proverId))
    feasible = ranked.map((r) => r.p)
    return {
      state: e.rec.state,
      rejections,
      statuses,
      relaxed,
      feasible: feasible.length,
      wanted: this.proversPerOp(e.graph.rec, e.rec),
      ranking: ranked.slice(0, 5).map((r) => ({ proverId: r.p.record.proverId, total: r.total, scores: r.scores })),
    }
  }

  /** An output of a succeeded op, by content hash. */
  output(hash: string): OutputRef | undefined {
    return this.outputIndex.get(hash)
  }

  counts(): SchedulerCounts {
    let proversLive = 0
    for (const p of this.proverMap.values()) if (p.record.state === 'live') proversLive++
    return { graphsRunning: this.runningGraphs.size, opsReady: this.readyCount, opsRunning: this.inFlightOps.size, proversLive }
  }

  // --------------------------------------------------------------- provers

  /**
   * A prover (re)connects. It becomes live and connected; its ban state carries over (a new
   * name is the only way out of a permanent ban). Its assigned ops that it does not report as
   * running are delivered again (same attempt); the tasks it reports that are not its current
   * assignments are cancelled; reported current tasks still `assigned` become `running`.
   *
   * @throws GalacticError `PROTOCOL_ERROR` when another peer holds this prover id on a live connection.
   */
  registerProver(p: ProverRegistration): Step {
    const existing = this.proverMap.get(p.proverId)
    if (existing !== undefined && existing.connected && existing.record.peerId !== p.peerId) {
      throw new GalacticError('PROTOCOL_ERROR', `prover ${p.proverId} is already connected from another peer`, {
        proverId: p.proverId,
      })
    }
    const now = this.clock.now()
    const sb = new StepBuilder()
    const record: ProverRecord = {
      proverId: p.proverId,
      peerId: p.peerId,
      device: p.device,
      slots: p.slots,
      registeredAt: now,
      lastSeenAt: now,
      state: 'live',
    }
    const ban = existing?.record.ban
    if (ban !== undefined) record.ban = ban
    const entry = existing ?? new ProverEntry(record)
    this.unindex(entry)
    entry.record = record
    entry.connected = true
    entry.buckets = this.bucketsOf(record)
    this.proverMap.set(p.proverId, entry)
    this.reindex(entry, now)
    this.placementDirty = true
    sb.prover(record)

    const reported = new Set(p.running.map(taskKey))
    for (const e of entry.assigned) {
      if (!reported.has(taskKey(refOf(e)))) sb.actions.push({ type: 'assign', proverId: p.proverId, task: this.task(e) })
    }
    this.reconcileRunning(sb, entry, p.running)
    this.place(sb)
    return sb.finish()
  }

  /**
   * A prover is alive. Updates `lastSeenAt` in memory only (no change is journaled). Also
   * cancels reported tasks that are not its current assignments, marks reported current
   * tasks `running`, and revives a prover that was declared lost.
   *
   * @throws GalacticError `PROTOCOL_ERROR` for an unknown prover.
   */
  heartbeat(proverId: string, running: TaskRef[]): Step {
    const entry = this.proverMap.get(proverId)
    if (entry === undefined) throw new GalacticError('PROTOCOL_ERROR', `unknown prover ${proverId}: register first`, { proverId })
    const sb = new StepBuilder()
    const now = this.clock.now()
    entry.record.lastSeenAt = now
    if (entry.record.state === 'lost') {
      entry.record.state = 'live'
      this.reindex(entry, now)
      this.placementDirty = true
      sb.prover(entry.record)
    }
    this.reconcileRunning(sb, entry, running)
    this.place(sb)
    return sb.finish()
  }

  /** A prover's connection closed: no new work. Its ops stay with it until liveness times out. */
  disconnected(proverId: string): Step {
    const entry = this.proverMap.get(proverId)
    if (entry !== undefined) {
      entry.connected = false
      this.reindex(entry, this.clock.now())
    }
    return emptyStep()
  }

  /** Every known prover, with whether it is connected and the tasks it holds. */
  provers(): ProverInfo[] {
    return [...this.proverMap.values()].map((p) => ({
      ...p.record,
      connected: p.connected,
      running: [...p.assigned].map(refOf),
    }))
  }

  /** One prover's placement state: ban window, consecutive failures, liveness, tasks. Undefined when unknown. */
  proverState(proverId: string): ProverState | undefined {
    const p = this.proverMap.get(proverId)
    if (p === undefined) return undefined
    const ban = p.record.ban
    const now = this.clock.now()
    return {
      proverId,
      state: p.record.state,
      connected: p.connected,
      slots: p.record.slots,
      running: [...p.assigned].map(refOf),
      consecutiveFailures: ban?.consecutiveFailures ?? 0,
      banned: isBanned(ban, now),
      permanent: ban?.permanent ?? false,
      bannedUntil: ban?.bannedUntil ?? null,
      speedMs: Object.fromEntries(p.speed),
    }
  }

  // ----------------------------------------------------------------- tasks

  /** The prover started a task: `assigned` -> `running` when `ref` is an attempt it holds now. */
  taskStarted(proverId: string, ref: TaskRef): Step {
    const sb = new StepBuilder()
    const p = this.proverMap.get(proverId)
    const e = p === undefined ? undefined : this.current(p, ref)
    if (p !== undefined && e !== undefined) {
      if (!p.started.has(e)) p.started.set(e, this.clock.now())
      if (e.rec.state === 'assigned') this.markRunning(sb, e)
    }
    this.place(sb)
    return sb.finish()
  }

  /**
   * A prover reports a task's outcome. Always acked.
   * - The op's current attempt, held by this prover: a success wins (the op succeeds, other
   *   provers running it get `cancel` and are freed); a failure ends this prover's copy, and the
   *   op goes back to `ready` (or fails for good) only when no other prover still runs it.
   * - An earlier attempt this prover was cut off from (deadline, lost), op not finished: a
   *   success is taken and the current attempt is cancelled.
   * - Anything else (op finished, never held, failed attempt) changes nothing.
   */
  taskResult(proverId: string, ref: TaskRef, outcome: TaskOutcome, providers: string[]): Step {
    const sb = new StepBuilder()
    sb.actions.push({ type: 'ack', proverId, ref: { graphId: ref.graphId, opId: ref.opId, attempt: ref.attempt } })
    const p = this.proverMap.get(proverId)
    const e = this.ops.get(opKey(ref.graphId, ref.opId))
    if (p !== undefined && e !== undefined && e.graph.rec.state === 'running' && e.rec.state !== 'succeeded' && e.rec.state !== 'failed') {
      const outputs = (): OutputRef[] =>
        outcome.ok ? outcome.outputs.map((o) => ({ name: o.name, hash: o.hash, size: o.size, providers: [...providers] })) : []
      if (ref.attempt === e.rec.attempt && e.holders.has(p) && inFlight(e)) {
        if (outcome.ok) this.succeed(sb, e, p, outputs(), false)
        else this.copyFailed(sb, e, p, outcome.error)
      } else if (outcome.ok && ref.attempt < e.rec.attempt && e.earlier?.get(p) === ref.attempt) {
        this.succeed(sb, e, p, outputs(), true)
      }
    }
    this.place(sb)
    return sb.finish()
  }

  /**
   * Time passes: provers silent longer than `livenessTimeoutMs` are lost and their ops go back
   * to `ready` (when no other prover runs them); ops assigned longer than their `timeoutMs` are
   * cancelled on every prover, each prover is charged a failure, and the op goes back to
   * `ready`. An op that has used up `maxAttempts` fails for good instead, and so does its graph.
   * Ban windows that ended let their provers back.
   */
  tick(): Step {
    const now = this.clock.now()
    const sb = new StepBuilder()
    for (const e of this.orphans) {
      this.orphans.delete(e)
      if (!inFlight(e) || e.holders.size > 0) continue
      this.retryOrFail(sb, e, { code: 'CONNECTION_CLOSED', message: 'prover unknown after restart' })
    }
    for (const p of this.proverMap.values()) {
      if (p.record.state !== 'live' || p.record.lastSeenAt + this.livenessTimeoutMs >= now) continue
      p.record.state = 'lost'
      this.reindex(p, now)
      sb.prover(p.record)
      const error: ErrorObject = {
        code: 'CONNECTION_CLOSED',
        message: `prover ${p.record.proverId} lost: silent for ${now - p.record.lastSeenAt} ms`,
        details: { proverId: p.record.proverId },
      }
      for (const e of [...p.assigned]) {
        if (!inFlight(e)) continue // failed with its graph meanwhile
        ;(e.earlier ??= new Map()).set(p, e.rec.attempt)
        this.dropCopy(sb, e, p, error)
      }
    }
    for (const e of [...this.inFlightOps]) {
      const assignedAt = e.rec.assignedAt ?? now
      if (assignedAt + e.rec.spec.timeoutMs >= now) continue
      const ref = refOf(e)
      const reason = `deadline: not finished within ${e.rec.spec.timeoutMs} ms`
      for (const p of [...e.holders]) {
        sb.actions.push({ type: 'cancel', proverId: p.record.proverId, ref, reason })
        ;(e.earlier ??= new Map()).set(p, e.rec.attempt)
        ;(e.failedOn ??= new Set()).add(p.record.proverId)
        this.chargeFailure(sb, p, now)
        this.unhold(p, e)
      }
      this.retryOrFail(sb, e, { code: 'TIMEOUT', message: reason, details: { timeoutMs: e.rec.spec.timeoutMs } })
    }
    this.place(sb)
    return sb.finish()
  }

  // ------------------------------------------------------------- internals

  private restore(s: Snapshot): void {
    const now = this.clock.now()
    for (const r of s.graphs) {
      const g: GraphEntry = { rec: { ...r }, ops: [], succeeded: 0 }
      this.graphs.set(r.graphId, g)
      if (r.state === 'running') this.runningGraphs.add(g)
      this.lastSeq = Math.max(this.lastSeq, r.seq)
    }
    for (const r of s.provers) {
      const p = new ProverEntry({ ...r, lastSeenAt: now })
      p.buckets = this.bucketsOf(p.record)
      this.proverMap.set(r.proverId, p)
      this.trackBan(p)
    }
    for (const r of s.ops) {
      const g = this.graphs.get(r.graphId)
      if (g === undefined) {
        throw new GalacticError('STORAGE_ERROR', `snapshot has op ${r.spec.id} of unknown graph ${r.graphId}`, {
          graphId: r.graphId,
          opId: r.spec.id,
        })
      }
      this.addOp(g, { ...r })
    }
    for (const g of this.graphs.values()) {
      g.ops.sort((a, b) => a.rec.index - b.rec.index)
      this.link(g)
      for (const e of g.ops) {
        const rec = e.rec
        if (rec.state === 'succeeded') {
          g.succeeded++
          e.producer = rec.deviceIds?.[0]
          for (const o of rec.outputs ?? []) this.outputIndex.set(o.hash, o)
        } else if (rec.state === 'ready' && g.rec.state === 'running') {
          this.enqueue(e)
        } else if (inFlight(e)) {
          this.inFlightOps.add(e)
          for (const id of rec.deviceIds ?? []) {
            const p = this.proverMap.get(id)
            if (p !== undefined) this.hold(p, e)
          }
          if (e.holders.size === 0) this.orphans.add(e)
        }
      }
    }
  }

  private enqueue(e: OpEntry): void {
    if (e.queued !== 0) return
    let cls = e.cls
    if (cls === undefined) {
      cls = this.classOf(e.rec)
      e.cls = cls
    }
    const token = ++this.queueToken
    e.queued = token
    cls.queue.push({ e, token })
    this.nonEmpty.add(cls)
    this.readyCount++
    this.placementDirty = true
  }

  private dequeue(e: OpEntry): void {
    if (e.queued === 0) return
    e.queued = 0
    this.readyCount--
  }

  /** The class's first queued op, dropping stale entries; undefined (and out of `nonEmpty`) when none. */
  private head(cls: OpClass): OpEntry | undefined {
    for (;;) {
      const top = cls.queue.peek()
      if (top === undefined) {
        this.nonEmpty.delete(cls)
        return undefined
      }
      if (top.e.queued === top.token) return top.e
      cls.queue.pop()
    }
  }

  private classOf(rec: OpRecord): OpClass {
    const spec = rec.spec
    const pk = pluginKey(spec.plugin)
    const req = spec.requirements
    let empty = true
    for (const _ in req) {
      empty = false
      break
    }
    const key = `${pk}\n${spec.name}\n${empty ? '' : JSON.stringify(req)}`
    let cls = this.classes.get(key)
    if (cls === undefined) {
      const cpu = this.bucket(`${pk}|c`)
      const gpu = this.bucket(`${pk}|g`)
      const needsGpu = spec.requirements.gpu !== undefined
      cls = {
        key,
        queue: new Heap<Queued>((a, b) => before(a.e, b.e)),
        tiers: needsGpu && this.gpuOnlyForGpuOps ? [gpu] : [cpu, gpu],
        cpuFirst: !needsGpu && this.affinityFirst,
        blocked: null,
      }
      this.classes.set(key, cls)
    }
    return cls
  }

  private bucket(key: string): Bucket {
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = { key, idle: new IndexedSet(), partial: new IndexedSet(), version: 0, cursor: 0 }
      this.buckets.set(key, b)
    }
    return b
  }

  private bucketsOf(r: ProverRecord): Bucket[] {
    const suffix = r.device.gpus.length > 0 ? '|g' : '|c'
    return [...new Set(r.device.plugins.map(pluginKey))].map((k) => this.bucket(k + suffix))
  }

  /** Puts a prover where it belongs in its buckets: out, idle or partial. */
  private reindex(p: ProverEntry, now: number): void {
    const r = p.record
    const tier =
      r.state !== 'live' || !p.connected || p.assigned.size >= r.slots || (this.indexBans && isBanned(r.ban, now))
        ? TIER_NONE
        : p.assigned.size === 0
          ? TIER_IDLE
          : TIER_PARTIAL
    const old = p.tier
    if (tier === old) return
    for (const b of p.buckets) {
      if (old === TIER_IDLE) b.idle.delete(p)
      else if (old === TIER_PARTIAL) b.partial.delete(p)
      if (tier === TIER_IDLE) b.idle.add(p)
      else if (tier === TIER_PARTIAL) b.partial.add(p)
      if (old === TIER_NONE) b.version++
    }
    if (old === TIER_NONE) {
      this.freeProvers++
      this.placementDirty = true
    } else if (tier === TIER_NONE) {
      this.freeProvers--
    }
    p.tier = tier
  }

  private unindex(p: ProverEntry): void {
    if (p.tier === TIER_NONE) return
    for (const b of p.buckets) {
      b.idle.delete(p)
      b.partial.delete(p)
    }
    p.tier = TIER_NONE
    this.freeProvers--
  }

  private addOp(g: GraphEntry, rec: OpRecord): void {
    const key = opKey(rec.graphId, rec.spec.id)
    const e: OpEntry = {
      key,
      graph: g,
      rec,
      inputs: [],
      consumers: [],
      cls: undefined,
      queued: 0,
      holders: new Set(),
      earlier: undefined,
      failedOn: undefined,
      producer: undefined,
    }
    g.ops.push(e)
    this.ops.set(key, e)
  }

  /** Fills inputs and consumers of a graph's ops. */
  private link(g: GraphEntry): void {
    for (const e of g.ops) {
      for (const id of e.rec.spec.inputs) {
        const input = this.ops.get(opKey(g.rec.graphId, id))
        if (input === undefined) {
          throw new GalacticError('INVALID_GRAPH', `op "${e.rec.spec.id}": unknown input op "${id}"`, { opId: e.rec.spec.id })
        }
        e.inputs.push(input)
        input.consumers.push(e)
      }
    }
  }

  /** The op `ref` names when it is its current attempt, in flight, and held by `p`. */
  private current(p: ProverEntry, ref: TaskRef): OpEntry | undefined {
    const e = this.ops.get(opKey(ref.graphId, ref.opId))
    if (e === undefined || e.rec.attempt !== ref.attempt || !inFlight(e) || !e.holders.has(p)) return undefined
    return e
  }

  private reconcileRunning(sb: StepBuilder, p: ProverEntry, running: TaskRef[]): void {
    const proverId = p.record.proverId
    for (const ref of running) {
      const e = this.current(p, ref)
      if (e === undefined) {
        sb.actions.push({
          type: 'cancel',
          proverId,
          ref: { graphId: ref.graphId, opId: ref.opId, attempt: ref.attempt },
          reason: 'not assigned to this prover',
        })
      } else {
        if (!p.started.has(e)) p.started.set(e, this.clock.now())
        if (e.rec.state === 'assigned') this.markRunning(sb, e)
      }
    }
  }

  private markRunning(sb: StepBuilder, e: OpEntry): void {
    e.rec.state = 'running'
    e.rec.startedAt = this.clock.now()
    this.opChanged(sb, e)
  }

  private hold(p: ProverEntry, e: OpEntry): void {
    p.assigned.add(e)
    e.holders.add(p)
  }

  /** `p` stops running `e`: its slot is free. */
  private unhold(p: ProverEntry, e: OpEntry): void {
    e.holders.delete(p)
    p.started.delete(e)
    if (p.assigned.delete(e)) {
      this.placementDirty = true
      this.reindex(p, this.clock.now())
    }
  }

  /** One prover's copy of an in-flight op ends without a result: the op retries only when it was the last copy. */
  private dropCopy(sb: StepBuilder, e: OpEntry, p: ProverEntry, error: ErrorObject): void {
    this.unhold(p, e)
    if (e.holders.size === 0) {
      this.retryOrFail(sb, e, error)
      return
    }
    // other provers still run it: only deviceIds change (journaled; no state event)
    e.rec.deviceIds = (e.rec.deviceIds ?? []).filter((id) => id !== p.record.proverId)
    sb.op(e.rec)
  }

  /** A prover's copy failed (failed result): charge the prover, then end its copy. */
  private copyFailed(sb: StepBuilder, e: OpEntry, p: ProverEntry, error: ErrorObject): void {
    ;(e.failedOn ??= new Set()).add(p.record.proverId)
    this.chargeFailure(sb, p, this.clock.now())
    this.dropCopy(sb, e, p, error)
  }

  /**
   * A failure (failed result or missed deadline) of `p`: one per prover per Step. The n-th
   * consecutive failure bans it for `banBaseMs * 2^(n-1)`; one more than `maxConsecutiveFailures`
   * bans it for good.
   */
  private chargeFailure(sb: StepBuilder, p: ProverEntry, now: number): void {
    if (sb.charged.has(p)) return
    sb.charged.add(p)
    const old = p.record.ban
    if (old?.permanent === true) return
    const n = (old?.consecutiveFailures ?? 0) + 1
    const ban: ProverBan =
      n > this.maxConsecutiveFailures
        ? { consecutiveFailures: n, bannedUntil: null, permanent: true }
        : { consecutiveFailures: n, bannedUntil: now + this.banBaseMs * 2 ** (n - 1), permanent: false }
    p.record.ban = ban
    sb.prover(p.record)
    this.trackBan(p)
    this.reindex(p, now)
  }

  /** A success resets the consecutive failures (a window in progress runs out; a permanent ban stays). */
  private chargeSuccess(sb: StepBuilder, p: ProverEntry, now: number): void {
    const ban = p.record.ban
    if (ban === undefined || ban.permanent) return
    if (ban.bannedUntil !== null && ban.bannedUntil > now) {
      if (ban.consecutiveFailures === 0) return
      p.record.ban = { consecutiveFailures: 0, bannedUntil: ban.bannedUntil, permanent: false }
    } else {
      delete p.record.ban
    }
    sb.prover(p.record)
  }

  private trackBan(p: ProverEntry): void {
    const until = p.record.ban?.bannedUntil
    if (p.record.ban?.permanent === true || until === null || until === undefined) {
      this.timedBans.delete(p)
      return
    }
    this.timedBans.add(p)
    if (until < this.nextBanExpiry) this.nextBanExpiry = until
  }

  /** Lets provers whose window ended back into the index. */
  private expireBans(now: number): void {
    let next = Number.POSITIVE_INFINITY
    for (const p of this.timedBans) {
      const until = p.record.ban?.bannedUntil ?? null
      if (until === null || until <= now || p.record.ban?.permanent === true) {
        this.timedBans.delete(p)
        this.reindex(p, now)
      } else if (until < next) {
        next = until
      }
    }
    this.nextBanExpiry = next
  }

  private recordSpeed(p: ProverEntry, e: OpEntry, now: number): void {
    const started = p.started.get(e)
    if (started === undefined) return
    const ms = Math.max(0, now - started)
    const name = e.rec.spec.name
    const a = this.speedAlpha
    const own = p.speed.get(name)
    p.speed.set(name, own === undefined ? ms : own + a * (ms - own))
    const ref = this.referenceMs.get(name)
    this.referenceMs.set(name, ref === undefined ? ms : ref + a * (ms - ref))
  }

  /**
   * `winner` delivered a valid result (`late`: for an earlier attempt): the op succeeds; every
   * prover still running its current attempt gets `cancel` and is freed.
   */
  private succeed(sb: StepBuilder, e: OpEntry, winner: ProverEntry, outputs: OutputRef[], late: boolean): void {
    const now = this.clock.now()
    this.recordSpeed(winner, e, now)
    this.chargeSuccess(sb, winner, now)
    const ref = refOf(e)
    const others: string[] = []
    for (const p of [...e.holders]) {
      if (p !== winner || late) {
        sb.actions.push({ type: 'cancel', proverId: p.record.proverId, ref, reason: 'op finished: another result won' })
      }
      if (p !== winner) others.push(p.record.proverId)
      this.unhold(p, e)
    }
    this.orphans.delete(e)
    this.dequeue(e)
    this.inFlightOps.delete(e)
    const winnerId = winner.record.proverId
    e.producer = winnerId
    e.earlier = undefined
    e.failedOn = undefined
    e.rec.deviceIds = [winnerId, ...others]
    e.rec.state = 'succeeded'
    e.rec.outputs = outputs
    e.rec.error = null
    e.rec.finishedAt = now
    this.opChanged(sb, e)
    for (const o of outputs) this.outputIndex.set(o.hash, o)
    const g = e.graph
    g.succeeded++
    for (const c of e.consumers) {
      if (c.rec.state !== 'pending' || !c.inputs.every((i) => i.rec.state === 'succeeded')) continue
      c.rec.state = 'ready'
      c.rec.readyAt = now
      this.enqueue(c)
      this.opChanged(sb, c)
    }
    if (g.succeeded === g.ops.length && g.rec.state === 'running') {
      g.rec.state = 'succeeded'
      g.rec.finishedAt = now
      this.runningGraphs.delete(g)
      this.graphChanged(sb, g)
    }
  }

  /** An op with no prover left ended without success: back to `ready`, or failed for good. */
  private retryOrFail(sb: StepBuilder, e: OpEntry, error: ErrorObject): void {
    const now = this.clock.now()
    this.orphans.delete(e)
    this.inFlightOps.delete(e)
    e.rec.error = error
    if (e.rec.attempt >= this.maxAttempts) {
      e.rec.state = 'failed'
      e.rec.finishedAt = now
      this.opChanged(sb, e)
      this.failGraph(sb, e)
      return
    }
    e.rec.state = 'ready'
    e.rec.readyAt = now
    e.rec.deviceIds = null
    e.rec.assignedAt = null
    e.rec.startedAt = null
    if (e.graph.rec.state === 'running') this.enqueue(e)
    this.opChanged(sb, e)
  }

  /**
   * The graph fails because `cause` failed for good. Its other in-flight ops are cancelled
   * (a `cancel` action each) and become `failed` with a TASK_CANCELLED error; its pending and
   * ready ops keep their state but are never placed.
   */
  private failGraph(sb: StepBuilder, cause: OpEntry): void {
    const g = cause.graph
    if (g.rec.state !== 'running') return
    const now = this.clock.now()
    g.rec.state = 'failed'
    g.rec.finishedAt = now
    this.runningGraphs.delete(g)
    this.graphChanged(sb, g)
    const reason = `graph failed: op ${cause.rec.spec.id} failed after ${cause.rec.attempt} attempts`
    for (const e of g.ops) {
      this.dequeue(e)
      e.earlier = undefined
      if (e === cause || !inFlight(e)) continue
      const ref = refOf(e)
      for (const p of [...e.holders]) {
        sb.actions.push({ type: 'cancel', proverId: p.record.proverId, ref, reason })
        this.unhold(p, e)
      }
      this.orphans.delete(e)
      this.inFlightOps.delete(e)
      e.rec.state = 'failed'
      e.rec.error = { code: 'TASK_CANCELLED', message: reason, details: { cause: cause.rec.spec.id } }
      e.rec.finishedAt = now
      this.opChanged(sb, e)
    }
  }

  /**
   * How many provers one op runs on: 1 under `cost` priority; the graph's `redundancy` (or
   * `defaultRedundancy`) under `performance`; at least `highPenaltyProvers` when the op's
   * penalty is above `highPenaltyThreshold`.
   */
  private proversPerOp(g: GraphRecord, op: OpRecord): number {
    let want = g.priority === 'performance' ? (g.redundancy ?? this.defaultRedundancy) : 1
    if (op.spec.penalty > this.highPenaltyThreshold) want = Math.max(want, this.highPenaltyProvers)
    return want
  }

  private context(e: OpEntry, now: number): PlacementContext {
    let holders = NO_HOLDERS
    if (e.inputs.length > 0) {
      const m = new Map<string, number>()
      for (const i of e.inputs) if (i.producer !== undefined) m.set(i.producer, (m.get(i.producer) ?? 0) + 1)
      holders = m
    }
    return {
      op: e.rec,
      graph: e.graph.rec,
      now,
      failedOn: e.failedOn ?? NO_FAILURES,
      inputHolders: holders,
      inputCount: e.inputs.length,
      referenceMs: this.referenceMs.get(e.rec.spec.name),
    }
  }

  /** Lexicographic rank of a prover's preference-filter violations (0: none; the first filter weighs most). */
  private preferenceRank(ctx: PlacementContext, p: ProverView): number {
    const prefs = this.preferenceFilters
    let rank = 0
    for (let i = 0; i < prefs.length; i++) {
      rank *= 2
      if ((prefs[i] as FilterPlugin).filter(ctx, p).code !== 'success') rank += 1
    }
    return rank
  }

  /**
   * Places ready ops in (graph seq, op index) order. For each op: the prover index yields
   * provers that are live, connected, have a free slot, offer the plugin and are not banned
   * (idle ones first, then the op's input holders); the other filters run on each until
   * `candidatesToScore` feasible ones are found; the op goes to the best `proversPerOp` by
   * (preference violations, weighted score, least recently assigned, id). A class of ops whose
   * head finds no prover is skipped until a prover enters one of its buckets.
   */
  private place(sb: StepBuilder): void {
    const now = this.clock.now()
    if (now >= this.nextBanExpiry) this.expireBans(now)
    if (!this.placementDirty) return
    this.placementDirty = false
    if (this.readyCount === 0 || this.freeProvers === 0) return
    const order = this.order
    order.clear()
    for (const cls of this.nonEmpty) {
      if (cls.blocked !== null && cls.tiers.every((b, i) => b.version === cls.blocked?.[i])) continue
      cls.blocked = null
      const head = this.head(cls)
      if (head !== undefined) order.push({ cls, head })
    }
    while (order.size > 0 && this.freeProvers > 0) {
      const top = order.peek() as { cls: OpClass; head: OpEntry }
      const e = top.head
      const metrics = this.metrics
      const t0 = metrics === undefined ? 0n : (this.hrtime as () => bigint)()
      const chosen = this.pick(e, top.cls, now)
      if (chosen.length === 0) {
        top.cls.blocked = top.cls.tiers.map((b) => b.version)
        order.pop()
        if (metrics !== undefined) metrics.unschedulable?.(Number((this.hrtime as () => bigint)() - t0))
        continue
      }
      this.assign(sb, e, chosen, now)
      if (metrics !== undefined) metrics.placed(Number((this.hrtime as () => bigint)() - t0), chosen.length)
      const next = this.head(top.cls)
      if (next === undefined) order.pop()
      else {
        top.head = next
        order.siftDown()
      }
    }
  }

  /** Filter and score: the provers `e` goes to, best first; empty when none can take it. */
  private pick(e: OpEntry, cls: OpClass, now: number): ProverEntry[] {
    const want = this.proversPerOp(e.graph.rec, e.rec)
    const ctx = this.context(e, now)
    // PreFilter / PreScore: drop the plugins that say the same for every prover of this op
    const checks = this.activeChecks
    const prefs = this.activePrefs
    const scores = this.activeScores
    const weights = this.activeWeights
    checks.length = 0
    prefs.length = 0
    scores.length = 0
    weights.length = 0
    for (const f of this.checkFilters) if (f.skip?.(ctx) !== true) checks.push(f)
    for (const f of this.preferenceFilters) if (f.skip?.(ctx) !== true) prefs.push(f)
    for (const { plugin, weight } of this.profile.scores) {
      if (plugin.skip?.(ctx) === true) continue
      scores.push(plugin)
      weights.push(weight)
    }
    const limit = this.profile.candidatesToScore
    this.scanStamp++
    this.candP.length = 0
    this.candRank.length = 0
    this.candTotal.length = 0
    this.clean = 0
    // input holders are always considered: locality can only pick them when they are candidates
    for (const id of ctx.inputHolders.keys()) {
      const p = this.proverMap.get(id)
      if (p !== undefined && p.tier !== TIER_NONE && cls.tiers.some((b) => p.buckets.includes(b))) this.consider(ctx, p)
    }
    for (let t = 0; t < cls.tiers.length && this.candP.length < limit; t++) {
      if (t > 0 && cls.cpuFirst && this.clean >= want) break
      const b = cls.tiers[t] as Bucket
      for (let tier = 0; tier < 2 && this.candP.length < limit; tier++) {
        const items = (tier === 0 ? b.idle : b.partial).items
        const n = items.length
        if (n === 0) continue
        const start = b.cursor % n
        let seen = 0
        while (seen < n && this.candP.length < limit) {
          let i = start + seen
          if (i >= n) i -= n
          this.consider(ctx, items[i] as ProverEntry)
          seen++
        }
        b.cursor = start + seen
      }
    }
    const chosen: ProverEntry[] = []
    const n = this.candP.length
    for (let k = 0; k < want && k < n; k++) {
      let best = -1
      for (let i = 0; i < n; i++) {
        if (this.candRank[i] === -1) continue
        if (best === -1 || this.better(i, best)) best = i
      }
      if (best === -1) break
      chosen.push(this.candP[best] as ProverEntry)
      this.candRank[best] = -1
    }
    return chosen
  }

  /** Runs the active filters on `p`; a feasible prover becomes a candidate with its rank and weighted score. */
  private consider(ctx: PlacementContext, p: ProverEntry): void {
    if (p.stamp === this.scanStamp) return
    p.stamp = this.scanStamp
    const checks = this.activeChecks
    for (let i = 0; i < checks.length; i++) if ((checks[i] as FilterPlugin).filter(ctx, p).code !== 'success') return
    const prefs = this.activePrefs
    let rank = 0
    for (let i = 0; i < prefs.length; i++) {
      rank *= 2
      if ((prefs[i] as FilterPlugin).filter(ctx, p).code !== 'success') rank += 1
    }
    if (rank === 0) this.clean++
    const scores = this.activeScores
    const weights = this.activeWeights
    let total = 0
    for (let i = 0; i < scores.length; i++) total += (weights[i] as number) * (scores[i] as ScorePlugin).score(ctx, p)
    this.candP.push(p)
    this.candRank.push(rank)
    this.candTotal.push(total)
  }

  /** Candidate `i` ranks before candidate `j`. */
  private better(i: number, j: number): boolean {
    const ri = this.candRank[i] as number
    const rj = this.candRank[j] as number
    if (ri !== rj) return ri < rj
    const ti = this.candTotal[i] as number
    const tj = this.candTotal[j] as number
    if (ti !== tj) return ti > tj
    const a = this.candP[i] as ProverEntry
    const b = this.candP[j] as ProverEntry
    if (a.lastAssign !== b.lastAssign) return a.lastAssign < b.lastAssign
    return a.record.proverId < b.record.proverId
  }

  /** Reserve and bind: the op's new attempt goes to `provers`, an `assign` action each. */
  private assign(sb: StepBuilder, e: OpEntry, provers: ProverEntry[], now: number): void {
    this.dequeue(e)
    const rec = e.rec
    rec.attempt += 1
    rec.state = 'assigned'
    rec.deviceIds = provers.map((p) => p.record.proverId)
    rec.assignedAt = now
    rec.startedAt = null
    this.inFlightOps.add(e)
    this.opChanged(sb, e)
    const task = this.task(e)
    for (const p of provers) {
      this.hold(p, e)
      p.lastAssign = ++this.assignCounter
      this.reindex(p, now)
      sb.actions.push({ type: 'assign', proverId: p.record.proverId, task })
    }
  }

  private task(e: OpEntry): Task {
    const spec = e.rec.spec
    return {
      graphId: e.rec.graphId,
      opId: spec.id,
      attempt: e.rec.attempt,
      name: spec.name,
      plugin: spec.plugin,
      params: spec.params,
      requirements: spec.requirements,
      inputs: e.inputs.map((i) => ({ opId: i.rec.spec.id, outputs: i.rec.outputs ?? [] })),
      timeoutMs: spec.timeoutMs,
      pluginMode: e.graph.rec.pluginMode,
    }
  }

  private opChanged(sb: StepBuilder, e: OpEntry): void {
    sb.op(e.rec)
    this.opEvent(sb, e)
  }

  private opEvent(sb: StepBuilder, e: OpEntry): void {
    const r = e.rec
    sb.events.push({
      type: 'op',
      graphId: r.graphId,
      opId: r.spec.id,
      state: r.state,
      attempt: r.attempt,
      deviceIds: r.deviceIds,
      outputs: r.outputs,
      error: r.error,
      at: this.clock.now(),
    })
  }

  private graphChanged(sb: StepBuilder, g: GraphEntry): void {
    sb.graph(g.rec)
    sb.events.push({ type: 'graph', graphId: g.rec.graphId, state: g.rec.state, at: this.clock.now() })
  }
}

function opStatus(r: OpRecord): OpStatus {
  return {
    ...r.spec,
    deviceIds: r.deviceIds,
    outputs: r.outputs,
    state: r.state,
    attempt: r.attempt,
    error: r.error,
    readyAt: r.readyAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  }
}
