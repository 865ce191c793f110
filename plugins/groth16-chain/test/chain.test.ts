import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { PLUGIN_METHODS, PluginManifest } from '@galactic/schemas'
import {
  DESCRIPTION,
  FIELD_MODULUS,
  MAX_SEGMENTS,
  OP_NAMES,
  PLUGIN_NAME,
  PLUGIN_VERSION,
  commitBoundaries,
  initialState,
  parseOpParams,
  runChain,
  runOp,
  seedElement,
  split,
} from '../src/index.js'
import { loadCircomlibjs } from '../src/vendor.js'
import { rejection } from '../../../test/support/rejection.js'

// Pure parts: no circuit artifacts needed.

describe('chain', () => {
  it('matches circomlibjs reference Poseidon: s0 = P(sha256(seed) mod p), s(i+1) = P(s(i), i)', async () => {
    const ref = await (await loadCircomlibjs()).buildPoseidonReference()
    const h = (xs: bigint[]): bigint => ref.F.toObject(ref(xs))
    let s = h([seedElement('hello')])
    expect(await initialState('hello')).toBe(s)
    const s0 = s
    for (let i = 5; i < 12; i++) s = h([s, BigInt(i)])
    expect(await runChain(s0, 5, 7)).toBe(s)
    expect(seedElement('hello')).toBe(0x2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824n % FIELD_MODULUS)
    expect(await initialState('hellp')).not.toBe(s0)
  })

  it('split records each segment: start, offset, end, each end the next start', async () => {
    const out = await split({ seed: 'abc', segments: 3, segmentSize: 16 })
    expect(out.segments.map((s) => [s.segment, s.offset])).toEqual([
      [0, 0],
      [1, 16],
      [2, 32],
    ])
    expect(out.segments[0]?.start).toBe((await initialState('abc')).toString())
    expect(out.segments[0]?.end).toBe(out.segments[1]?.start)
    expect(out.segments[2]?.end).toBe((await runChain(await initialState('abc'), 0, 48)).toString())
  })

  it('the boundary commitment binds every state, the count and the order', async () => {
    const b = [1n, 2n, 3n]
    const c = await commitBoundaries(b)
    expect(await commitBoundaries([1n, 2n, 3n])).toBe(c)
    expect(await commitBoundaries([1n, 2n, 4n])).not.toBe(c)
    expect(await commitBoundaries([1n, 3n, 2n])).not.toBe(c)
    // Same padded vector [.., 0] but another count.
    expect(await commitBoundaries([1n, 2n, 3n, 0n])).not.toBe(c)
    const full = Array.from({ length: MAX_SEGMENTS + 1 }, (_, i) => BigInt(i + 1))
    const last = [...full]
    last[MAX_SEGMENTS] = 0n
    expect(await commitBoundaries(full)).not.toBe(await commitBoundaries(last))
    await expect(commitBoundaries([1n])).rejects.toThrow(RangeError)
    await expect(commitBoundaries(Array.from({ length: MAX_SEGMENTS + 2 }, () => 1n))).rejects.toThrow(RangeError)
  })
})

describe('params', () => {
  it.each([
    ['seed', { segments: 2, segmentSize: 16 }],
    ['seed', { seed: '', segments: 2, segmentSize: 16 }],
    ['seed', { seed: 7, segments: 2, segmentSize: 16 }],
    ['segments', { seed: 'a', segmentSize: 16 }],
    ['segments', { seed: 'a', segments: 0, segmentSize: 16 }],
    ['segments', { seed: 'a', segments: MAX_SEGMENTS + 1, segmentSize: 16 }],
    ['segments', { seed: 'a', segments: 1.5, segmentSize: 16 }],
    ['segmentSize', { seed: 'a', segments: 2 }],
    ['segmentSize', { seed: 'a', segments: 2, segmentSize: 32 }],
    ['segmentSize', { seed: 'a', segments: 2, segmentSize: 15 }],
    ['segmentSize', { seed: 'a', segments: 2, segmentSize: '16' }],
  ])('split: bad %s -> TASK_INVALID naming it', async (field, params) => {
    const err = await rejection(runOp({ op: 'split', params, inputs: [] }))
    expect(err.code).toBe('TASK_INVALID')
    expect(err.issues.map((i) => i.path)).toEqual([field])
    expect(err.message).toContain(field)
  })

  it('prove: a missing or out-of-range segment is named; non-objects and unknown ops are TASK_INVALID', async () => {
    const base = { seed: 'a', segmentSize: 16 }
    for (const params of [base, { ...base, segment: -1 }, { ...base, segment: MAX_SEGMENTS }, { ...base, segment: 'zero' }]) {
      const err = await rejection(runOp({ op: 'prove', params, inputs: [] }))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.issues.map((i) => i.path)).toEqual(['segment'])
    }
    expect(() => parseOpParams('split', 'nope')).toThrow(expect.objectContaining({ code: 'TASK_INVALID' }))
    expect((await rejection(runOp({ op: 'wrap', params: {}, inputs: [] }))).code).toBe('TASK_INVALID')
  })
})

describe('describe and manifest', () => {
  it('describe is a valid answer that says aggregation is not recursive and the setup is a dev ceremony', () => {
    const d = PLUGIN_METHODS.describe.result.parse(DESCRIPTION)
    expect(d).toMatchObject({ name: 'groth16-chain', version: '1.0.0', protocolVersion: 1 })
    expect(d.ops.map((o) => o.name)).toEqual([...OP_NAMES])
    expect(d.notes).toMatch(/NOT recursive/)
    expect(d.notes).toMatch(/development ceremony/)
  })

  it('galactic-plugin.json is a valid manifest matching describe, and package.json points to it', () => {
    const manifest = PluginManifest.parse(JSON.parse(readFileSync(fileURLToPath(new URL('../galactic-plugin.json', import.meta.url)), 'utf8')))
    expect(manifest).toMatchObject({ name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] })
    expect(manifest.runtime).toEqual({ type: 'process', command: ['node', 'dist/main.js'] })
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as {
      galactic?: { manifest?: string }
      scripts?: Record<string, string>
    }
    expect(pkg.galactic?.manifest).toBe('galactic-plugin.json')
    expect(pkg.scripts?.['setup']).toBe('node scripts/setup.mjs')
  })
})
