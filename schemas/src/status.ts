import { z } from 'zod'
import { ErrorObject } from './errors.js'
import { PluginMode, Priority } from './graph.js'
import { Operation, OutputRef } from './operation.js'
import { DeviceDescriptor } from './device.js'
import { TaskRef } from './agent-protocol.js'

/**
 * Life of an op: `pending` (waiting for inputs) -> `ready` -> `assigned` (sent to a prover)
 * -> `running` (the prover started it) -> `succeeded`; or back to `ready` when its prover is
 * lost, fails or misses the deadline, and `failed` once it has used up its attempts.
 */
export const OpState = z.enum(['pending', 'ready', 'assigned', 'running', 'succeeded', 'failed'])
export type OpState = z.infer<typeof OpState>

export const GraphState = z.enum(['running', 'succeeded', 'failed'])
export type GraphState = z.infer<typeof GraphState>

/** Milliseconds since the Unix epoch. */
const Timestamp = z.int().min(0)

export const OpStatus = Operation.extend({
  state: OpState,
  /** How many times the op has been assigned. */
  attempt: z.int().min(0),
  error: ErrorObject.nullable(),
  readyAt: Timestamp.nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
})
export type OpStatus = z.infer<typeof OpStatus>

export const GraphStatus = z.strictObject({
  graphId: z.string(),
  requester: z.string(),
  nonce: z.string(),
  priority: Priority,
  pluginMode: PluginMode,
  state: GraphState,
  submittedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  ops: z.array(OpStatus),
})
export type GraphStatus = z.infer<typeof GraphStatus>

/** A change to a graph, as pushed to subscribers. */
export const GraphEvent = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('op'),
    graphId: z.string(),
    opId: z.string(),
    state: OpState,
    attempt: z.int().min(0),
    deviceIds: z.array(z.string()).nullable(),
    outputs: z.array(OutputRef).nullable(),
    error: ErrorObject.nullable(),
    at: Timestamp,
  }),
  z.strictObject({
    type: z.literal('graph'),
    graphId: z.string(),
    state: GraphState,
    at: Timestamp,
  }),
])
export type GraphEvent = z.infer<typeof GraphEvent>

/** A prover as the oracle sees it: device, liveness, what it runs. */
export const ProverStatus = z.strictObject({
  proverId: z.string(),
  peerId: z.string(),
  device: DeviceDescriptor,
  slots: z.int().min(1),
  /** `lost`: it missed its heartbeats; its ops went back to ready. */
  state: z.enum(['live', 'lost']),
  /** Whether its stream to the oracle is open now. */
  connected: z.boolean(),
  running: z.array(TaskRef),
  registeredAt: Timestamp,
  lastSeenAt: Timestamp,
  /** The ban policy's view: a window that doubles on each consecutive failure, permanent after more than 3. */
  ban: z.strictObject({
    consecutiveFailures: z.int().min(0),
    /** Excluded from placement right now (window or permanent). */
    banned: z.boolean(),
    permanent: z.boolean(),
    /** End of the current window; null when none or permanent. */
    bannedUntil: Timestamp.nullable(),
  }),
  /** Measured run time (moving average, ms) per op name. */
  speedMs: z.record(z.string(), z.number().min(0)),
  /**
   * Its speed in gas per second (docs/pricing.md, "Speed"): what it claimed at registration (from
   * its calibration), what its accepted ops showed, and whether they differ by more than the
   * oracle's doubt factor (then supply counts what it showed).
   */
  gas: z
    .strictObject({
      claimedPerSec: z.number().min(0).nullable(),
      observedPerSec: z.number().min(0).nullable(),
      doubted: z.boolean(),
    })
    .optional(),
})
export type ProverStatus = z.infer<typeof ProverStatus>

/** Why a ready op is not placed: per placement plugin, how many provers it rejected and why. */
export const Explanation = z.strictObject({
  graphId: z.string(),
  opId: z.string(),
  state: OpState,
  rejections: z.array(z.strictObject({ plugin: z.string(), count: z.int().min(0), reasons: z.array(z.string()) })),
  /** Preference filters (affinity, retry elsewhere) relaxed because they would reject every feasible prover. */
  relaxed: z.array(z.string()),
  /** Provers that pass every required filter. */
  feasible: z.int().min(0),
  /** How many provers the op is placed on (more than one under performance priority or a high penalty). */
  wanted: z.int().min(0),
  /** The best feasible provers, best first, with their weighted scores per score plugin. */
  ranking: z.array(z.strictObject({ proverId: z.string(), total: z.number(), scores: z.record(z.string(), z.number()) })),
})
export type Explanation = z.infer<typeof Explanation>

/** One graph in a list, without its ops. */
export const GraphSummary = z.strictObject({
  graphId: z.string(),
  requester: z.string(),
  priority: Priority,
  state: GraphState,
  submittedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  ops: z.int().min(0),
  succeeded: z.int().min(0),
})
export type GraphSummary = z.infer<typeof GraphSummary>
