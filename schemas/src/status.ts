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
})
export type ProverStatus = z.infer<typeof ProverStatus>

/** Why a ready op is not placed: per placement plugin, how many provers it rejected and why. */
export const Explanation = z.strictObject({
  graphId: z.string(),
  opId: z.string(),
  state: OpState,
  rejections: z.array(z.strictObject({ plugin: z.string(), count: z.int().min(0), reasons: z.array(z.string()) })),
})
export type Explanation = z.infer<typeof Explanation>
