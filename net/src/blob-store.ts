import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { contentHash, GalacticError, type ContentHash } from '@galactic/schemas'

/** Blobs addressed by the SHA-256 of their bytes. */
export interface BlobStore {
  has(hash: ContentHash): Promise<boolean>
  /** The blob's bytes, or undefined when it is not stored. */
  get(hash: ContentHash): Promise<Uint8Array | undefined>
  /** Stores bytes under their hash; refuses bytes that do not hash to `hash`. Idempotent. */
  put(hash: ContentHash, bytes: Uint8Array): Promise<void>
}

/**
 * A BlobStore in a folder, one file per blob named by its hash. A write goes to a temporary
 * file, is fsynced, then renamed into place: a crash leaves either the whole blob or none,
 * so a blob the journal points to is always complete.
 */
export class FileBlobStore implements BlobStore {
  private readonly dir: string
  private ready: Promise<unknown> | undefined

  constructor(dir: string) {
    this.dir = dir
  }

  private path(hash: ContentHash): string {
    return join(this.dir, hash.slice('sha256:'.length))
  }

  async has(hash: ContentHash): Promise<boolean> {
    try {
      await stat(this.path(hash))
      return true
    } catch {
      return false
    }
  }

  async get(hash: ContentHash): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(hash)))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new GalacticError('STORAGE_ERROR', `cannot read blob ${hash}: ${(err as Error).message}`, { hash }, { cause: err })
    }
  }

  async put(hash: ContentHash, bytes: Uint8Array): Promise<void> {
    const actual = contentHash(bytes)
    if (actual !== hash) throw new GalacticError('INVALID_INPUT', `blob bytes hash to ${actual}, not ${hash}`, { hash, actual })
    if (await this.has(hash)) return
    this.ready ??= mkdir(this.dir, { recursive: true })
    await this.ready
    const target = this.path(hash)
    const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    try {
      const file = await open(tmp, 'w')
      try {
        await file.writeFile(bytes)
        await file.sync()
      } finally {
        await file.close()
      }
      await rename(tmp, target)
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw new GalacticError('STORAGE_ERROR', `cannot write blob ${hash}: ${(err as Error).message}`, { hash }, { cause: err })
    }
  }
}

/** A BlobStore in memory, for agents' caches and tests. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<ContentHash, Uint8Array>()

  async has(hash: ContentHash): Promise<boolean> {
    return this.blobs.has(hash)
  }

  async get(hash: ContentHash): Promise<Uint8Array | undefined> {
    return this.blobs.get(hash)
  }

  async put(hash: ContentHash, bytes: Uint8Array): Promise<void> {
    const actual = contentHash(bytes)
    if (actual !== hash) throw new GalacticError('INVALID_INPUT', `blob bytes hash to ${actual}, not ${hash}`, { hash, actual })
    this.blobs.set(hash, bytes)
  }
}
