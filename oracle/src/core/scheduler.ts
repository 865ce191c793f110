import { GalacticError, pluginKey, taskKey } from '@galactic/schemas'
import type { ErrorObject, Graph, GraphEvent, GraphStatus, OpStatus, OutputRef, Task, TaskOutcome, TaskRef } from '@galactic/schemas'
import { affinityFilter, banFilter, capacityFilter, gpuFilter, isBanned, liveFilter, pluginFilter } from './filters.js'
import { DEFAULT_REGISTRY, resolveProfile, type ResolvedProfile } from './profile.js'
import { CountMap, Heap, removeAt } from './structures.js'
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
  readonly graph: GraphEntry
  readonly rec: OpRecord
  /** Queue order: its graph's seq, then its index (copies of `graph.rec.seq` and `rec.index`). */
  readonly seq: number
  readonly index: number
  /** Set by `link`. */
  inputs: OpEntry[]
  consumers: OpEntry[]
  /** Its placement class (plugin, name, requirements); set when first queued. */
  cls: OpClass | undefined
  /** It is ready and waiting in its class queue. */
  queued: boolean
  /** It has an entry in its class queue (possibly stale: `queued` false). At most one. */
  inHeap: boolean
  /** Provers running its current attempt, in assignment order (a few at most: no Set). {@link NONE} when none. */
  holders: ProverEntry[]
  /** Id of the last StepBuilder that journaled it (dedupes a Step's changes). */
  mark: number
  /** Provers cut off from an earlier attempt (deadline, lost) whose late success is still taken. Not journaled. */
  earlier: Map<ProverEntry, number> | undefined
  /** Provers whose attempt at it failed. Not journaled. */
  failedOn: Set<string> | undefined
  /** The prover whose result won. */
  producer: string | undefined
  /** Its entry, once looked up (undefined also while that prover is unknown). */
  producerEntry: ProverEntry | undefined
  /** Its links in the scheduler's list of in-flight ops, while it is listed there. */
  inFlight: boolean
  prevInFlight: OpEntry | undefined
  nextInFlight: OpEntry | undefined
}

/**
 * Ops in state assigned or running, in the order they were added: a Set's semantics, with the
 * links kept on the ops themselves (no hashing, nothing allocated).
 */
class InFlightList {
  private head: OpEntry | undefined
  private tail: OpEntry | undefined
  size = 0

  add(e: OpEntry): void {
    if (e.inFlight) return
    e.inFlight = true
    e.prevInFlight = this.tail
    e.nextInFlight = undefined
    if (this.tail === undefined) this.head = e
    else this.tail.nextInFlight = e
    this.tail = e
    this.size++
  }

  delete(e: OpEntry): void {
    if (!e.inFlight) return
    e.inFlight = false
    const prev = e.prevInFlight
    const next = e.nextInFlight
    if (prev === undefined) this.head = next
    else prev.nextInFlight = next
    if (next === undefined) this.tail = prev
    else next.prevInFlight = prev
    e.prevInFlight = undefined
    e.nextInFlight = undefined
    this.size--
  }

  /** The ops, oldest first (a copy: safe to change the list while going through it). */
  toArray(): OpEntry[] {
    const out: OpEntry[] = []
    for (let e = this.head; e !== undefined; e = e.nextInFlight) out.push(e)
    return out
  }
}

interface GraphEntry {
  readonly rec: GraphRecord
  /** In index order. */
  readonly ops: OpEntry[]
  /** Its ops by op id. */
  readonly byId: Map<string, OpEntry>
  succeeded: number
  /** Id of the last StepBuilder that journaled it. */
  mark: number
}

/** Provers of one plugin key, with or without GPUs, that can take work now: idle, or busy with a free slot. */
interface Bucket {
  readonly key: string
  /**
   * Its provers with no op, and those with some ops and a free slot. Unordered: removal moves
   * the last one into the gap; each prover keeps its position (`ProverEntry.bucketPos`).
   */
  readonly idle: ProverEntry[]
  readonly partial: ProverEntry[]
  /** Bumped whenever a prover enters it (gains capacity, connects, comes back, leaves a ban). */
  version: number
  cursor: number
}

const TIER_NONE = 0
const TIER_IDLE = 1
const TIER_PARTIAL = 2

class ProverEntry implements ProverView {
  // the fields every candidate reads come first: they share the object's first cache line
  /** Scan stamp: considered once per placement. */
  stamp = 0
  /** `assigned.length`, kept as a field: read for every candidate. */
  running = 0
  gpuCount = 0
  cores = 0
  /** 0, 1, ... in order of creation: its index in the scheduler's speed tables. */
  readonly ordinal: number = 0
  /** Order of its latest assignment (0: never); ties in placement go to the least recent. */
  lastAssign = 0
  record: ProverRecord
  connected = false
  /** Where it sits in its buckets: none, idle, partial. */
  tier = TIER_NONE
  /** Ops whose current attempt it runs (state assigned/running), in assignment order. */
  readonly assigned: OpEntry[] = []
  /** When it started each op of `assigned` (task.started); NaN until then. */
  readonly startedAt: number[] = []
  readonly speed = new Map<string, number>()
  buckets: Bucket[] = []
  /** Its position in the idle or partial list of each of `buckets` (same order); -1 when out. */
  bucketPos: number[] = []
  /** Id of the last StepBuilder that journaled it. */
  mark = 0

