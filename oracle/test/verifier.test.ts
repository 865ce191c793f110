import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { MemoryBlobStore } from '@galactic/net'
import { contentHash, type ProducedOutput, type Task } from '@galactic/schemas'
import { runOp } from '@galactic/plugin-sha256-chain'
import { ResultVerifier } from '../src/verifier.js'
import { taskOf } from './helpers.js'

const MANIFEST = fileURLToPath(new URL('../../plugins/sha256-chain/galactic-plugin.json', import.meta.url))
const log = pino({ level: 'silent' })
const params = { seed: 'verify', segments: 2, segmentSteps: 100 }

function task(over: Partial<Task>): Task {
  return taskOf({ params, ...over })
}

async function store(blobs: MemoryBlobStore, data: string, name: string): Promise<ProducedOutput> {
  const bytes = Buffer.from(data, 'base64')
  const hash = contentHash(bytes)
  await blobs.put(hash, bytes)
  return { name, hash, size: bytes.byteLength }
}

describe('ResultVerifier with the real sha256-chain plugin', () => {
  const blobs = new MemoryBlobStore()
  const verifiers: ResultVerifier[] = []
  const make = (mode: 'required' | 'available' | 'off', plugins = [MANIFEST]) => {
    const v = new ResultVerifier({ mode, plugins }, { blobs, log })
    verifiers.push(v)
    return v
  }
  afterAll(async () => {
    await Promise.all(verifiers.map((v) => v.close()))
  })

  it('accepts a true result and refuses a tampered one, with the reason', async () => {
    const verifier = make('required')
    const split = await runOp({ op: 'split', params, inputs: [] })
    const splitOut = await store(blobs, split.outputs[0]!.data, 'segments')
    expect(await verifier.check(task({}), [splitOut])).toBeUndefined()

    const splitRef = { ...splitOut, providers: [] }
    const proveTask = task({ opId: 'prove-1', name: 'prove', params: { ...params, segment: 1 }, inputs: [{ opId: 'split', outputs: [splitRef] }] })
    const prove = await runOp({ op: 'prove', params: proveTask.params, inputs: [{ opId: 'split', name: 'segments', hash: splitOut.hash, data: split.outputs[0]!.data }] })
    expect(await verifier.check(proveTask, [await store(blobs, prove.outputs[0]!.data, 'proof')])).toBeUndefined()

    const claim = JSON.parse(Buffer.from(prove.outputs[0]!.data, 'base64').toString('utf8')) as { end: string }
    claim.end = '00'.repeat(32)
    const lie = await store(blobs, Buffer.from(JSON.stringify(claim)).toString('base64'), 'proof')
    const refused = await verifier.check(proveTask, [lie])
    expect(refused?.code).toBe('RESULT_INVALID')
    expect(refused?.message).toContain('prove-1')
  })

  it('in required mode refuses results it cannot verify; in available mode lets them through; off checks nothing', async () => {
    const other = task({ plugin: { name: 'other-plugin', version: '1.0.0' } })
    const out = await store(blobs, Buffer.from('anything').toString('base64'), 'x')
    expect((await make('required').check(other, [out]))?.code).toBe('RESULT_INVALID')
    expect(await make('available').check(other, [out])).toBeUndefined()
    const garbage = await store(blobs, Buffer.from('{"not":"a split"}').toString('base64'), 'segments')
    expect(await make('off').check(task({}), [garbage])).toBeUndefined()
    expect((await make('available').check(task({}), [garbage]))?.code).toBe('RESULT_INVALID')
    expect((await make('required', []).check(task({}), [garbage]))?.code).toBe('RESULT_INVALID')
  })
})
