import { z } from 'zod'
import { PluginRef } from './device.js'
import { ErrorObject } from './errors.js'
import { ContentHash } from './hash.js'
import { LIMITS } from './limits.js'

/**
 * The plugin catalog: Docker-image plugins an oracle operator published, served by the oracle so
 * agents can install them without a registry (`docs/plugin-protocol.md`, "Plugin catalog").
 */

/** libp2p protocol on which the oracle serves its catalog: one CatalogRequest, one CatalogReply. */
export const CATALOG_PROTOCOL = '/galactic/catalog/1.0.0'

/** The catalog file in an oracle's data folder. */
export const CATALOG_FILE = 'catalog.json'

/** Bytes of one archive chunk: each chunk is one blob, so at most `LIMITS.maxBlobBytes`. */
export const CATALOG_CHUNK_BYTES = 16 * 1024 * 1024

/** An image id: the SHA-256 of the image's config, `sha256:` and 64 lowercase hex digits. */
export const ImageDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256: and 64 lowercase hex digits')
export type ImageDigest = z.infer<typeof ImageDigest>

/** What one task of a plugin needs; an agent offers only plugins its device can give this. */
export const CatalogResources = z.strictObject({
  cpuCores: z.number().positive().max(65_536).optional(),
  memoryMiB: z.int().positive().max(1 << 30).optional(),
  gpu: z.boolean().optional(),
})
export type CatalogResources = z.infer<typeof CatalogResources>

/**
 * A `docker save` archive of a plugin's image, kept in the oracle's blob store. It is stored in
 * chunks of at most {@link CATALOG_CHUNK_BYTES} (one blob each, so each fits the blob protocol's
 * limit); `hash` and `size` are the whole archive's, checked after the chunks are joined.
 */
export const CatalogArchive = z.strictObject({
  hash: ContentHash,
  size: z.int().min(1).max(64 * 1024 * 1024 * 1024),
  chunks: z
    .array(z.strictObject({ hash: ContentHash, size: z.int().min(1).max(LIMITS.maxBlobBytes) }))
    .min(1)
    .max(4096),
})
export type CatalogArchive = z.infer<typeof CatalogArchive>

/** One published plugin: its manifest fields, resources, and where its image comes from. */
export const CatalogEntry = PluginRef.extend({
  description: z.string().max(1024).optional(),
  ops: z.array(z.string().min(1).max(64)).min(1).max(64),
  resources: CatalogResources,
  image: z.strictObject({
    /** The image's reference (`name:tag`): what a registry pull asks for. */
    ref: z.string().min(1).max(512),
    /** The image id an agent must end up with; any other image is refused. */
    digest: ImageDigest,
    /** The image as a `docker save` archive in the oracle's blob store, for agents without a registry. */
    archive: CatalogArchive.optional(),
  }),
  /** When it was published (ISO 8601). */
  publishedAt: z.iso.datetime().optional(),
})
export type CatalogEntry = z.infer<typeof CatalogEntry>

/** `<oracle dataDir>/catalog.json`, and what the oracle serves. At most one entry per `name@version`. */
export const Catalog = z.strictObject({
  plugins: z.array(CatalogEntry).max(256),
})
export type Catalog = z.infer<typeof Catalog>

/** First and only frame an agent sends on a catalog stream. */
export const CatalogRequest = z.strictObject({ type: z.literal('list') })
export type CatalogRequest = z.infer<typeof CatalogRequest>

/** The oracle's one reply frame. */
export const CatalogReply = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), catalog: Catalog }),
  z.strictObject({ ok: z.literal(false), error: ErrorObject }),
])
export type CatalogReply = z.infer<typeof CatalogReply>
