import { contentHash } from '@galactic/schemas'

/**
 * The no-op's output, byte for byte as plugins/noop/src/ops.ts makes it, so a BullMQ worker does
 * the same work as the plugin and both systems end the DAG on the same snark bytes.
 */
export function noopOutput(op: string, params: unknown, inputHashes: readonly string[]): string {
  const digest = (text: string): string => contentHash(new TextEncoder().encode(text))
  return JSON.stringify({ plugin: 'noop', op, params: digest(canonicalJson(params)), inputs: digest(inputHashes.join('\n')) })
}

/** JSON with object keys sorted (as plugins/noop does). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

/** The content hash of an output as galactic computes it (sha256 of its UTF-8 bytes). */
export const outputHash = (output: string): string => contentHash(new TextEncoder().encode(output))
