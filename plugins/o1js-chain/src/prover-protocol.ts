import { z } from 'zod'
import { FieldString, JsonProof } from './chain.js'

/**
 * The messages between the plugin process and its prover process (Node IPC, JSON). Private to
 * this plugin; each side parses what it receives.
 */

/** Plugin -> prover: prove one segment, or merge two proofs. */
export const ProverRequest = z.discriminatedUnion('op', [
  z.strictObject({ id: z.int().min(1), op: z.literal('leaf'), start: FieldString, offset: z.int().min(0) }),
  z.strictObject({ id: z.int().min(1), op: z.literal('merge'), left: JsonProof, right: JsonProof }),
])
export type ProverRequest = z.infer<typeof ProverRequest>

/** What one proof cost the prover process. */
export const ProofStats = z.strictObject({
  /** Wall time of the prove call. */
  ms: z.number().nonnegative(),
  /** CPU time of the whole prover process during it (every thread). */
  cpuMs: z.number().nonnegative(),
  /** The prover process' peak resident memory so far. */
  maxRssMiB: z.number().nonnegative(),
  /** Its resident memory once the proof is made. */
  rssMiB: z.number().nonnegative(),
})
export type ProofStats = z.infer<typeof ProofStats>

/** Prover -> plugin. */
export const ProverMessage = z.discriminatedUnion('type', [
  /** Compiled (keys read from the cache) and checked against `verification-key.json`. */
  z.strictObject({ type: z.literal('ready'), verificationKeyHash: FieldString, backend: z.enum(['native', 'wasm']), compileMs: z.number().nonnegative() }),
  /** It cannot serve (missing or stale keys): it exits after this. */
  z.strictObject({ type: z.literal('fatal'), code: z.enum(['PLUGIN_FAILED', 'INTERNAL']), message: z.string() }),
  z.strictObject({ type: z.literal('proof'), id: z.int(), proof: JsonProof, stats: ProofStats }),
  /** `TASK_INVALID`: the inputs were refused (a child proof does not verify, or the circuit's checks fail). */
  z.strictObject({ type: z.literal('error'), id: z.int(), code: z.enum(['TASK_INVALID', 'INTERNAL']), message: z.string() }),
])
export type ProverMessage = z.infer<typeof ProverMessage>
