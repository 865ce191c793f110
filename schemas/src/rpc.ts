import { z } from 'zod'
import { ErrorObject } from './errors.js'
import { CostModel } from './gas.js'
import { ContentHash } from './hash.js'
import { LedgerBalance, LedgerEntry, PGasEpoch, Quote, RegisteredCostModel, Wei } from './pricing.js'
import { SubmitAuth } from './security.js'
import { Explanation, GraphEvent, GraphStatus, GraphSummary, ProverStatus } from './status.js'

/**
 * The requester protocol: JSON-RPC 2.0 over WebSocket. Every method's params and result
 * are one schema here; the oracle parses params, the SDK parses results.
 */
export const RPC_METHODS = {
  /** The oracle's identity and where agents reach it. */
  'oracle.info': {
    params: z.strictObject({}),
    result: z.strictObject({
      version: z.string(),
      peerId: z.string(),
      multiaddrs: z.array(z.string()),
    }),
  },
  /**
   * Submit a graph. Idempotent per (requester, nonce): the same graph again returns the same id.
   * `auth` signs it (see docs/security.md); required when the oracle runs with `requireSignatures`.
   */
  'graph.submit': {
    params: z.strictObject({ graph: z.unknown(), auth: SubmitAuth.optional() }),
    result: z.strictObject({ graphId: z.string(), created: z.boolean() }),
  },
  'graph.status': {
    params: z.strictObject({ graphId: z.string().min(1).max(128) }),
    result: GraphStatus,
  },
  /** Graphs the oracle knows, newest first, without their ops. */
  'graph.list': {
    params: z.strictObject({ limit: z.int().min(1).max(10_000).default(100) }),
    result: z.strictObject({ graphs: z.array(GraphSummary) }),
  },
  /**
   * Subscribe to a graph's events; the reply carries a snapshot so no event is missed between.
   * `ops: false` delivers only the graph's own state changes (its end), not each op's: for a
   * requester that only waits, a 1,000-op graph is one notification instead of ~4,000.
   */
  'graph.subscribe': {
    params: z.strictObject({ graphId: z.string().min(1).max(128), ops: z.boolean().default(true) }),
    result: z.strictObject({ subscriptionId: z.string(), status: GraphStatus }),
  },
  'graph.unsubscribe': {
    params: z.strictObject({ subscriptionId: z.string().min(1).max(128) }),
    result: z.strictObject({}),
  },
  /** Why an op is not placed yet: per placement plugin, the provers it rejected and why. */
  'graph.explain': {
    params: z.strictObject({ graphId: z.string().min(1).max(128), opId: z.string().min(1).max(128) }),
    result: Explanation,
  },
  /** Every prover the oracle knows: device, liveness, running tasks. */
  'prover.list': {
    params: z.strictObject({}),
    result: z.strictObject({ provers: z.array(ProverStatus) }),
  },
  /** The price of a graph at the current P_gas, without submitting it (docs/pricing.md). */
  'gas.quote': {
    params: z.strictObject({ graph: z.unknown() }),
    result: Quote,
  },
  /** The current P_gas and the last `history` epochs, oldest first. */
  'pgas.get': {
    params: z.strictObject({ history: z.int().min(0).max(10_000).default(0) }),
    result: z.strictObject({ current: PGasEpoch, epochMs: z.int().min(1), history: z.array(PGasEpoch) }),
  },
  /** The plugins whose cost models the oracle knows. */
  'gas.models': {
    params: z.strictObject({}),
    result: z.strictObject({ models: z.array(RegisteredCostModel.extend({ model: CostModel })) }),
  },
  /** Balances: what each requester owes and each prover earned (optionally one account). */
  'ledger.balances': {
    params: z.strictObject({ account: z.string().min(1).max(128).optional() }),
    result: z.strictObject({ balances: z.array(LedgerBalance), /** Sum of the requesters' charges. */ charged: Wei, /** Sum of the provers' rewards and shares: equal to `charged`. */ paid: Wei }),
  },
  /** Ledger lines, oldest first, optionally of one graph or one account. */
  'ledger.entries': {
    params: z.strictObject({
      graphId: z.string().min(1).max(128).optional(),
      account: z.string().min(1).max(128).optional(),
      limit: z.int().min(1).max(100_000).default(1000),
    }),
    result: z.strictObject({ entries: z.array(LedgerEntry) }),
  },
  /** Fetch an output's bytes by content hash. */
  'blob.get': {
    params: z.strictObject({ hash: ContentHash }),
    result: z.strictObject({ hash: ContentHash, size: z.int().min(0), data: z.base64() }),
  },
} as const
export type RpcMethod = keyof typeof RPC_METHODS
export type RpcParams<M extends RpcMethod> = z.infer<(typeof RPC_METHODS)[M]['params']>
export type RpcResult<M extends RpcMethod> = z.infer<(typeof RPC_METHODS)[M]['result']>

const RpcId = z.union([z.string().max(128), z.int()])

export const RpcRequest = z.strictObject({
  jsonrpc: z.literal('2.0'),
  id: RpcId,
  method: z.string().max(64),
  params: z.unknown().optional(),
})
export type RpcRequest = z.infer<typeof RpcRequest>

/** JSON-RPC error codes; `data` carries the galactic ErrorObject with its stable code. */
export const RPC_ERROR = { parse: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, server: -32000 } as const

export const RpcResponse = z.union([
  z.strictObject({ jsonrpc: z.literal('2.0'), id: RpcId, result: z.unknown() }),
  z.strictObject({
    jsonrpc: z.literal('2.0'),
    id: RpcId.nullable(),
    error: z.strictObject({ code: z.int(), message: z.string(), data: ErrorObject.optional() }),
  }),
])
export type RpcResponse = z.infer<typeof RpcResponse>

/** A subscription's event. Several for one connection at one moment come as a JSON-RPC batch: an array of these. */
export const GraphEventNotification = z.strictObject({
  jsonrpc: z.literal('2.0'),
  method: z.literal('graph.event'),
  params: z.strictObject({ subscriptionId: z.string(), event: GraphEvent }),
})
export type GraphEventNotification = z.infer<typeof GraphEventNotification>
