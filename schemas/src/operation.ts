import { z } from 'zod'
import { CpuArch, GpuVendor, OsType, PluginRef } from './device.js'
import { ContentHash } from './hash.js'
import { LIMITS } from './limits.js'

/** An op id: unique within its graph. */
export const OpId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits and . _ : - only, starting with a letter or digit')
export type OpId = z.infer<typeof OpId>

/**
 * The op kinds named in the scheduling seed. `name` is free text; these are the known ones,
 * plus the stages of the ZKM pipeline built by {@link buildZkmGraph}.
 */
export const KNOWN_OP_NAMES = [
  'zkp-singleton',
  'zkp-continuation',
  'zkp-recursion-A',
  'zkp-recursion-B',
  'zkp-aggregation',
  'split',
  'prove',
  'aggregate',
  'snark',
] as const

/** What a device must have to run an op. Every field is optional: absent means "any". */
export const Requirements = z.strictObject({
  os: OsType.optional(),
  cpu: z
    .strictObject({
      arch: CpuArch.optional(),
      minCores: z.int().min(1).max(65_536).optional(),
    })
    .optional(),
  /** Absent: the op needs no GPU. */
  gpu: z
    .strictObject({
      vendor: GpuVendor.optional(),
      model: z.string().min(1).max(128).optional(),
      count: z.int().min(1).max(64).default(1),
      minMemoryMiB: z.int().min(0).max(16 * 1024 * 1024).optional(),
    })
    .optional(),
  minMemoryMiB: z.int().min(0).max(1 << 30).optional(),
})
export type Requirements = z.infer<typeof Requirements>

/** One output of a finished op: its content address, its size, and the peers that hold it. */
export const OutputRef = z.strictObject({
  name: z.string().min(1).max(64),
  hash: ContentHash,
  size: z.int().min(0).max(LIMITS.maxBlobBytes),
  /** libp2p peer ids that serve this blob on `/galactic/blob/1.0.0`. */
  providers: z.array(z.string().min(1).max(128)).max(16),
})
export type OutputRef = z.infer<typeof OutputRef>

/** An operation of a proving graph, as the requester writes it and as the oracle reports it. */
export const Operation = z.strictObject({
  id: OpId,
  name: z.string().min(1).max(64),
  /** Ids of the ops whose outputs this op consumes, in order. */
  inputs: z.array(OpId).max(LIMITS.maxInputs).default([]),
  plugin: PluginRef,
  /** JSON handed to the plugin as is. */
  params: z.json().default({}),
  requirements: Requirements.default({}),
  /** Amount at stake for this op; the scheduler uses it for redundancy. */
  penalty: z.number().min(0).max(1e18).default(0),
  timeoutMs: z.int().min(100).max(LIMITS.maxTimeoutMs).default(10 * 60 * 1000),
  /** Filled by the oracle when the op is assigned; null before. */
  deviceIds: z.array(z.string().min(1).max(128)).max(64).nullable().default(null),
  /** Filled by the oracle when the op succeeds; null before. */
  outputs: z.array(OutputRef).max(LIMITS.maxOutputs).nullable().default(null),
})
export type Operation = z.infer<typeof Operation>
export type OperationInput = z.input<typeof Operation>
