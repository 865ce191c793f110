import { createHash } from 'node:crypto'
import { z } from 'zod'

/** A content address: `sha256:` followed by 64 lowercase hex digits. */
export const ContentHash = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>')
export type ContentHash = z.infer<typeof ContentHash>

/** The content address of some bytes. */
export function contentHash(bytes: Uint8Array): ContentHash {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}
