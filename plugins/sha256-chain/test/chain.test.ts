import { createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { GalacticError } from '@galactic/schemas'
import {
  aggregateProofs,
  chainStep,
  checkProofDigest,
  initialState,
  makeSnark,
  proveSegment,
  runChain,
  runChainSync,
  segmentDigest,
  snarkDigest,
  toHex,
  verifySegmentProof,
  verifySnark,
  type Proof,
} from '../src/index.js'

/** The chain written out the slow, obvious way, as a reference. */
function reference(seed: string, steps: number): string {
  let s = createHash('sha256').update(seed, 'utf8').digest()
  for (let i = 0; i < steps; i++) {
    const idx = Buffer.alloc(8)
    idx.writeBigUInt64BE(BigInt(i))
    s = createHash('sha256').update(Buffer.concat([s, idx])).digest()
  }
  return s.toString('hex')
}

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return err instanceof GalacticError ? err.code : `not a GalacticError: ${String(err)}`
  }
  return undefined
}

describe('chain', () => {
  it('s0 = sha256(seed) and each step hashes the state with the big-endian index', () => {
    expect(toHex(initialState('hello'))).toBe(createHash('sha256').update('hello').digest('hex'))
    expect(toHex(runChainSync('hello', 0, 0))).toBe(reference('hello', 0))
    expect(toHex(runChainSync('hello', 0, 25))).toBe(reference('hello', 25))
    const s0 = initialState('x')
    const idx = Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]) // 2^32 + 2: the high word matters
    expect(toHex(chainStep(s0, 2 ** 32 + 2))).toBe(createHash('sha256').update(Buffer.concat([s0, idx])).digest('hex'))
  })

  it('runChain continues from a state and matches runChainSync across yield points', async () => {
    const mid = await runChain('seed', 0, 12_345)
    const end = await runChain(mid, 12_345, 10_001)
    expect(toHex(end)).toBe(toHex(runChainSync('seed', 0, 22_346)))
    expect(toHex(mid)).toBe(reference('seed', 12_345))
  })

  it('runChain rejects a seed with a non-zero start index and a bad state length', async () => {
    await expect(runChain('seed', 5, 1)).rejects.toThrow(RangeError)
    await expect(runChain(new Uint8Array(31), 0, 1)).rejects.toThrow(RangeError)
  })

  it('runChain stops with TASK_CANCELLED when its signal aborts', async () => {
    const controller = new AbortController()
    // 5 billion steps would outlast the test's timeout: only the abort can end it.
    const run = runChain('seed', 0, 5_000_000_000, controller.signal)
    setTimeout(() => controller.abort(), 20)
    await expect(run).rejects.toMatchObject({ code: 'TASK_CANCELLED' })
  })

  describe('a 3-segment run', () => {
    const seed = 'three segments'
    const n = 1000
    const starts = [toHex(initialState(seed)), toHex(runChainSync(seed, 0, n)), toHex(runChainSync(seed, 0, 2 * n))]
    let proofs: Proof[] = []
    let p0: Proof, p1: Proof, p2: Proof
    beforeAll(async () => {
      proofs = await Promise.all(starts.map((s, k) => proveSegment(s, k * n, (k + 1) * n)))
      ;[p0, p1, p2] = proofs as [Proof, Proof, Proof]
    })

    it('proves each segment with a recomputable digest', () => {
      expect(proofs).toHaveLength(3)
      for (const p of proofs) {
        expect(checkProofDigest(p)).toBe(true)
        expect(verifySegmentProof(p)).toBe(true)
        expect(p.digest).toBe(segmentDigest(p))
      }
      expect(p2.end).toBe(reference(seed, 3 * n))
    })

    it('aggregates, snarks, and verifySnark accepts the result', () => {
      const left = aggregateProofs(p0, p1)
      expect(left).toMatchObject({ kind: 'aggregate', from: 0, to: 2 * n, start: p0.start, end: p1.end, children: [p0.digest, p1.digest] })
      const root = aggregateProofs(left, p2)
      const snark = makeSnark(root, seed, 3 * n)
      expect(snark).toMatchObject({ kind: 'snark', seed, steps: 3 * n, start: starts[0], end: reference(seed, 3 * n) })
      expect(snark.digest).toBe(snarkDigest(snark))
      expect(verifySnark(snark, seed, 3 * n)).toBe(true)
      expect(verifySnark(JSON.parse(JSON.stringify(snark)), seed, 3 * n)).toBe(true)
    })

    it('verifySnark rejects a tampered end, digest, seed or step count', () => {
      const snark = makeSnark(aggregateProofs(aggregateProofs(p0, p1), p2), seed, 3 * n)
      const otherEnd = toHex(runChainSync(seed, 0, 3 * n - 1))
      expect(verifySnark({ ...snark, end: otherEnd }, seed, 3 * n)).toBe(false)
      // A consistent digest over a wrong end is still caught by re-running the chain.
      expect(verifySnark({ ...snark, end: otherEnd, digest: snarkDigest({ ...snark, end: otherEnd }) }, seed, 3 * n)).toBe(false)
      expect(verifySnark({ ...snark, digest: '0'.repeat(64) }, seed, 3 * n)).toBe(false)
      expect(verifySnark(snark, 'other seed', 3 * n)).toBe(false)
      expect(verifySnark(snark, seed, 3 * n + 1)).toBe(false)
      expect(verifySnark({ ...snark, extra: 1 }, seed, 3 * n)).toBe(false)
      expect(verifySnark(null, seed, 3 * n)).toBe(false)
    })

    it('aggregate rejects a bad digest and broken continuity with TASK_INVALID', () => {
      expect(code(() => aggregateProofs(p0, p1))).toBeUndefined()
      expect(code(() => aggregateProofs({ ...p0, end: p2.end }, p1))).toBe('TASK_INVALID') // digest no longer matches
      expect(code(() => aggregateProofs(p0, { ...p1, digest: p0.digest }))).toBe('TASK_INVALID')
      expect(code(() => aggregateProofs(p0, p2))).toBe('TASK_INVALID') // gap: 1000 -> 2000
      expect(code(() => aggregateProofs(p1, p0))).toBe('TASK_INVALID') // wrong order
      // Adjacent by index but the states do not meet (consistent digest, wrong start).
      const forged = { ...p1, start: p2.start }
      const reDigested = { ...forged, digest: segmentDigest(forged) }
      expect(checkProofDigest(reDigested)).toBe(true)
      expect(verifySegmentProof(reDigested)).toBe(false)
      expect(code(() => aggregateProofs(p0, reDigested))).toBe('TASK_INVALID')
    })

    it('snark rejects a root that does not cover the whole chain or has a bad digest', () => {
      const left = aggregateProofs(p0, p1)
      expect(code(() => makeSnark(left, seed, 3 * n))).toBe('TASK_INVALID')
      expect(code(() => makeSnark(aggregateProofs(p1, p2), seed))).toBe('TASK_INVALID') // starts at 1000
      expect(code(() => makeSnark(left, 'other seed'))).toBe('TASK_INVALID')
      expect(code(() => makeSnark({ ...aggregateProofs(left, p2), digest: p0.digest }, seed, 3 * n))).toBe('TASK_INVALID')
      expect(code(() => makeSnark(aggregateProofs(left, p2), seed, 3 * n))).toBeUndefined()
    })
  })

  it('a single segment proof can be the snark root', async () => {
    const p = await proveSegment(toHex(initialState('one')), 0, 500)
    expect(verifySnark(makeSnark(p, 'one', 500), 'one', 500)).toBe(true)
  })
})
