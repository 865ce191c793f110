import type {
  DeviceDescriptor,
  ErrorObject,
  GraphEvent,
  GraphState,
  Operation,
  OpState,
  OutputRef,
  PluginMode,
  Priority,
  Task,
  TaskRef,
} from '@galactic/schemas'

/** Where the scheduler reads the time. Milliseconds since the Unix epoch. */
export interface Clock {
  now(): number
}

/** The scheduler's options. Every field is optional. */
export interface SchedulerInit {
  /** How often agents are told to send a heartbeat. @default 1000 */
  heartbeatIntervalMs?: number
  /** A prover silent this long is lost and its ops go back to `ready`. @default 5000 */
  livenessTimeoutMs?: number
  /** Assignments of one op before it fails for good. @default 5 */
  maxAttempts?: number
  /** Which placement plugins run and how scores are weighted. @default {@link DEFAULT_PROFILE} */
  profile?: SchedulerProfile
  /** Provers per op for `performance` graphs that set no `redundancy`. @default 2 */
  defaultRedundancy?: number
  /** Ops whose `penalty` is above this get `highPenaltyProvers` provers in either mode. @default Infinity (off) */
  highPenaltyThreshold?: number
  /** Provers per high-penalty op. @default 2 */
  highPenaltyProvers?: number
  /** First ban window after a failure; each further consecutive failure doubles it. @default 60_000 */
  banBaseMs?: number
  /** Consecutive failures a prover may have; the next one bans it for good. @default 3 */
  maxConsecutiveFailures?: number
  /** Weight of the newest run time in the per (prover, op name) moving average, in (0, 1]. @default 0.3 */
  speedAlpha?: number
}

/**
 * A scheduling profile, as in the Kubernetes scheduling framework: which filter plugins run
 * (by registry name, in order) and which score plugins run with which weight.
 * `live`, `capacity` and `plugin` are required: the prover index is built on them.
 */
export interface SchedulerProfile {
  /** Filter plugin names, in the order they run. @default DEFAULT_PROFILE.filters (all built-in filters) */
  filters?: readonly string[]
  /** Score plugin name -> weight (>= 0). @default `{ idle: 10, locality: 3, speed: 2, cost: 1 }` */
  scores?: Readonly<Record<string, number>>
  /**
   * Feasible provers to find before scoring stops the search (Kubernetes' numFeasibleNodesToFind).
   * Provers holding the op's inputs are always considered on top. @default 16
   */
  candidatesToScore?: number
}

/** What the scheduler depends on. */
export interface SchedulerComponents {
  clock: Clock
  /** Where profile names are looked up. @default DEFAULT_REGISTRY (the built-in plugins) */
  registry?: PluginRegistry
  /** Receives placement timings (needs `hrtime`). @default none */
  metrics?: SchedulerMetrics
  /** A monotonic clock in nanoseconds, read only to time placements for `metrics`, e.g. `process.hrtime.bigint`. */
  hrtime?: () => bigint
}

/** Placement timings, e.g. for a Prometheus histogram. Never affects a decision. */
export interface SchedulerMetrics {
  /** One op was placed on `provers` provers; `ns` covers its filter, score, reserve and bind. */
  placed(ns: number, provers: number): void
  /** A placement attempt found no prover (the op's class then waits for a prover to free up). */
  unschedulable?(ns: number): void
}

/** What a plugin returns instead of throwing. `error` means a bug in the plugin, never a verdict. */
export type StatusCode = 'success' | 'unschedulable' | 'error'

export interface Status {
  code: StatusCode
  /** Why, for `unschedulable` and `error`; empty for `success`. */
  reasons: string[]
  /** The plugin that returned it. */
  plugin: string
}

