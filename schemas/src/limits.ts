/**
 * Hard limits on what the oracle accepts. They bound memory and journal size per
 * graph; a graph over any of them is refused whole, with the field that broke it.
 */
export const LIMITS = {
  /** Operations per graph. */
  maxOps: 10_000,
  /** Inputs per operation. */
  maxInputs: 64,
  /** Bytes of an op's `params`, serialized as JSON. */
  maxParamsBytes: 64 * 1024,
  /** Bytes of a whole graph, serialized as JSON. */
  maxGraphBytes: 8 * 1024 * 1024,
  /** Outputs per operation. */
  maxOutputs: 16,
  /** Bytes of one output blob. */
  maxBlobBytes: 64 * 1024 * 1024,
  /**
   * Outputs up to this size travel inside the agent protocol's messages (a result carries them,
   * an assignment carries its inputs) and are kept in the oracle's journal, instead of one blob
   * stream and one file each.
   */
  inlineBlobBytes: 16 * 1024,
  /** Results in one `task.results` message (one signature covers them). */
  maxResultsPerMessage: 256,
  /** Inline input bytes per assignment; inputs past it are fetched as blobs. */
  inlineBytesPerTask: 1024 * 1024,
  /** Bytes of one framed message on any transport. */
  maxMessageBytes: 16 * 1024 * 1024,
  /** Longest op timeout: one day. */
  maxTimeoutMs: 24 * 60 * 60 * 1000,
} as const