  constructor(record: ProverRecord, ordinal: number) {
    this.record = record
    this.ordinal = ordinal
    this.gpuCount = record.device.gpus.length
    this.cores = record.device.cpu.cores
  }

  /** Its buckets, while it sits in none of them. */
  setBuckets(buckets: Bucket[]): void {
    this.buckets = buckets
    this.bucketPos = buckets.map(() => -1)
  }

  /** Replaces its record (a new registration), with the flat copies of its device. */
  setRecord(record: ProverRecord): void {
    this.record = record
    this.gpuCount = record.device.gpus.length
    this.cores = record.device.cpu.cores
  }
}

/** Run times of one op name. */
interface NameStats {
  /** Run time EWMA (ms) over every prover that ran it; undefined: never ran. */
  referenceMs: number | undefined
  /**
   * The provers' own run time EWMAs (`ProverEntry.speed`) again, indexed by prover ordinal
   * (NaN: none), so that the speed score reads one number per candidate. 8 bytes per prover.
   */
  speeds: Float64Array | undefined
}

/** Ops that share plugin, name and requirements: every filter says the same about them. */
interface OpClass {
  readonly key: string
  readonly queue: Heap<OpEntry>
  /** Buckets to search, in order: CPU-only then GPU for ops that need no GPU; GPU only for GPU ops. */
  readonly tiers: Bucket[]
  /** Whether to stop before the GPU bucket once CPU-only provers suffice (affinity). */
  readonly cpuFirst: boolean
  /** No prover could take its head: skipped until a bucket's version moves past `blockedAt`. */
  blocked: boolean
  /** Versions of `tiers` when it was blocked. */
  readonly blockedAt: number[]
  /** Its place in the placement order while `place` runs. */
  readonly slot: { readonly cls: OpClass; head: OpEntry | undefined }
  /** Run times of its op name. */
  readonly stats: NameStats
  /**
   * Per filter of `checkFilters` then `preferenceFilters`: {@link RUNS}, {@link SKIPPED} (a
   * `skipPerClass` filter's answer for this class) or {@link ASK} (its `skip` per op). Made at
   * the class's first placement.
   */
  skips: Uint8Array | undefined
}

const RUNS = 0
const SKIPPED = 1
const ASK = 2

/** Adds `p` to `list`, one of its `j`-th bucket's lists. */
function bucketAdd(list: ProverEntry[], p: ProverEntry, j: number): void {
  p.bucketPos[j] = list.length
  list.push(p)
}

/** Removes `p` from `list`, one of the lists of bucket `b` (its `j`-th): the last prover fills the gap. */
function bucketRemove(list: ProverEntry[], b: Bucket, p: ProverEntry, j: number): void {
  const i = p.bucketPos[j] as number
  const last = list.pop() as ProverEntry
  if (i < list.length) {
    list[i] = last
    last.bucketPos[last.buckets.indexOf(b)] = i
  }
}

function before(a: OpEntry, b: OpEntry): boolean {
  return a.seq < b.seq || (a.seq === b.seq && a.index < b.index)
}

/**
 * Collects one call's changes, actions and events. Changes are deduplicated (the final record
 * wins) and ordered by first touch, so a new graph comes before its ops and a finished op
 * before its graph.
 */
class StepBuilder {
  private static lastId = 0
  /** Stamped on the entries it journals (their `mark`): an entry is listed once, at its first touch. */
  private readonly id = ++StepBuilder.lastId
  // made on first use, exactly as long as needed at first: most Steps hold one or two items
  private touched: Array<GraphEntry | OpEntry | ProverEntry> | undefined
  private actions: Action[] | undefined
  private events: GraphEvent[] | undefined
  /** Provers charged a failure in this Step: one failure per prover per Step. Made on first use. */
  private chargedSet: Set<ProverEntry> | undefined

  graph(g: GraphEntry): void {
    if (g.mark === this.id) return
    g.mark = this.id
    this.touch(g)
  }

  op(e: OpEntry): void {
    if (e.mark === this.id) return
    e.mark = this.id
    this.touch(e)
  }

  prover(p: ProverEntry): void {
    if (p.mark === this.id) return
    p.mark = this.id
    this.touch(p)
  }

  private touch(t: GraphEntry | OpEntry | ProverEntry): void {
    if (this.touched === undefined) this.touched = [t]
    else this.touched.push(t)
  }

  action(a: Action): void {
    if (this.actions === undefined) this.actions = [a]
    else this.actions.push(a)
  }

  event(e: GraphEvent): void {
    if (this.events === undefined) this.events = [e]
    else this.events.push(e)
  }

  /** Whether `p` was already charged a failure in this Step; charges it when not. */
  charge(p: ProverEntry): boolean {
    const set = (this.chargedSet ??= new Set())
    if (set.has(p)) return true
    set.add(p)
    return false
  }

  /** The Step, with copies of the records as they are now. */
  finish(): Step {
    return { changes: this.touched?.map(changeOf) ?? [], actions: this.actions ?? [], events: this.events ?? [] }
  }
}

