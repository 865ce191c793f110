import { createHash } from 'node:crypto'
import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { FileBlobStore, type BlobStore } from '@galactic/net'
import { loadPluginManifest } from '@galactic/plugin-runtime'
import {
  CATALOG_CHUNK_BYTES,
  CATALOG_FILE,
  CatalogResources,
  contentHash,
  GalacticError,
  LIMITS,
  parseOrThrow,
  pluginKey,
  type CatalogArchive,
  type CatalogEntry,
  type ContentHash,
} from '@galactic/schemas'
import { CatalogFile } from './catalog-file.js'
import { readDockerArchive } from './docker-archive.js'

export interface PublishPluginInit {
  /** The oracle's data folder: the archive goes to `<dataDir>/blobs`, the entry to `<dataDir>/catalog.json`. */
  dataDir: string
  /** A `galactic-plugin.json` with `runtime: { type: 'docker', image, digest }`. */
  manifest: string
  /** The image as written by `docker save` (a tar). */
  archive: string
  /** What one task needs (agents offer the plugin only on devices that have it). @default {} */
  resources?: CatalogResources
  /** Replace an entry of the same `name@version` with a different image. @default false */
  replace?: boolean
  /** Bytes per stored chunk, at most `LIMITS.maxBlobBytes`. @default CATALOG_CHUNK_BYTES */
  chunkBytes?: number
}

export interface PublishPluginComponents {
  /** @default a FileBlobStore at `<dataDir>/blobs` (what the oracle serves) */
  blobs?: BlobStore
  /** @default the system clock */
  now?: () => Date
}

function refused(problem: string, message: string, details: Record<string, unknown> = {}): GalacticError {
  return new GalacticError('INVALID_INPUT', message, { problem, ...details })
}

/**
 * Publishes a Docker-image plugin in an oracle's catalog: checks the manifest (docker runtime with
 * a `digest`), checks the archive is a `docker save` tar holding an image whose id (the SHA-256 of
 * its config) is that digest, stores the archive in the oracle's blob store in chunks, and writes
 * the entry into `catalog.json` (atomically). The running oracle serves it at once.
 *
 * Throws INVALID_INPUT with `details.problem`: `invalid-manifest` (with `details.issues`),
 * `not-docker-runtime`, `no-digest`, `not-a-tar`, `not-docker-archive`, `digest-mismatch`
 * (with `expected` and `found`), `already-published`.
 *
 * @example
 * const entry = await publishPlugin({ dataDir: '.galactic/oracle', manifest: 'galactic-plugin.json', archive: 'image.tar' })
 */
export async function publishPlugin(init: PublishPluginInit, components: PublishPluginComponents = {}): Promise<CatalogEntry> {
  const chunkBytes = init.chunkBytes ?? CATALOG_CHUNK_BYTES
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > LIMITS.maxBlobBytes) {
    throw new GalacticError('INVALID_INPUT', `chunkBytes must be 1..${LIMITS.maxBlobBytes}`)
  }
  let manifest
  try {
    manifest = loadPluginManifest(init.manifest).manifest
  } catch (err) {
    const error = GalacticError.from(err)
    throw new GalacticError(error.code, error.message, { problem: 'invalid-manifest', ...error.details }, { cause: err })
  }
  const key = pluginKey(manifest)
  const runtime = manifest.runtime
  if (runtime.type !== 'docker') {
    throw refused('not-docker-runtime', `${init.manifest}: runtime.type is ${runtime.type}; the catalog holds docker images only`, {
      issues: [{ path: 'runtime.type', message: 'must be docker' }],
    })
  }
  if (runtime.digest === undefined) {
    throw refused('no-digest', `${init.manifest}: runtime.digest is missing; the catalog pins every image by its id`, {
      issues: [{ path: 'runtime.digest', message: 'required to publish' }],
    })
  }
  const resources = parseOrThrow(CatalogResources, init.resources ?? {}, 'resources')

  const images = await readDockerArchive(init.archive)
  const image = images.find((i) => i.digest === runtime.digest)
  if (image === undefined) {
    const found = images.map((i) => i.digest)
    throw refused('digest-mismatch', `${init.archive} holds image ${found.join(', ')}, not the ${runtime.digest} that ${key}'s manifest pins`, {
      expected: runtime.digest,
      found,
    })
  }

  const catalogFile = new CatalogFile(join(init.dataDir, CATALOG_FILE))
  const catalog = await catalogFile.read()
  const existing = catalog.plugins.find((p) => pluginKey(p) === key)
  if (existing !== undefined && existing.image.digest !== runtime.digest && init.replace !== true) {
    throw refused('already-published', `${key} is already published with image ${existing.image.digest}; publish a new version (or replace it on purpose)`, {
      plugin: key,
      published: existing.image.digest,
    })
  }

  await mkdir(init.dataDir, { recursive: true })
  const blobs = components.blobs ?? new FileBlobStore(join(init.dataDir, 'blobs'))
  const archive = await storeChunks(init.archive, blobs, chunkBytes)
  const entry: CatalogEntry = {
    name: manifest.name,
    version: manifest.version,
    ...(manifest.description === undefined ? {} : { description: manifest.description }),
    ops: manifest.ops,
    resources,
    image: { ref: runtime.image, digest: runtime.digest, archive },
    publishedAt: (components.now?.() ?? new Date()).toISOString(),
  }
  // Read again right before writing, so the window in which another publisher's entry could be lost is short.
  const latest = await catalogFile.read()
  await catalogFile.write({ plugins: [...latest.plugins.filter((p) => pluginKey(p) !== key), entry] })
  return entry
}

/** Stores a file in chunks of `chunkBytes`, one blob each; returns the whole file's hash and size and the chunks. */
async function storeChunks(path: string, blobs: BlobStore, chunkBytes: number): Promise<CatalogArchive> {
  const file = await open(path, 'r')
  try {
    const whole = createHash('sha256')
    const chunks: Array<{ hash: ContentHash; size: number }> = []
    let size = 0
    for (;;) {
      const buf = new Uint8Array(chunkBytes)
      let filled = 0
      while (filled < chunkBytes) {
        const { bytesRead } = await file.read(buf, filled, chunkBytes - filled, size + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) break
      const chunk = buf.subarray(0, filled)
      whole.update(chunk)
      const hash = contentHash(chunk)
      await blobs.put(hash, chunk)
      chunks.push({ hash, size: filled })
      size += filled
      if (filled < chunkBytes) break
    }
    return { hash: `sha256:${whole.digest('hex')}`, size, chunks }
  } finally {
    await file.close()
  }
}
