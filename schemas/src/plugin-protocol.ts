import { z } from 'zod'
import { PluginRef } from './device.js'
import { ErrorObject } from './errors.js'
import { CostModel } from './gas.js'
import { ContentHash } from './hash.js'
import { LIMITS } from './limits.js'
import { OpId } from './operation.js'

/**
 * The plugin protocol (the seed's Init/Start/Stop): JSON-RPC 2.0, one JSON object per line,
 * over a plugin's stdin/stdout. The agent calls; the plugin answers. Bytes travel as base64.
 */
export const PLUGIN_PROTOCOL_VERSION = 1

/** A task's input as handed to a plugin: which op produced it, its output name, hash and bytes. */
export const PluginInput = z.strictObject({ opId: OpId, name: z.string(), hash: ContentHash, data: z.base64() })
export type PluginInput = z.infer<typeof PluginInput>

/** A task's output as a plugin returns it. */
export const PluginOutput = z.strictObject({ name: z.string().min(1).max(64), data: z.base64() })
export type PluginOutput = z.infer<typeof PluginOutput>

const PluginInputs = z.array(PluginInput).max(LIMITS.maxInputs * LIMITS.maxOutputs)
const PluginOutputs = z.array(PluginOutput).max(LIMITS.maxOutputs)

export const PLUGIN_METHODS = {
  /** Configure the plugin; it answers with what it is and serves. Called once per instance. */
  init: {
    params: z.strictObject({ protocolVersion: z.int(), config: z.json() }),
    result: z.strictObject({ name: z.string(), version: z.string(), ops: z.array(z.string()) }),
  },
  /** What the plugin is, without initialising it: name, version, ops served, resource needs. */
  describe: {
    params: z.strictObject({}),
    result: z.strictObject({
      name: z.string(),
      version: z.string(),
      protocolVersion: z.int(),
      ops: z.array(z.strictObject({ name: z.string().min(1).max(64), description: z.string().max(1024).optional() })),
      /** What one task needs; the agent turns it into container limits. */
      resources: z.strictObject({
        cpuCores: z.number().positive().optional(),
        memoryMiB: z.int().positive().optional(),
        gpu: z.boolean().optional(),
      }),
      /** The plugin's cost model: the gas units each op does, from its params (docs/pricing.md). */
      gas: CostModel.optional(),
      /** Anything a reader of the results should know (e.g. "aggregate is not recursive"). */
      notes: z.string().max(4096).optional(),
    }),
  },
  /** Run one task to the end and return its outputs. */
  start: {
    params: z.strictObject({
      taskId: z.string().min(1).max(256),
      op: z.string().min(1).max(64),
      params: z.json(),
      inputs: PluginInputs,
    }),
    result: z.strictObject({ outputs: PluginOutputs }),
  },
  /**
   * Check outputs against the task that claims to have made them, so a result can be checked by
   * someone other than the prover that made it. `valid: false` carries the reason.
   */
  verify: {
    params: z.strictObject({
      op: z.string().min(1).max(64),
      params: z.json(),
      inputs: PluginInputs,
      outputs: PluginOutputs,
    }),
    result: z.strictObject({ valid: z.boolean(), reason: z.string().max(4096).optional() }),
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
  method: z.enum(['describe', 'init', 'start', 'verify', 'stop']),
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
    z.strictObject({
      type: z.literal('docker'),
      /** Image reference (`name:tag`, or an image id). Never pulled: it must be on the agent's Docker host. */
      image: z.string().min(1).max(512),
      /**
       * The image's id or one of its repo digests (`sha256:` + 64 hex digits). When given, an image
       * whose id and repo digests all differ is refused, and the container is created from the id.
       */
      digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256: and 64 lowercase hex digits').optional(),
    }),
  ]),
})
export type PluginManifest = z.infer<typeof PluginManifest>