/** What one placement decision knows besides the prover: the op, its graph, the time, its history. */
export interface PlacementContext {
  readonly op: OpRecord
  readonly graph: GraphRecord
  /** The injected clock's time for this placement. */
  readonly now: number
  /** Provers whose attempt at this op failed (failed result or missed deadline). Not journaled. */
  readonly failedOn: ReadonlySet<string>
  /** Per prover id: how many of the op's inputs it produced. */
  readonly inputHolders: ReadonlyMap<string, number>
  /** Number of inputs of the op. */
  readonly inputCount: number
  /** Mean run time (EWMA, ms) of this op name over every prover that ran it; undefined: never ran. */
  readonly referenceMs: number | undefined
  /**
   * How many of the op's inputs `p` produced: `inputHolders.get(p.record.proverId) ?? 0`, found
   * without a string lookup. `p` is a prover the scheduler handed to the plugin.
   */
  heldBy(p: ProverView): number
  /**
   * `p`'s run time EWMA (ms) for the op's name: `p.speed.get(op.spec.name)`, read from a table
   * instead of the prover's map. `p` is a prover the scheduler handed to the plugin.
   */
  speedOf(p: ProverView): number | undefined
}

/** Filter plugin: can this prover run this op? Never throws; pure. */
export interface FilterPlugin {
  readonly name: string
  /**
   * A preference: when it would reject every prover that passed the other filters, it is
   * relaxed for that pick (filter with fallback). Required filters are never relaxed.
   */
  readonly preference?: boolean
  /**
   * PreFilter: true when this filter passes every prover for this op (e.g. the op sets no such
   * requirement), so it is skipped for the whole placement. Optional; never changes a verdict.
   */
  skip?(ctx: PlacementContext): boolean
  /**
   * `skip` reads nothing but the op's placement class (plugin, name, requirements): the
   * scheduler asks it once per class instead of once per placement.
   */
  readonly skipPerClass?: boolean
  filter(ctx: PlacementContext, prover: ProverView): Status
}

/** Score plugin: how good is this feasible prover for this op, 0..100 (higher is better). Pure. */
export interface ScorePlugin {
  readonly name: string
  /** PreScore: true when it gives every prover the same score for this op, so it is skipped. Optional. */
  skip?(ctx: PlacementContext): boolean
  score(ctx: PlacementContext, prover: ProverView): number
  /**
   * `score` for many provers in one call (one call per placement instead of one per prover):
   * adds `weight * score(ctx, provers[i])` to `totals[i]` for each `i < count`, computed exactly
   * as `score` would. Optional; the scheduler calls `score` per prover without it.
   */
  scoreAll?(ctx: PlacementContext, provers: readonly ProverView[], count: number, weight: number, totals: Float64Array): void
}

/** Plugins by name. */
export interface PluginRegistry {
  readonly filters: ReadonlyMap<string, FilterPlugin>
  readonly scores: ReadonlyMap<string, ScorePlugin>
}

/** One submitted graph, as journaled. */
export interface GraphRecord {
  graphId: string
  /** Submission order, 1.. */
  seq: number
  requester: string
  nonce: string
  specHash: string
  priority: Priority
  redundancy: number | null
  pluginMode: PluginMode
  state: GraphState
  submittedAt: number
  finishedAt: number | null
}

/** One op of a graph, as journaled. */
export interface OpRecord {
  graphId: string
  /** Topological index within its graph. */
  index: number
  /** The op as submitted: `deviceIds` and `outputs` are null. */
  spec: Operation
  state: OpState
  /** How many times it has been assigned. */
  attempt: number
  deviceIds: string[] | null
  outputs: OutputRef[] | null
  /** The last error (failure, timeout, lost prover); kept until the op succeeds. */
  error: ErrorObject | null
  readyAt: number | null
  assignedAt: number | null
  startedAt: number | null
  finishedAt: number | null
}

/** One prover agent, as journaled. */
export interface ProverRecord {
  proverId: string
  /** The libp2p peer id it registered from. */
  peerId: string
  device: DeviceDescriptor
  slots: number
  registeredAt: number
  /** Approximate in the journal: heartbeats do not write it. */
  lastSeenAt: number
  state: 'live' | 'lost'
  /**
   * Failure and ban state. Absent on a prover with no failures on record (never failed, or a
   * success reset the count after its window ended).
   */
  ban?: ProverBan
}

/** A prover's failure record: see docs/scheduling.md, "Bans". */
export interface ProverBan {
  /** Failures since its last success (failed result or missed deadline). */
  consecutiveFailures: number
  /** End of its current exclusion window (ms since epoch); null when none or when permanent. */
  bannedUntil: number | null
  /** Banned for good: only a new prover name comes back. */
  permanent: boolean
}

