import { z } from 'zod'
import { DeviceDescriptor, PluginRef } from './device.js'
import { ErrorObject } from './errors.js'
import { CostModel } from './gas.js'
import { ContentHash } from './hash.js'
import { LIMITS } from './limits.js'
import { OpId, OutputRef, Requirements } from './operation.js'
import { PluginMode } from './graph.js'
import { Ed25519Signature, EthAddress, EthSignature, UnixSeconds } from './security.js'

/** libp2p protocol between a prover agent and the oracle: one long-lived stream per agent. */
export const AGENT_PROTOCOL = '/galactic/agent/1.0.0'
/** libp2p protocol that serves and accepts output blobs by content hash. */
export const BLOB_PROTOCOL = '/galactic/blob/1.0.0'

export const ProverId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits and . _ - only')
export type ProverId = z.infer<typeof ProverId>

/** Names one attempt of one op. A result for an old attempt is told apart from the current one. */
export const TaskRef = z.strictObject({
  graphId: z.string().min(1).max(128),
  opId: OpId,
  attempt: z.int().min(1),
})
export type TaskRef = z.infer<typeof TaskRef>

export function taskKey(t: TaskRef): string {
  return `${t.graphId}/${t.opId}#${t.attempt}`
}

/** A blob's bytes sent inline (base64), at most LIMITS.inlineBlobBytes; the receiver checks size and hash. */
export const InlineData = z.base64().max(Math.ceil(LIMITS.inlineBlobBytes / 3) * 4)

/** An input of a task: where to fetch it, or its bytes when small. */
export const TaskInput = OutputRef.extend({ data: InlineData.optional() })
export type TaskInput = z.infer<typeof TaskInput>

/** What a prover needs to run one op. */
export const Task = TaskRef.extend({
  name: z.string().min(1).max(64),
  plugin: PluginRef,
  params: z.json(),
  requirements: Requirements,
  /** The op's inputs, in the op's order, each with the outputs it produced. */
  inputs: z.array(z.strictObject({ opId: OpId, outputs: z.array(TaskInput) })).max(LIMITS.maxInputs),
  timeoutMs: z.int().min(1),
  pluginMode: PluginMode,
})
export type Task = z.infer<typeof Task>

export const ProducedOutput = z.strictObject({
  name: z.string().min(1).max(64),
  hash: ContentHash,
  size: z.int().min(0).max(LIMITS.maxBlobBytes),
  /** The bytes, when at most LIMITS.inlineBlobBytes: then nothing is uploaded (see TaskInput). */
  data: InlineData.optional(),
})
export type ProducedOutput = z.infer<typeof ProducedOutput>

export const TaskOutcome = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), outputs: z.array(ProducedOutput).max(LIMITS.maxOutputs) }),
  z.strictObject({ ok: z.literal(false), error: ErrorObject }),
])
export type TaskOutcome = z.infer<typeof TaskOutcome>

/** One result in a `task.results` message. */
export const TaskResultEntry = TaskRef.extend({ outcome: TaskOutcome })
export type TaskResultEntry = z.infer<typeof TaskResultEntry>

/** Messages an agent sends to the oracle. */
export const AgentMessage = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('register'),
    proverId: ProverId,
    device: DeviceDescriptor,
    agentVersion: z.string().max(64),
    /** How many ops it runs at once. */
    slots: z.int().min(1).max(1024),
    /** Tasks it is running now (after a reconnect). */
    running: z.array(TaskRef).max(1024),
    /** Its libp2p peer id: must be the peer id of the connection the message arrives on. */
    peerId: z.string().min(1).max(128),
    /** Its Ethereum address: the key that signs this registration and its results. */
    address: EthAddress,
    /** When it signed (unix seconds); refused when further than 5 minutes from the oracle's clock. */
    signedAt: UnixSeconds,
    /** EIP-712 signature of `ProverRegistration { proverId, peerId, address, signedAt }` (see security.ts). */
    signature: EthSignature,
    /** The cost model (describe's `gas`) of each plugin it offers that has one (docs/pricing.md). */
    costModels: z.array(z.strictObject({ plugin: PluginRef, model: CostModel })).max(256).optional(),
    /** Its speed in gas per second, measured by `galactic gas calibrate` (docs/pricing.md, "Speed"). */
    gasPerSecond: z.number().positive().max(1e18).optional(),
  }),
  z.strictObject({ type: z.literal('heartbeat'), running: z.array(TaskRef).max(1024) }),
  TaskRef.extend({ type: z.literal('task.started') }),
  z.strictObject({
    type: z.literal('task.results'),
    /** Results finished since the last message, oldest first. */
    results: z.array(TaskResultEntry).min(1).max(LIMITS.maxResultsPerMessage),
    /**
     * Ed25519 signature of `resultsSigningBytes` of the results (security.ts) by the agent's libp2p
     * identity key, which its signed registration binds to its address; kept as evidence.
     */
    signature: Ed25519Signature,
  }),
])
export type AgentMessage = z.infer<typeof AgentMessage>

/** Messages the oracle sends to an agent. */
export const OracleMessage = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('registered'),
    proverId: ProverId,
    heartbeatIntervalMs: z.int().min(10),
    livenessTimeoutMs: z.int().min(10),
  }),
  z.strictObject({ type: z.literal('task.assign'), task: Task }),
  TaskRef.extend({ type: z.literal('task.cancel'), reason: z.string().max(1024) }),
  TaskRef.extend({ type: z.literal('result.ack') }),
  z.strictObject({ type: z.literal('error'), error: ErrorObject, fatal: z.boolean() }),
])
export type OracleMessage = z.infer<typeof OracleMessage>

/** First frame on a blob stream. `put` is followed by the bytes; `get` is answered by a BlobReply then the bytes. */
export const BlobRequest = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('get'), hash: ContentHash }),
  z.strictObject({ type: z.literal('put'), hash: ContentHash, size: z.int().min(0).max(LIMITS.maxBlobBytes) }),
])
export type BlobRequest = z.infer<typeof BlobRequest>

export const BlobReply = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), size: z.int().min(0) }),
  z.strictObject({ ok: z.literal(false), error: ErrorObject }),
])
export type BlobReply = z.infer<typeof BlobReply>
