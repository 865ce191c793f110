import { describe, expect, it } from 'vitest'
import { thrown } from '../../test/support/rejection.js'
import { segmentOf, splitChain, type HashChain } from '../src/index.js'

// A toy chain: s(i+1) = s(i) * 31 + i, from s(0) = the seed's length.
const chain: HashChain<number> = {
  initial: async (seed) => seed.length,
  run: async (state, offset, steps) => {
    let s = state
    for (let i = offset; i < offset + steps; i++) s = (s * 31 + i) % 1_000_003
    return s
  },
  show: (s) => String(s),
}

describe('ZKM split over a hash chain', () => {
  it('cuts the chain into segments that continue each other and end where one run of the whole chain ends', async () => {
    const plan = await splitChain(chain, { seed: 'abc', segments: 3, segmentSize: 4 })
    expect(plan.segments.map((s) => [s.segment, s.offset])).toEqual([[0, 0], [1, 4], [2, 8]])
    for (let k = 1; k < 3; k++) expect(plan.segments[k]?.start).toBe(plan.segments[k - 1]?.end)
    expect(plan.segments[0]?.start).toBe('3')
    expect(plan.segments[2]?.end).toBe(String(await chain.run(3, 0, 12)))
    await expect(splitChain(chain, { seed: 'abc', segments: 3, segmentSize: 4 }, AbortSignal.abort())).rejects.toThrow()
  })

  it("gives a prove op its segment, and refuses a split made with other params or a segment past it, naming the field", async () => {
    const plan = await splitChain(chain, { seed: 'abc', segments: 3, segmentSize: 4 })
    expect(segmentOf(plan, { seed: 'abc', segmentSize: 4, segments: 3, segment: 2 })).toEqual(plan.segments[2])
    expect(segmentOf(plan, { seed: 'abc', segmentSize: 4, segment: 1 })).toEqual(plan.segments[1])
    for (const other of [{ seed: 'abd' }, { segmentSize: 8 }, { segments: 4 }]) {
      expect(thrown(() => segmentOf(plan, { seed: 'abc', segmentSize: 4, segment: 0, ...other }), 'TASK_INVALID').message).toContain('other params')
    }
    expect(thrown(() => segmentOf(plan, { seed: 'abc', segmentSize: 4, segment: 3 }), 'TASK_INVALID').details?.['issues']).toEqual([{ path: 'segment', message: 'must be < segments (3)' }])
    const moved = { ...plan, segments: plan.segments.map((s) => (s.segment === 1 ? { ...s, offset: 5 } : s)) }
    expect(thrown(() => segmentOf(moved, { seed: 'abc', segmentSize: 4, segment: 1 }), 'TASK_INVALID').message).toContain('malformed')
  })
})
