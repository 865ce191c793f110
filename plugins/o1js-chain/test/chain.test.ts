import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Field, Poseidon } from 'o1js'
import { describe, expect, it } from 'vitest'
import { PluginManifest } from '@galactic/schemas'
import {
  DESCRIPTION,
  FIELD_MODULUS,
  KeyCache,
  MAX_SEGMENTS,
  OP_NAMES,
  PLUGIN_NAME,
  PLUGIN_VERSION,
  SETUP_COMMAND,
  chooseBackend,
  claimError,
  continuityError,
  initialState,
  o1jsVersion,
  parseOpParams,
  runChain,
  runOp,
  seedElement,
  split,
  verifyOp,
  type ChainProof,
} from '../src/index.js'
import { rejection } from '../../../test/support/rejection.js'

// Pure parts: no keys, no proofs.

const PLUGIN_DIR = fileURLToPath(new URL('..', import.meta.url))

describe('chain', () => {
  it('s0 = Poseidon(sha256(seed) mod p), s(i+1) = Poseidon(s(i), i), as o1js computes it on Fields', async () => {
    expect(FIELD_MODULUS).toBe(Field.ORDER)
    const h = (xs: bigint[]): bigint => Poseidon.hash(xs.map((x) => Field(x))).toBigInt()
    expect(seedElement('hello')).toBe(0x2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824n % FIELD_MODULUS)
    const s0 = h([seedElement('hello')])
    expect(await initialState('hello')).toBe(s0)
    let s = s0
    for (let i = 5; i < 12; i++) s = h([s, BigInt(i)])
    expect(await runChain(s0, 5, 7)).toBe(s)
    expect(await initialState('hellp')).not.toBe(s0)
  })

  it('split records each segment: start, offset, end, each end the next start', async () => {
    const out = await split({ seed: 'abc', segments: 3, segmentSize: 16 })
    expect(out.segments.map((s) => [s.segment, s.offset])).toEqual([
      [0, 0],
      [1, 16],
      [2, 32],
    ])
    const s0 = await initialState('abc')
    expect(out.segments[0]?.start).toBe(s0.toString())
    expect(out.segments[0]?.end).toBe(out.segments[1]?.start)
    expect(out.segments[1]?.end).toBe(out.segments[2]?.start)
    expect(out.segments[2]?.end).toBe((await runChain(s0, 0, 48)).toString())
  })

  it('a long chain can be cancelled: runChain yields to events and checks its signal', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('stop')), 50)
    await expect(runChain(1n, 0, 1_000_000, controller.signal)).rejects.toThrow('stop')
  })
})

describe('ops without proofs', () => {
  it('describe matches the manifest: name, version, ops', () => {
    const manifest = PluginManifest.parse(JSON.parse(readFileSync(join(PLUGIN_DIR, 'galactic-plugin.json'), 'utf8')))
    expect(manifest).toMatchObject({ name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] })
    expect(DESCRIPTION.ops.map((o) => o.name)).toEqual([...OP_NAMES])
    expect(DESCRIPTION.notes).toMatch(/recursive/)
    expect(DESCRIPTION.notes).toMatch(/snark makes no new proof/)
  })

  it('bad params are TASK_INVALID naming the field', async () => {
    const cases: Array<[string, Record<string, string | number>, string]> = [
      ['split', { seed: 'a', segments: 2, segmentSize: 17 }, 'segmentSize'],
      ['split', { seed: 'a', segments: 0 }, 'segments'],
      ['split', { seed: 'a', segments: MAX_SEGMENTS + 1 }, 'segments'],
      ['split', { segments: 2 }, 'seed'],
      ['prove', { seed: 'a', segment: -1 }, 'segment'],
    ]
    for (const [op, params, path] of cases) {
      const err = await rejection(runOp({ op, params, inputs: [] }))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.issues.map((i) => i.path)).toEqual([path])
    }
    expect(parseOpParams('split', { seed: 'a', segments: 2 }).segmentSize).toBe(16)
    expect((await rejection(runOp({ op: 'fold', params: {}, inputs: [] }))).code).toBe('TASK_INVALID')
    expect((await rejection(runOp({ op: 'split', params: { seed: 'a', segments: 1 }, inputs: [{ opId: 'x', name: 'y', hash: `sha256:${'0'.repeat(64)}`, data: '' }] }))).code).toBe(
      'TASK_INVALID',
    )
  })

  it('a prove of a segment past the split is named; split outputs are checked by recomputing them', async () => {
    const params = { seed: 'v', segments: 2 }
    const { outputs } = await runOp({ op: 'split', params, inputs: [] })
    const splitIn = { opId: 'split', name: 'segments', hash: `sha256:${'0'.repeat(64)}` as const, data: outputs[0]?.data ?? '' }
    const err = await rejection(runOp({ op: 'prove', params: { seed: 'v', segment: 2 }, inputs: [splitIn] }))
    expect(err.code).toBe('TASK_INVALID')
    expect(err.issues.map((i) => i.path)).toEqual(['segment'])
    expect(await verifyOp({ op: 'split', params, inputs: [], outputs })).toEqual({ valid: true })
    expect((await verifyOp({ op: 'split', params: { ...params, seed: 'w' }, inputs: [], outputs })).valid).toBe(false)
    expect((await verifyOp({ op: 'split', params, inputs: [], outputs: [] })).valid).toBe(false)
  })
})