/** The Change that writes an entry's record as it is now (a copy: the entry's record keeps changing). */
function changeOf(t: GraphEntry | OpEntry | ProverEntry): Change {
  if (t instanceof ProverEntry) return { type: 'prover.put', prover: { ...t.record } }
  if ('graph' in t) return { type: 'op.put', op: { ...t.rec } }
  return { type: 'graph.put', graph: { ...t.rec } }
}

function emptyStep(): Step {
  return { changes: [], actions: [], events: [] }
}

function refOf(e: OpEntry): TaskRef {
  return { graphId: e.rec.graphId, opId: e.rec.spec.id, attempt: e.rec.attempt }
}

/** A result's outputs as the op keeps them, each with its own copy of the providers. */
function outputRefs(outputs: Extract<TaskOutcome, { ok: true }>['outputs'], providers: string[]): OutputRef[] {
  return outputs.map((o) => ({ name: o.name, hash: o.hash, size: o.size, providers: providers.slice() }))
}

function taskInput(i: OpEntry): Task['inputs'][number] {
  return { opId: i.rec.spec.id, outputs: i.rec.outputs ?? [] }
}

/** Whether a bucket of `cls` gained a prover since the class was blocked. */
function bucketsMoved(cls: OpClass): boolean {
  for (let i = 0; i < cls.tiers.length; i++) if ((cls.tiers[i] as Bucket).version !== cls.blockedAt[i]) return true
  return false
}

/** Whether a prover in `buckets` sits in one of `tiers`. */
function sharesBucket(tiers: readonly Bucket[], buckets: readonly Bucket[]): boolean {
  for (let i = 0; i < tiers.length; i++) if (buckets.includes(tiers[i] as Bucket)) return true
  return false
}

/**
 * True only when `JSON.stringify(a) === JSON.stringify(b)`: the same keys in the same order
 * with identical values (plain objects, compared in depth). May say false for some JSON-equal
 * pairs (arrays, undefined members): callers then take the long way.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) || Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i] as string
    if (k !== kb[i]) return false
    const va = (a as Record<string, unknown>)[k]
    if (va === undefined || !sameJson(va, (b as Record<string, unknown>)[k])) return false
  }
  return true
}

function inputsSucceeded(e: OpEntry): boolean {
  const inputs = e.inputs
  for (let i = 0; i < inputs.length; i++) if ((inputs[i] as OpEntry).rec.state !== 'succeeded') return false
  return true
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

const NO_FAILURES: ReadonlySet<string> = new Set()
/** The `holders` of every op that no prover runs: shared, never written (ops outnumber provers). */
const NONE: ProverEntry[] = Object.freeze([]) as unknown as ProverEntry[]

/**
 * A PlacementContext. Placement fills one per scheduler again for each op (plugins must not
 * keep it past their call); `explain` makes its own.
 */
class Context implements PlacementContext {
  op: OpRecord = undefined as unknown as OpRecord
  graph: GraphRecord = undefined as unknown as GraphRecord
  now = 0
  failedOn: ReadonlySet<string> = NO_FAILURES
  /** Keys are prover ids; owners their entries (when known). */
  readonly inputHolders = new CountMap<ProverView>()
  inputCount = 0
  referenceMs: number | undefined = undefined
  /** Run time EWMA of the op's name per prover ordinal (NaN: none); undefined when no prover has one. */
  speeds: Float64Array | undefined = undefined

  heldBy(p: ProverView): number {
    if (!(p instanceof ProverEntry)) return this.inputHolders.get(p.record.proverId) ?? 0
    return this.inputHolders.countFor(p, proverIdOf)
  }

  speedOf(p: ProverView): number | undefined {
    if (!(p instanceof ProverEntry)) return p.speed.get(this.op.spec.name)
    const t = this.speeds
    if (t === undefined || p.ordinal >= t.length) return undefined
    const v = t[p.ordinal] as number
    return Number.isNaN(v) ? undefined : v
  }
}

