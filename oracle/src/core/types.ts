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
}

/** What the scheduler depends on. */
export interface SchedulerComponents {
  clock: Clock
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

/** What a prover looks like to a placement filter. */
export interface ProverView {
  readonly record: ProverRecord
  /** It has a live connection to this oracle. */
  readonly connected: boolean
  /** Ops assigned to it and not finished (states `assigned` and `running`). */
  readonly running: number
}

export type FilterResult = { ok: true } | { ok: false; reason: string }

/** A pure placement filter: can this prover run this op? Never throws. */
export interface PlacementFilter {
  readonly name: string
  filter(op: OpRecord, prover: ProverView): FilterResult
}

/** A prover as {@link Scheduler.provers} reports it. */
export type ProverInfo = ProverRecord & { connected: boolean; running: TaskRef[] }

/** Why a ready op is not placed: per filter, how many provers it rejected and why. */
export interface Explanation {
  state: OpState
  rejections: Array<{ filter: string; count: number; reasons: string[] }>
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
