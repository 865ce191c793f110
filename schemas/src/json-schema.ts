import { z } from 'zod'
import { AgentMessage, BlobReply, BlobRequest, OracleMessage } from './agent-protocol.js'
import { Catalog, CatalogReply, CatalogRequest } from './catalog.js'
import { DeviceDescriptor } from './device.js'
import { ErrorObject } from './errors.js'
import { CostModel, GasTable } from './gas.js'
import { Graph } from './graph.js'
import { Operation } from './operation.js'
import { PLUGIN_METHODS, PluginManifest, PluginRequest, PluginResponse } from './plugin-protocol.js'
import { LedgerEntry, PGasAnnouncement, Quote } from './pricing.js'
import { GraphEventNotification, RPC_METHODS, RpcRequest, RpcResponse } from './rpc.js'
import { Explanation, GraphEvent, GraphStatus, ProverStatus } from './status.js'

/**
 * Every wire message as JSON Schema (draft 2020-12), keyed by a file name, for people who
 * write clients, agents or plugins in other languages. Generated from the zod schemas, so it
 * cannot drift: `npm run schemas:export` writes them to docs/schemas/, and a test checks
 * the committed files are current.
 */
export function jsonSchemas(): Record<string, unknown> {
  const named: Record<string, z.ZodType> = {
    'graph': Graph,
    'operation': Operation,
    'device-descriptor': DeviceDescriptor,
    'error': ErrorObject,
    'graph-status': GraphStatus,
    'graph-event': GraphEvent,
    'prover-status': ProverStatus,
    'explanation': Explanation,
    'rpc-request': RpcRequest,
    'rpc-response': RpcResponse,
    'rpc-graph-event-notification': GraphEventNotification,
    'agent-message': AgentMessage,
    'oracle-message': OracleMessage,
    'blob-request': BlobRequest,
    'blob-reply': BlobReply,
    'plugin-manifest': PluginManifest,
    'plugin-request': PluginRequest,
    'plugin-response': PluginResponse,
    'catalog': Catalog,
    'catalog-request': CatalogRequest,
    'catalog-reply': CatalogReply,
    'gas-table': GasTable,
    'cost-model': CostModel,
    'pgas-announcement': PGasAnnouncement,
    'quote': Quote,
    'ledger-entry': LedgerEntry,
  }
  for (const [method, m] of Object.entries(RPC_METHODS)) {
    named[`rpc.${method}.params`] = m.params
    named[`rpc.${method}.result`] = m.result
  }
  for (const [method, m] of Object.entries(PLUGIN_METHODS)) {
    named[`plugin.${method}.params`] = m.params
    named[`plugin.${method}.result`] = m.result
  }
  const out: Record<string, unknown> = {}
  for (const [name, schema] of Object.entries(named)) {
    // Messages a peer sends: defaults are optional on the wire.
    out[name] = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' })
  }
  return out
}