function proverIdOf(p: ProverView): string {
  return p.record.proverId
}

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
  private readonly proverMap = new Map<string, ProverEntry>()
  /** Provers created so far: the next one's ordinal. */
  private proverCount = 0
  private readonly outputIndex = new Map<string, OutputRef>()
  /** In-flight ops restored from a snapshot whose prover is unknown: re-queued at the next tick. */
  private readonly orphans = new Set<OpEntry>()
  private readonly inFlightOps = new InFlightList()
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
  private lastClassSpec: OpRecord['spec'] | undefined
  private lastClass: OpClass | undefined
  private readonly nonEmpty = new Set<OpClass>()
  private readyCount = 0

  // prover index
  private readonly buckets = new Map<string, Bucket>()
  private freeProvers = 0
  private scanStamp = 0
  /** Provers in a ban window, and the earliest window end among them. */
  private readonly timedBans = new Set<ProverEntry>()
  private nextBanExpiry = Number.POSITIVE_INFINITY
  /** Run times per op name. */
  private readonly names = new Map<string, NameStats>()

  // how the index maps onto the profile
  private readonly indexBans: boolean
  private readonly gpuOnlyForGpuOps: boolean
  private readonly affinityFirst: boolean
  /** Required filters the index does not already guarantee: they run per candidate. */
  private readonly checkFilters: readonly FilterPlugin[]
  private readonly preferenceFilters: readonly FilterPlugin[]
  // scratch for one placement: arrays only grow, `n*` say how much of each is in use
  private readonly candP: ProverEntry[] = []
  private readonly candRank: number[] = []
  private candTotal = new Float64Array(32)
  private nCand = 0
  /** Candidates whose preference rank is known: the first `nRanked`. */
  private nRanked = 0
  private clean = 0
  private readonly ctx = new Context()
  private readonly chosen: ProverEntry[] = []
  private readonly scorePlugins: readonly ScorePlugin[]
  private readonly scoreWeights: readonly number[]
  private readonly activeChecks: FilterPlugin[] = []
  private readonly activePrefs: FilterPlugin[] = []
  private readonly activeScores: ScorePlugin[] = []
  private readonly activeWeights: number[] = []
  private nChecks = 0
  private nPrefs = 0
  private nScores = 0
  private readonly order = new Heap<OpClass['slot']>((a, b) => before(a.head as OpEntry, b.head as OpEntry))

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
    this.scorePlugins = this.profile.scores.map((s) => s.plugin)
    this.scoreWeights = this.profile.scores.map((s) => s.weight)
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
      byId: new Map(),
      succeeded: 0,
      mark: 0,
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
      sb.op(e)
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

  /** Who submitted a graph; undefined for an unknown graph. */
  requesterOf(graphId: string): string | undefined {
    return this.graphs.get(graphId)?.rec.requester
  }

  /**
   * The task of an op as it was handed out (inputs with their outputs), for checking a result
   * against it; undefined when the op is unknown. The attempt is the op's current one.
   */
  taskFor(graphId: string, opId: string): Task | undefined {
    const e = this.opOf(graphId, opId)
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
    const e = this.opOf(graphId, opId)
    if (e === undefined) return undefined
    if (!e.queued) return { state: e.rec.state, rejections: [] }
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
    const entry = existing ?? new ProverEntry(record, this.proverCount++)
    this.unindex(entry)
    entry.setRecord(record)
    entry.connected = true
    entry.setBuckets(this.bucketsOf(record))
    this.proverMap.set(p.proverId, entry)
    this.reindex(entry, now)
    this.placementDirty = true
    sb.prover(entry)

    const reported = new Set(p.running.map(taskKey))
    for (const e of entry.assigned) {
      if (!reported.has(taskKey(refOf(e)))) sb.action({ type: 'assign', proverId: p.proverId, task: this.task(e) })
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
      sb.prover(entry)
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
      this.markStarted(p, e)
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
    sb.action({ type: 'ack', proverId, ref: { graphId: ref.graphId, opId: ref.opId, attempt: ref.attempt } })
    const p = this.proverMap.get(proverId)
    const e = this.opOf(ref.graphId, ref.opId)
    if (p !== undefined && e !== undefined && e.graph.rec.state === 'running' && e.rec.state !== 'succeeded' && e.rec.state !== 'failed') {
      if (ref.attempt === e.rec.attempt && e.holders.includes(p) && inFlight(e)) {
        if (outcome.ok) this.succeed(sb, e, p, outputRefs(outcome.outputs, providers), false)
        else this.copyFailed(sb, e, p, outcome.error)
      } else if (outcome.ok && ref.attempt < e.rec.attempt && e.earlier?.get(p) === ref.attempt) {
        this.succeed(sb, e, p, outputRefs(outcome.outputs, providers), true)
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
      if (!inFlight(e) || e.holders.length > 0) continue
      this.retryOrFail(sb, e, { code: 'CONNECTION_CLOSED', message: 'prover unknown after restart' })
    }
    for (const p of this.proverMap.values()) {
      if (p.record.state !== 'live' || p.record.lastSeenAt + this.livenessTimeoutMs >= now) continue
      p.record.state = 'lost'
      this.reindex(p, now)
      sb.prover(p)
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
    for (const e of this.inFlightOps.toArray()) {
      const assignedAt = e.rec.assignedAt ?? now
      if (assignedAt + e.rec.spec.timeoutMs >= now) continue
      const ref = refOf(e)
      const reason = `deadline: not finished within ${e.rec.spec.timeoutMs} ms`
      for (const p of [...e.holders]) {
        sb.action({ type: 'cancel', proverId: p.record.proverId, ref, reason })
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
      const g: GraphEntry = { rec: { ...r }, ops: [], byId: new Map(), succeeded: 0, mark: 0 }
      this.graphs.set(r.graphId, g)
      if (r.state === 'running') this.runningGraphs.add(g)
      this.lastSeq = Math.max(this.lastSeq, r.seq)
    }
    for (const r of s.provers) {
      const p = new ProverEntry({ ...r, lastSeenAt: now }, this.proverCount++)
      p.setBuckets(this.bucketsOf(p.record))
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
          if (e.holders.length === 0) this.orphans.add(e)
        }
      }
    }
  }

  private enqueue(e: OpEntry): void {
    if (e.queued) return
    let cls = e.cls
    if (cls === undefined) {
      cls = this.classOf(e.rec)
      e.cls = cls
    }
    e.queued = true
    // a stale entry of its own may still be in the queue: its place (graph seq, index) is the same
    if (!e.inHeap) {
      e.inHeap = true
      cls.queue.push(e)
    }
    this.nonEmpty.add(cls)
    this.readyCount++
    this.placementDirty = true
  }

  private dequeue(e: OpEntry): void {
    if (!e.queued) return
    e.queued = false
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
      if (top.queued) return top
      top.inHeap = false
      cls.queue.pop()
    }
  }

  private classOf(rec: OpRecord): OpClass {
    const spec = rec.spec
    // ops of one graph mostly come in runs of one class: the previous op's class, when its key would be the same
    const last = this.lastClassSpec
    if (
      last !== undefined &&
      last.name === spec.name &&
      last.plugin.name === spec.plugin.name &&
      last.plugin.version === spec.plugin.version &&
      sameJson(last.requirements, spec.requirements)
    ) {
      return this.lastClass as OpClass
    }
    const cls = this.classFor(spec)
    this.lastClassSpec = spec
    this.lastClass = cls
    return cls
  }

  private classFor(spec: OpRecord['spec']): OpClass {
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
      const tiers = needsGpu && this.gpuOnlyForGpuOps ? [gpu] : [cpu, gpu]
      const c: OpClass = {
        key,
        queue: new Heap<OpEntry>(before),
        tiers,
        cpuFirst: !needsGpu && this.affinityFirst,
        blocked: false,
        blockedAt: tiers.map(() => 0),
        slot: { cls: undefined as unknown as OpClass, head: undefined },
        stats: this.statsOf(spec.name),
        skips: undefined,
      }
      ;(c.slot as { cls: OpClass }).cls = c
      cls = c
      this.classes.set(key, cls)
    }
    return cls
  }

  private bucket(key: string): Bucket {
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = { key, idle: [], partial: [], version: 0, cursor: 0 }
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
      r.state !== 'live' || !p.connected || p.running >= r.slots || (this.indexBans && isBanned(r.ban, now))
        ? TIER_NONE
        : p.running === 0
          ? TIER_IDLE
          : TIER_PARTIAL
    const old = p.tier
    if (tier === old) return
    const buckets = p.buckets
    for (let j = 0; j < buckets.length; j++) {
      const b = buckets[j] as Bucket
      if (old !== TIER_NONE) bucketRemove(old === TIER_IDLE ? b.idle : b.partial, b, p, j)
      if (tier !== TIER_NONE) bucketAdd(tier === TIER_IDLE ? b.idle : b.partial, p, j)
      else p.bucketPos[j] = -1
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
    const buckets = p.buckets
    for (let j = 0; j < buckets.length; j++) {
      const b = buckets[j] as Bucket
      bucketRemove(p.tier === TIER_IDLE ? b.idle : b.partial, b, p, j)
      p.bucketPos[j] = -1
    }
    p.tier = TIER_NONE
    this.freeProvers--
  }

  private addOp(g: GraphEntry, rec: OpRecord): void {
    const e: OpEntry = {
      graph: g,
      rec,
      seq: g.rec.seq,
      index: rec.index,
      inputs: [],
      consumers: [],
      cls: undefined,
      queued: false,
      inHeap: false,
      holders: NONE,
      mark: 0,
      earlier: undefined,
      failedOn: undefined,
      producer: undefined,
      producerEntry: undefined,
      inFlight: false,
      prevInFlight: undefined,
      nextInFlight: undefined,
    }
    g.ops.push(e)
    g.byId.set(rec.spec.id, e)
  }

  private opOf(graphId: string, opId: string): OpEntry | undefined {
    return this.graphs.get(graphId)?.byId.get(opId)
  }

  /** Fills inputs and consumers of a graph's ops. */
  private link(g: GraphEntry): void {
    const ops = g.ops
    for (let k = 0; k < ops.length; k++) {
      const e = ops[k] as OpEntry
      const ids = e.rec.spec.inputs
      const inputs = new Array<OpEntry>(ids.length)
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as string
        const input = g.byId.get(id)
        if (input === undefined) {
          throw new GalacticError('INVALID_GRAPH', `op "${e.rec.spec.id}": unknown input op "${id}"`, { opId: e.rec.spec.id })
        }
        inputs[i] = input
        input.consumers.push(e)
      }
      e.inputs = inputs
    }
    // arrays grown by push keep spare capacity for the op's lifetime: keep exact copies
    for (let k = 0; k < ops.length; k++) {
      const e = ops[k] as OpEntry
      if (e.consumers.length > 0) e.consumers = e.consumers.slice()
    }
  }

  /** The op `ref` names when it is its current attempt, in flight, and held by `p`. */
  private current(p: ProverEntry, ref: TaskRef): OpEntry | undefined {
    const e = this.opOf(ref.graphId, ref.opId)
    if (e === undefined || e.rec.attempt !== ref.attempt || !inFlight(e) || !e.holders.includes(p)) return undefined
    return e
  }

  private reconcileRunning(sb: StepBuilder, p: ProverEntry, running: TaskRef[]): void {
    const proverId = p.record.proverId
    for (const ref of running) {
      const e = this.current(p, ref)
      if (e === undefined) {
        sb.action({
          type: 'cancel',
          proverId,
          ref: { graphId: ref.graphId, opId: ref.opId, attempt: ref.attempt },
          reason: 'not assigned to this prover',
        })
      } else {
        this.markStarted(p, e)
        if (e.rec.state === 'assigned') this.markRunning(sb, e)
      }
    }
  }

  private markRunning(sb: StepBuilder, e: OpEntry): void {
    e.rec.state = 'running'
    e.rec.startedAt = this.clock.now()
    this.opChanged(sb, e)
  }

  /** `p`, which holds `e`, started it now (the first report counts). */
  private markStarted(p: ProverEntry, e: OpEntry): void {
    const i = p.assigned.indexOf(e)
    if (i >= 0 && Number.isNaN(p.startedAt[i])) p.startedAt[i] = this.clock.now()
  }

  private hold(p: ProverEntry, e: OpEntry): void {
    if (p.assigned.includes(e)) return
    p.assigned.push(e)
    p.startedAt.push(Number.NaN)
    p.running++
    if (e.holders === NONE) e.holders = [p]
    else e.holders.push(p)
  }

  /** `p` stops running `e`: its slot is free. */
  private unhold(p: ProverEntry, e: OpEntry): void {
    const h = e.holders
    const k = h.indexOf(p)
    if (k >= 0) {
      removeAt(h, k)
      if (h.length === 0) e.holders = NONE
    }
    const i = p.assigned.indexOf(e)
    if (i >= 0) {
      removeAt(p.assigned, i)
      removeAt(p.startedAt, i)
      p.running--
      this.placementDirty = true
      this.reindex(p, this.clock.now())
    }
  }

  /** One prover's copy of an in-flight op ends without a result: the op retries only when it was the last copy. */
  private dropCopy(sb: StepBuilder, e: OpEntry, p: ProverEntry, error: ErrorObject): void {
    this.unhold(p, e)
    if (e.holders.length === 0) {
      this.retryOrFail(sb, e, error)
      return
    }
    // other provers still run it: only deviceIds change (journaled; no state event)
    e.rec.deviceIds = (e.rec.deviceIds ?? []).filter((id) => id !== p.record.proverId)
    sb.op(e)
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
    if (sb.charge(p)) return
    const old = p.record.ban
    if (old?.permanent === true) return
    const n = (old?.consecutiveFailures ?? 0) + 1
    const ban: ProverBan =
      n > this.maxConsecutiveFailures
        ? { consecutiveFailures: n, bannedUntil: null, permanent: true }
        : { consecutiveFailures: n, bannedUntil: now + this.banBaseMs * 2 ** (n - 1), permanent: false }
    p.record.ban = ban
    sb.prover(p)
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
    sb.prover(p)
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
    const i = p.assigned.indexOf(e)
    const started = i < 0 ? Number.NaN : (p.startedAt[i] as number)
    if (Number.isNaN(started)) return
    const ms = Math.max(0, now - started)
    const name = e.rec.spec.name
    const a = this.speedAlpha
    const own = p.speed.get(name)
    const next = own === undefined ? ms : own + a * (ms - own)
    p.speed.set(name, next)
    const stats = this.statsOf(name)
    let table = stats.speeds
    if (table === undefined || table.length <= p.ordinal) {
      const grown = new Float64Array(Math.max(p.ordinal + 1, this.proverCount, 2 * (table?.length ?? 0))).fill(Number.NaN)
      if (table !== undefined) grown.set(table)
      table = grown
      stats.speeds = table
    }
    table[p.ordinal] = next
    const ref = stats.referenceMs
    stats.referenceMs = ref === undefined ? ms : ref + a * (ms - ref)
  }

  private statsOf(name: string): NameStats {
    let stats = this.names.get(name)
    if (stats === undefined) {
      stats = { referenceMs: undefined, speeds: undefined }
      this.names.set(name, stats)
    }
    return stats
  }

  /**
   * `winner` delivered a valid result (`late`: for an earlier attempt): the op succeeds; every
   * prover still running its current attempt gets `cancel` and is freed.
   */
  private succeed(sb: StepBuilder, e: OpEntry, winner: ProverEntry, outputs: OutputRef[], late: boolean): void {
    const now = this.clock.now()
    this.recordSpeed(winner, e, now)
    this.chargeSuccess(sb, winner, now)
    const holders = e.holders
    const winnerId = winner.record.proverId
    const deviceIds = [winnerId]
    let ref: TaskRef | undefined
    for (let i = 0; i < holders.length; i++) {
      const p = holders[i] as ProverEntry
      if (p !== winner || late) {
        sb.action({ type: 'cancel', proverId: p.record.proverId, ref: (ref ??= refOf(e)), reason: 'op finished: another result won' })
      }
      if (p !== winner) deviceIds.push(p.record.proverId)
    }
    while (holders.length > 0) this.unhold(holders[0] as ProverEntry, e)
    this.orphans.delete(e)
    this.dequeue(e)
    this.inFlightOps.delete(e)
    e.producer = winnerId
    e.producerEntry = winner
    e.earlier = undefined
    e.failedOn = undefined
    e.rec.deviceIds = deviceIds
    e.rec.state = 'succeeded'
    e.rec.outputs = outputs
    e.rec.error = null
    e.rec.finishedAt = now
    this.opChanged(sb, e)
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i] as OutputRef
      this.outputIndex.set(o.hash, o)
    }
    const g = e.graph
    g.succeeded++
    const consumers = e.consumers
    for (let i = 0; i < consumers.length; i++) {
      const c = consumers[i] as OpEntry
      if (c.rec.state !== 'pending' || !inputsSucceeded(c)) continue
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
        sb.action({ type: 'cancel', proverId: p.record.proverId, ref, reason })
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

  /** Fills `ctx` (a fresh one, or the scheduler's reused one during placement) for placing `e`. */
  private context(e: OpEntry, now: number, ctx = new Context()): Context {
    const holders = ctx.inputHolders
    holders.reset()
    const inputs = e.inputs
    for (let k = 0; k < inputs.length; k++) {
      const input = inputs[k] as OpEntry
      const producer = input.producer
      if (producer === undefined) continue
      // entries are never replaced: once found, the producer's entry is kept on the op
      if (input.producerEntry === undefined) input.producerEntry = this.proverMap.get(producer)
      holders.increment(producer, input.producerEntry)
    }
    ctx.op = e.rec
    ctx.graph = e.graph.rec
    ctx.now = now
    ctx.failedOn = e.failedOn ?? NO_FAILURES
    ctx.inputCount = e.inputs.length
    const stats = e.cls?.stats ?? this.names.get(e.rec.spec.name)
    ctx.referenceMs = stats?.referenceMs
    ctx.speeds = stats?.speeds
    return ctx
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
      if (cls.blocked && !bucketsMoved(cls)) continue
      cls.blocked = false
      const head = this.head(cls)
      if (head === undefined) continue
      cls.slot.head = head
      order.push(cls.slot)
    }
    const metrics = this.metrics
    const hrtime = this.hrtime as () => bigint
    while (order.size > 0 && this.freeProvers > 0) {
      const top = order.peek() as OpClass['slot']
      const cls = top.cls
      const e = top.head as OpEntry
      const t0 = metrics === undefined ? 0n : hrtime()
      const n = this.pick(e, cls, now)
      if (n === 0) {
        cls.blocked = true
        for (let i = 0; i < cls.tiers.length; i++) cls.blockedAt[i] = (cls.tiers[i] as Bucket).version
        order.pop()
        if (metrics !== undefined) metrics.unschedulable?.(Number(hrtime() - t0))
        continue
      }
      this.assign(sb, e, this.chosen, n, now)
      if (metrics !== undefined) metrics.placed(Number(hrtime() - t0), n)
      const next = this.head(cls)
      if (next === undefined) order.pop()
      else {
        top.head = next
        order.siftDown()
      }
    }
    order.clear()
  }

  /**
   * Filter and score: puts the provers `e` goes to, best first, in `this.chosen` and returns
   * how many (0 when none can take it).
   */
  private pick(e: OpEntry, cls: OpClass, now: number): number {
    const want = this.proversPerOp(e.graph.rec, e.rec)
    const ctx = this.context(e, now, this.ctx)
    // PreFilter / PreScore: drop the plugins that say the same for every prover of this op
    const checks = this.activeChecks
    const prefs = this.activePrefs
    const scores = this.activeScores
    const weights = this.activeWeights
    let nChecks = 0
    let nPrefs = 0
    let nScores = 0
    const skips = (cls.skips ??= this.classSkips(ctx))
    const nCheckFilters = this.checkFilters.length
    for (let i = 0; i < nCheckFilters; i++) {
      const f = this.checkFilters[i] as FilterPlugin
      const s = skips[i]
      if (s === RUNS || (s === ASK && f.skip?.(ctx) !== true)) checks[nChecks++] = f
    }
    for (let i = 0; i < this.preferenceFilters.length; i++) {
      const f = this.preferenceFilters[i] as FilterPlugin
      const s = skips[nCheckFilters + i]
      if (s === RUNS || (s === ASK && f.skip?.(ctx) !== true)) prefs[nPrefs++] = f
    }
    for (let i = 0; i < this.scorePlugins.length; i++) {
      const plugin = this.scorePlugins[i] as ScorePlugin
      if (plugin.skip?.(ctx) === true) continue
      scores[nScores] = plugin
      weights[nScores++] = this.scoreWeights[i] as number
    }
    this.nChecks = nChecks
    this.nPrefs = nPrefs
    this.nScores = nScores
    const limit = this.profile.candidatesToScore
    this.scanStamp++
    this.nCand = 0
    this.nRanked = 0
    this.clean = 0
    // input holders are always considered: locality can only pick them when they are candidates
    const holders = ctx.inputHolders
    for (let h = 0; h < holders.size; h++) {
      const p = holders.ownerAt(h) as ProverEntry | undefined
      if (p !== undefined && p.tier !== TIER_NONE && sharesBucket(cls.tiers, p.buckets)) this.consider(ctx, p)
    }
    for (let t = 0; t < cls.tiers.length && this.nCand < limit; t++) {
      if (t > 0 && cls.cpuFirst) {
        this.rank(ctx)
        if (this.clean >= want) break
      }
      const b = cls.tiers[t] as Bucket
      for (let tier = 0; tier < 2 && this.nCand < limit; tier++) {
        const items = tier === 0 ? b.idle : b.partial
        const n = items.length
        if (n === 0) continue
        const start = b.cursor % n
        let seen = 0
        while (seen < n && this.nCand < limit) {
          let i = start + seen
          if (i >= n) i -= n
          this.consider(ctx, items[i] as ProverEntry)
          seen++
        }
        b.cursor = start + seen
      }
    }
    this.rank(ctx)
    this.score(ctx)
    const chosen = this.chosen
    const rank = this.candRank
    const n = this.nCand
    let k = 0
    for (; k < want && k < n; k++) {
      let best = -1
      for (let i = 0; i < n; i++) {
        if (rank[i] === -1) continue
        if (best === -1 || this.better(i, best)) best = i
      }
      if (best === -1) break
      chosen[k] = this.candP[best] as ProverEntry
      rank[best] = -1
    }
    return k
  }

  /** The PreFilter answers that hold for every op of the class of the op in `ctx`: see `OpClass.skips`. */
  private classSkips(ctx: Context): Uint8Array {
    const filters = [...this.checkFilters, ...this.preferenceFilters]
    const out = new Uint8Array(filters.length)
    for (let i = 0; i < filters.length; i++) {
      const f = filters[i] as FilterPlugin
      if (f.skip === undefined) out[i] = RUNS
      else if (f.skipPerClass === true) out[i] = f.skip(ctx) === true ? SKIPPED : RUNS
      else out[i] = ASK
    }
    return out
  }

  /** Runs the active required filters on `p`; a feasible prover becomes a candidate. */
  private consider(ctx: Context, p: ProverEntry): void {
    if (p.stamp === this.scanStamp) return
    p.stamp = this.scanStamp
    const checks = this.activeChecks
    for (let i = 0; i < this.nChecks; i++) if ((checks[i] as FilterPlugin).filter(ctx, p).code !== 'success') return
    this.candP[this.nCand++] = p
  }

  /** Ranks the candidates found since the last call by their preference-filter violations; counts the clean ones. */
  private rank(ctx: Context): void {
    const prefs = this.activePrefs
    const nPrefs = this.nPrefs
    for (let c = this.nRanked; c < this.nCand; c++) {
      const p = this.candP[c] as ProverEntry
      let rank = 0
      for (let i = 0; i < nPrefs; i++) {
        rank *= 2
        if ((prefs[i] as FilterPlugin).filter(ctx, p).code !== 'success') rank += 1
      }
      if (rank === 0) this.clean++
      this.candRank[c] = rank
    }
    this.nRanked = this.nCand
  }

  /** Weighted score of every candidate, one score plugin at a time (in profile order, as each total adds up). */
  private score(ctx: Context): void {
    const n = this.nCand
    if (this.candTotal.length < n) this.candTotal = new Float64Array(Math.max(n, 2 * this.candTotal.length))
    const totals = this.candTotal
    totals.fill(0, 0, n)
    const provers = this.candP
    const scores = this.activeScores
    const weights = this.activeWeights
    for (let j = 0; j < this.nScores; j++) {
      const plugin = scores[j] as ScorePlugin
      const w = weights[j] as number
      if (plugin.scoreAll !== undefined) plugin.scoreAll(ctx, provers, n, w, totals)
      else for (let i = 0; i < n; i++) totals[i] = (totals[i] as number) + w * plugin.score(ctx, provers[i] as ProverEntry)
    }
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

  /** Reserve and bind: the op's new attempt goes to `provers[0..n)`, an `assign` action each. */
  private assign(sb: StepBuilder, e: OpEntry, provers: ProverEntry[], n: number, now: number): void {
    this.dequeue(e)
    const rec = e.rec
    rec.attempt += 1
    rec.state = 'assigned'
    const ids: string[] = new Array<string>(n)
    for (let i = 0; i < n; i++) ids[i] = (provers[i] as ProverEntry).record.proverId
    rec.deviceIds = ids
    rec.assignedAt = now
    rec.startedAt = null
    this.inFlightOps.add(e)
    this.opChanged(sb, e)
    const task = this.task(e)
    for (let i = 0; i < n; i++) {
      const p = provers[i] as ProverEntry
      this.hold(p, e)
      p.lastAssign = ++this.assignCounter
      this.reindex(p, now)
      sb.action({ type: 'assign', proverId: p.record.proverId, task })
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
      inputs: e.inputs.map(taskInput),
      timeoutMs: spec.timeoutMs,
      pluginMode: e.graph.rec.pluginMode,
    }
  }

  private opChanged(sb: StepBuilder, e: OpEntry): void {
    sb.op(e)
    this.opEvent(sb, e)
  }

  private opEvent(sb: StepBuilder, e: OpEntry): void {
    const r = e.rec
    sb.event({
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
    sb.graph(g)
    sb.event({ type: 'graph', graphId: g.rec.graphId, state: g.rec.state, at: this.clock.now() })
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