/**
 * A record to write: insert or replace. Only the final record per graph, op or prover appears
 * in one Step, in order of first touch (a new graph before its ops, a finished op before its graph).
 */
export type Change =
  | { type: 'graph.put'; graph: GraphRecord }
  | { type: 'op.put'; op: OpRecord }
  | { type: 'prover.put'; prover: ProverRecord }

/** A message the network node sends to a prover once the Step's changes are committed. */
export type Action =
  | { type: 'assign'; proverId: string; task: Task }
  | { type: 'cancel'; proverId: string; ref: TaskRef; reason: string }
  | { type: 'ack'; proverId: string; ref: TaskRef }

/**
 * The outcome of one scheduler call. Commit `changes` in one transaction, then send
 * `actions` and publish `events` (one per op or graph state change, in order).
 */
export interface Step {
  changes: Change[]
  actions: Action[]
  events: GraphEvent[]
}

/** Everything the journal holds: rebuilds a scheduler after a restart. */
export interface Snapshot {
  graphs: GraphRecord[]
  /** Ordered by graph seq, then op index (any order is accepted). */
  ops: OpRecord[]
  provers: ProverRecord[]
}

/** What a prover looks like to a placement plugin. */
export interface ProverView {
  readonly record: ProverRecord
  /** It has a live connection to this oracle. */
  readonly connected: boolean
  /** Ops assigned to it and not finished (states `assigned` and `running`). */
  readonly running: number
  /** `record.device.gpus.length`, kept flat: plugins read it for every candidate. */
  readonly gpuCount: number
  /** `record.device.cpu.cores`, kept flat. */
  readonly cores: number
  /** Run time EWMA (ms) per op name, from task.started to a successful task.result. Not journaled. */
  readonly speed: ReadonlyMap<string, number>
}

/** A prover as {@link Scheduler.provers} reports it. */
export type ProverInfo = ProverRecord & { connected: boolean; running: TaskRef[] }

/** Why a ready op is not placed: per filter, how many provers it rejected and why. */
export interface Explanation {
  state: OpState
  /** Per enabled filter plugin, in profile order, over every known prover. Empty unless ready. */
  rejections: Array<{ filter: string; count: number; reasons: string[] }>
  /** Ready ops only: each filter plugin's overall Status (`unschedulable` when it rejected any prover). */
  statuses?: Status[]
  /** Ready ops only: preference filters that would reject every feasible prover, so are relaxed. */
  relaxed?: string[]
  /** Ready ops only: provers that pass every required filter. */
  feasible?: number
  /** Ready ops only: how many provers the op is placed on. */
  wanted?: number
  /** Ready ops only: the best feasible provers, best first (at most 5), with their weighted scores. */
  ranking?: Array<{ proverId: string; total: number; scores: Record<string, number> }>
}

/** One graph in a list: {@link Scheduler.graphSummaries}. */
export interface GraphSummary {
  graphId: string
  requester: string
  priority: Priority
  state: GraphState
  submittedAt: number
  finishedAt: number | null
  ops: number
  succeeded: number
}

/** One prover's placement state, for operators: {@link Scheduler.proverState}. */
export interface ProverState {
  proverId: string
  state: 'live' | 'lost'
  connected: boolean
  slots: number
  running: TaskRef[]
  consecutiveFailures: number
  /** Excluded from placement right now (window or permanent). */
  banned: boolean
  /** Banned for good. */
  permanent: boolean
  /** End of the current window (ms since epoch), null when none or permanent. */
  bannedUntil: number | null
  /** Run time EWMA (ms) per op name. */
  speedMs: Record<string, number>
}

export interface SchedulerCounts {
  graphsRunning: number
  opsReady: number
  /** Ops in state `assigned` or `running`. */
  opsRunning: number
  proversLive: number
}

/** What registerProver takes: an agent's `register` message plus the peer it came from. */
export interface ProverRegistration {
  proverId: string
  peerId: string
  device: DeviceDescriptor
  slots: number
  running: TaskRef[]
}
