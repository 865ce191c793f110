import { z } from 'zod'

/**
 * Stable error codes shared by the oracle, the prover agent, the SDK and plugins.
 * Code never changes meaning; messages may. Tests and callers branch on `code`.
 */
export const ErrorCode = z.enum([
  /** A message or argument failed validation; `details.issues` lists field paths. */
  'INVALID_INPUT',
  /** A graph failed validation (schema, duplicate ids, unknown inputs, cycles, limits). */
  'INVALID_GRAPH',
  /** A gas cost model or gas table is malformed: bad shape, or an expression outside the whitelist (`details` name the op, term and field). */
  'INVALID_GAS_MODEL',
  /** The requested graph, op, blob or subscription does not exist. */
  'NOT_FOUND',
  /** A requester reused a nonce for a different graph. */
  'NONCE_CONFLICT',
  /** The peer broke the protocol (bad frame, wrong order, unknown message). */
  'PROTOCOL_ERROR',
  /** A message, blob or field is larger than the configured limit. */
  'PAYLOAD_TOO_LARGE',
  /** The operation took longer than allowed. */
  'TIMEOUT',
  /** The caller aborted the operation through its AbortSignal. */
  'ABORTED',
  /** The connection closed before a reply arrived. */
  'CONNECTION_CLOSED',
  /** No plugin with that name and version is installed on this agent. */
  'PLUGIN_NOT_FOUND',
  /** A plugin failed to run a task (crash, bad reply, error result). */
  'PLUGIN_FAILED',
  /** A plugin was asked to run a task it does not know how to run, or with bad params. */
  'TASK_INVALID',
  /** A task was stopped before it finished (cancelled by the oracle or the agent stopping). */
  'TASK_CANCELLED',
  /** A result failed verification: the plugin's `verify` refused the outputs for these inputs. */
  'RESULT_INVALID',
  /** The oracle's storage refused a write (disk full, read-only). */
  'STORAGE_ERROR',
  /**
   * The disk holding the oracle's data directory is full: the request was refused and nothing of
   * it was kept (`details.dataDir` names the folder). The oracle resumes by itself once space is freed.
   */
  'STORAGE_FULL',
  /** A signature is missing, does not verify, or its signer is not allowed to do this. */
  'UNAUTHORIZED',
  /** A signed request arrived after its `expiresAt`, or a signed timestamp is too far from the oracle's clock. */
  'EXPIRED',
  /** The peer sent more requests or messages than its rate limit allows; it is disconnected if it keeps on. */
  'RATE_LIMITED',
  /** A graph's quote is above its `maxPrice`, or an op of a graph with a `maxPrice` cannot be priced yet. */
  'PRICE_LIMIT',
  /** An external price source (the P_gas contract on an Ethereum endpoint) failed: `details.reason` says how. */
  'PRICE_SOURCE',
  /** A bug: something that should not happen happened. */
  'INTERNAL',
])
export type ErrorCode = z.infer<typeof ErrorCode>

/** The serialized form of a {@link GalacticError}: what crosses a wire. */
export const ErrorObject = z.strictObject({
  code: ErrorCode,
  message: z.string().max(4096),
  details: z.record(z.string(), z.unknown()).optional(),
})
export type ErrorObject = z.infer<typeof ErrorObject>

/** One problem found by validation: where (a field path such as `ops[3].inputs[0]`) and why. */
export interface ValidationIssue {
  path: string
  message: string
}

/**
 * The one error type of galactic. It carries a stable `code`, a short message and
 * optional JSON details, and serializes with {@link GalacticError.toObject} so it can
 * cross a WebSocket, a libp2p stream or a plugin's stdio and be rebuilt on the other side.
 *
 * @example
 * try { await client.status('g_missing') }
 * catch (err) { if (GalacticError.is(err, 'NOT_FOUND')) console.log('no such graph') }
 */
export class GalacticError extends Error {
  override readonly name = 'GalacticError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.details = details
  }

  /** The validation issues carried in `details.issues`, if any. */
  get issues(): ValidationIssue[] {
    const issues = this.details?.['issues']
    return Array.isArray(issues) ? (issues as ValidationIssue[]) : []
  }

  toObject(): ErrorObject {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }

  static fromObject(obj: ErrorObject): GalacticError {
    return new GalacticError(obj.code, obj.message, obj.details)
  }

  /** Wraps anything thrown into a GalacticError, keeping GalacticErrors as they are. */
  static from(err: unknown, fallback: ErrorCode = 'INTERNAL'): GalacticError {
    if (err instanceof GalacticError) return err
    const message = err instanceof Error ? err.message : String(err)
    return new GalacticError(fallback, message, undefined, { cause: err })
  }

  static is(err: unknown, code?: ErrorCode): err is GalacticError {
    return err instanceof GalacticError && (code === undefined || err.code === code)
  }
}

/** Formats a zod issue path as `ops[3].inputs[0]`, prefixed by `prefix` when given. */
export function formatPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let out = prefix
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += out === '' ? String(key) : `.${String(key)}`
  }
  return out === '' ? '(root)' : out
}

/** Turns a zod error into validation issues with field paths. */
export function zodIssues(error: z.ZodError, prefix = ''): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path, prefix), message: issue.message }))
}

/**
 * Parses `value` with `schema`, or throws a GalacticError whose message names the
 * first bad field and whose `details.issues` lists every one.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code: ErrorCode = 'INVALID_INPUT',
): z.infer<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issues = zodIssues(result.error)
  const first = issues[0]
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
  throw new GalacticError(code, `invalid ${what}: ${first?.path}: ${first?.message}${more}`, { issues })
}
