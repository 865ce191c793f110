import { z } from 'zod'
import { PluginRef } from './device.js'
import { ErrorObject } from './errors.js'
import { ContentHash } from './hash.js'
import { LIMITS } from './limits.js'
import { OpId } from './operation.js'

/**
 * The plugin protocol (the seed's Init/Start/Stop): JSON-RPC 2.0, one JSON object per line,
 * over a plugin's stdin/stdout. The agent calls; the plugin answers. Bytes travel as base64.
 */
export const PLUGIN_PROTOCOL_VERSION = 1

export const PLUGIN_METHODS = {
  /** Configure the plugin; it answers with what it is and serves. Called once per instance. */
  init: {
    params: z.strictObject({ protocolVersion: z.int(), config: z.json() }),
    result: z.strictObject({ name: z.string(), version: z.string(), ops: z.array(z.string()) }),
  },
  /** Run one task to the end and return its outputs. */
  start: {
    params: z.strictObject({
      taskId: z.string().min(1).max(256),
      op: z.string().min(1).max(64),
      params: z.json(),
      inputs: z
        .array(z.strictObject({ opId: OpId, name: z.string(), hash: ContentHash, data: z.base64() }))
        .max(LIMITS.maxInputs * LIMITS.maxOutputs),
    }),
    result: z.strictObject({
      outputs: z.array(z.strictObject({ name: z.string().min(1).max(64), data: z.base64() })).max(LIMITS.maxOutputs),
    }),
  },
  /** Cancel one task (`taskId`) or, without one, shut down. */
  stop: {
    params: z.strictObject({ taskId: z.string().min(1).max(256).optional() }),
    result: z.strictObject({}),
  },
} as const
export type PluginMethod = keyof typeof PLUGIN_METHODS
export type PluginParams<M extends PluginMethod> = z.infer<(typeof PLUGIN_METHODS)[M]['params']>
export type PluginResult<M extends PluginMethod> = z.infer<(typeof PLUGIN_METHODS)[M]['result']>

export const PluginRequest = z.strictObject({
  jsonrpc: z.literal('2.0'),
  id: z.int(),
  method: z.enum(['init', 'start', 'stop']),
  params: z.unknown(),
})
export type PluginRequest = z.infer<typeof PluginRequest>

export const PluginResponse = z.union([
  z.strictObject({ jsonrpc: z.literal('2.0'), id: z.int(), result: z.unknown() }),
  z.strictObject({ jsonrpc: z.literal('2.0'), id: z.int().nullable(), error: ErrorObject }),
])
export type PluginResponse = z.infer<typeof PluginResponse>

/** `galactic-plugin.json`: how an agent finds and starts a local plugin. */
export const PluginManifest = PluginRef.extend({
  description: z.string().max(1024).optional(),
  /** Op names the plugin serves. */
  ops: z.array(z.string().min(1).max(64)).min(1).max(64),
  runtime: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('process'),
      /** Executable and arguments; relative paths are resolved from the manifest's folder. */
      command: z.array(z.string().min(1)).min(1),
    }),
  ]),
})
export type PluginManifest = z.infer<typeof PluginManifest>
