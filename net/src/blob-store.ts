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
 * so a blob the journal points to is always complete. A write the disk has no room for fails
 * with STORAGE_FULL naming the folder (other write failures: STORAGE_ERROR) and leaves nothing.
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
    const target = this.path(hash)
    const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    try {
      // Made once; a failure (disk full) is not kept, so the next put tries again.
      this.ready ??= mkdir(this.dir, { recursive: true }).catch((err: unknown) => {
        this.ready = undefined
        throw err
      })
      await this.ready
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
      throw writeError(err, hash, this.dir)
    }
  }
}

/** STORAGE_FULL naming the folder when its disk is full (ENOSPC, EDQUOT), else STORAGE_ERROR. */
function writeError(err: unknown, hash: ContentHash, dir: string): GalacticError {
  const code = (err as NodeJS.ErrnoException | null)?.code
  const why = err instanceof Error ? err.message : String(err)
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new GalacticError('STORAGE_FULL', `cannot store blob ${hash}: the disk holding ${dir} is full (${why}); nothing was kept`, { hash, dir, errno: code }, { cause: err })
  }
  return new GalacticError('STORAGE_ERROR', `cannot write blob ${hash} in ${dir}: ${why}`, { hash, dir }, { cause: err })
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
