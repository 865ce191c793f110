import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FileBlobStore } from '@galactic/net'
import { contentHash, GalacticError, LIMITS, type ProducedOutput, type Task } from '@galactic/schemas'
import { OracleBlobs } from '../src/blobs.js'
import { Journal } from '../src/journal/index.js'
import { TokenBucket } from '../src/security/index.js'
import { taskOf } from './helpers.js'

let dir: string
let journal: Journal
let blobs: OracleBlobs

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'galactic-blobs-'))
  journal = Journal.open({ path: join(dir, 'journal.sqlite') })
  blobs = new OracleBlobs(new FileBlobStore(join(dir, 'blobs')), () => journal)
})

afterEach(() => {
  journal.close()
  rmSync(dir, { recursive: true, force: true })
})

function output(name: string, bytes: Uint8Array, inline = true): ProducedOutput {
  return { name, hash: contentHash(bytes), size: bytes.byteLength, ...(inline ? { data: Buffer.from(bytes).toString('base64') } : {}) }
}

function task(inputs: Task['inputs']): Task {
  return taskOf({ opId: 'agg', name: 'aggregate', plugin: { name: 'noop', version: '1.0.0' }, inputs, pluginMode: 'performance' })
}

describe('OracleBlobs', () => {
  it('stages inline outputs until released, then serves them once the journal holds them', async () => {
    const bytes = new TextEncoder().encode('a small proof')
    const out = output('proof', bytes)
    const staged = blobs.stage([out, output('large', new Uint8Array(8), false)])
    expect(staged.blobs).toEqual([{ hash: out.hash, bytes }])
    // Visible to verification before the commit.
    expect(await blobs.has(out.hash)).toBe(true)
    expect(await blobs.get(out.hash)).toEqual(bytes)
    staged.release()
    expect(await blobs.has(out.hash)).toBe(false)
    // Committed with its result: served from the journal.
    journal.applyAll([{ changes: [], pricing: [], blobs: staged.blobs }])
    expect(blobs.small(out.hash)).toEqual(bytes)
    expect(await blobs.get(out.hash)).toEqual(bytes)
  })

  it('keeps a blob staged while any result that sent it is uncommitted', () => {
    const out = output('proof', new TextEncoder().encode('same bytes twice'))
    const first = blobs.stage([out])
    const second = blobs.stage([out])
    first.release()
    first.release() // idempotent
    expect(blobs.small(out.hash)).toBeDefined()
    second.release()
    expect(blobs.small(out.hash)).toBeUndefined()
  })

  it('refuses inline bytes that do not match the size or hash the result names, naming the output', () => {
    const good = output('proof', new TextEncoder().encode('honest'))
    const wrongHash = { ...good, hash: contentHash(new TextEncoder().encode('other')) }
    const wrongSize = { ...good, size: good.size + 1 }
    for (const bad of [wrongHash, wrongSize]) {
      const err = (() => {
        try {
          blobs.stage([bad])
        } catch (e) {
          return e
        }
        return undefined
      })()
      expect(GalacticError.is(err, 'PROTOCOL_ERROR')).toBe(true)
      expect((err as Error).message).toContain('output proof')
    }
    expect(blobs.small(good.hash)).toBeUndefined()
  })

  it('inlines small inputs it holds into a task, within the per-task budget, and leaves the rest to fetch', async () => {
    const small = new TextEncoder().encode('left proof')
    const ref = (bytes: Uint8Array) => ({ name: 'proof', hash: contentHash(bytes), size: bytes.byteLength, providers: ['oracle'] })
    journal.applyAll([{ changes: [], pricing: [], blobs: [{ hash: contentHash(small), bytes: small }] }])
    const big = new Uint8Array(LIMITS.inlineBlobBytes + 1)
    await blobs.put(contentHash(big), big)
    const unknown = new TextEncoder().encode('not here')
    const t = task([
      { opId: 'a', outputs: [ref(small)] },
      { opId: 'b', outputs: [ref(big)] },
      { opId: 'c', outputs: [ref(unknown)] },
    ])
    const inlined = blobs.inline(t)
    expect(inlined.inputs.map((i) => i.outputs[0]?.data)).toEqual([Buffer.from(small).toString('base64'), undefined, undefined])
    expect(t.inputs[0]?.outputs[0]?.data).toBeUndefined() // the scheduler's task is not changed
    // Past the budget (1 MiB: 64 blobs of 16 KiB), the rest are fetched.
    const full = new Uint8Array(LIMITS.inlineBlobBytes).fill(7)
    journal.applyAll([{ changes: [], pricing: [], blobs: [{ hash: contentHash(full), bytes: full }] }])
    const pairs = Array.from({ length: 35 }, (_, i) => ({ opId: `x${i}`, outputs: [ref(full), ref(full)] }))
    const budgeted = blobs.inline(task(pairs)).inputs.flatMap((i) => i.outputs)
    expect(budgeted.filter((o) => o.data !== undefined)).toHaveLength(LIMITS.inlineBytesPerTask / LIMITS.inlineBlobBytes)
    expect(budgeted.filter((o) => o.data === undefined)).toHaveLength(70 - LIMITS.inlineBytesPerTask / LIMITS.inlineBlobBytes)
  })
})

describe('TokenBucket credit', () => {
  it('lets owed messages through on top of the rate, then limits as before', () => {
    let now = 0
    const bucket = new TokenBucket({ perSecond: 1, burst: 1, maxStrikes: 5 }, () => now)
    expect(bucket.take()).toBe('ok')
    expect(bucket.take()).toBe('limited')
    bucket.credit(2)
    expect(bucket.take()).toBe('ok')
    expect(bucket.take()).toBe('ok')
    expect(bucket.take()).toBe('limited')
    now += 1000
    expect(bucket.take()).toBe('ok')
    bucket.credit(10, 3)
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual(['ok', 'ok', 'ok', 'limited'])
  })
})