describe('claims and continuity (no proof verification)', () => {
  const vk = { hash: '42', data: 'AAAA' }
  const record = (first: number, last: number, start: string, end: string): ChainProof => ({
    kind: 'proof',
    segmentSize: 16,
    firstSegment: first,
    lastSegment: last,
    offset: first * 16,
    steps: (last - first + 1) * 16,
    start,
    end,
    verificationKeyHash: '42',
    proof: { publicInput: [], publicOutput: [start, String(first * 16), String((last - first + 1) * 16), end], maxProofsVerified: 2, proof: 'AAAA' },
  })

  it('a claim must match its public output, its segments and the verification key', () => {
    const good = record(2, 3, '7', '9')
    expect(claimError(good, vk)).toBeUndefined()
    expect(claimError({ ...good, end: '10' }, vk)).toMatch(/public output/)
    expect(claimError({ ...good, steps: 16 }, vk)).toMatch(/steps/)
    expect(claimError({ ...good, offset: 16 }, vk)).toMatch(/offset/)
    expect(claimError(good, { ...vk, hash: '43' })).toMatch(/verification key/)
    expect(claimError({ ...good, proof: { ...good.proof, publicInput: ['1'] } }, vk)).toMatch(/public input/)
  })

  it('continuity: adjacent segments, adjacent offsets, left end = right start', () => {
    expect(continuityError(record(0, 0, '1', '2'), record(1, 1, '2', '3'))).toBeUndefined()
    expect(continuityError(record(0, 1, '1', '2'), record(2, 3, '2', '3'))).toBeUndefined()
    expect(continuityError(record(1, 1, '2', '3'), record(0, 0, '1', '2'))).toMatch(/not adjacent/)
    expect(continuityError(record(0, 0, '1', '2'), record(2, 2, '2', '3'))).toMatch(/not adjacent/)
    expect(continuityError(record(0, 0, '1', '2'), record(1, 1, '5', '3'))).toMatch(/end state/)
    expect(continuityError(record(0, 0, '1', '2'), { ...record(1, 1, '2', '3'), offset: 17 })).toMatch(/offsets/)
  })
})

describe('keys and backend', () => {
  it('missing keys fail with PLUGIN_FAILED naming the file and the setup command', () => {
    const dir = join(tmpdir(), 'galactic-o1js-none')
    let err: unknown
    try {
      new KeyCache(dir).check()
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'PLUGIN_FAILED', details: { missing: join(dir, 'verification-key.json'), command: SETUP_COMMAND } })
    expect(String((err as Error).message)).toContain(SETUP_COMMAND)
  })

  it('keys made by another o1js version are refused as stale', () => {
    const dir = mkdtempSync(join(tmpdir(), 'galactic-o1js-'))
    try {
      const file = { program: 'galactic-o1js-chain', segmentSize: 16, o1js: '0.0.1', key: 'k', hash: '1', data: 'AAAA' }
      writeFileSync(join(dir, 'verification-key.json'), JSON.stringify(file))
      expect(() => new KeyCache(dir).check()).toThrow(/o1js 0\.0\.1/)
      writeFileSync(join(dir, 'verification-key.json'), JSON.stringify({ ...file, o1js: o1jsVersion() }))
      expect(new KeyCache(dir).verificationKey()).toEqual({ hash: '1', data: 'AAAA' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the backend is O1JS_BACKEND when set, else native when its add-on is installed; a bad value is named', () => {
    expect(chooseBackend({ O1JS_BACKEND: 'wasm' })).toBe('wasm')
    expect(chooseBackend({ O1JS_BACKEND: 'native' })).toBe('native')
    expect(['native', 'wasm']).toContain(chooseBackend({}))
    expect(() => chooseBackend({ O1JS_BACKEND: 'gpu' })).toThrow(/O1JS_BACKEND/)
  })
})
