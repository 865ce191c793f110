import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { contentHash, GalacticError } from '@galactic/schemas'
import { FileBlobStore } from '../src/index.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'galactic-blobs-'))
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

async function failure(p: Promise<unknown>): Promise<GalacticError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  if (!GalacticError.is(err)) throw new Error(`expected a GalacticError, got ${String(err)}`)
  return err
}

describe('FileBlobStore write failures', () => {
  it('names the folder when it cannot write, keeps nothing, and writes once the folder can be made', async () => {
    const bytes = new TextEncoder().encode('proof')
    const hash = contentHash(bytes)
    // The store's folder cannot be made: its parent is a file.
    const parent = join(dir, 'data')
    writeFileSync(parent, 'not a folder')
    const store = new FileBlobStore(join(parent, 'blobs'))
    const err = await failure(store.put(hash, bytes))
    expect(err.code).toBe('STORAGE_ERROR')
    expect(err.details).toMatchObject({ hash, dir: join(parent, 'blobs') })
    expect(await store.has(hash)).toBe(false)

    // The cause goes away (on a full disk: space is freed); the same store writes without a restart.
    rmSync(parent)
    expect(await store.get(hash)).toBeUndefined()
    await store.put(hash, bytes)
    expect(await store.get(hash)).toEqual(bytes)
  })
})
