import { describe, expect, it } from 'vitest'
import type { GraphStatus } from '@galactic/sdk'
import { Progress } from '../src/format.js'

function status(states: Array<[string, string, GraphStatus['ops'][number]['state']]>): GraphStatus {
  return {
    graphId: 'g1',
    requester: 'r',
    nonce: 'n',
    priority: 'cost',
    pluginMode: 'efficiency',
    state: 'running',
    submittedAt: 0,
    finishedAt: null,
    ops: states.map(([id, name, state]) => ({ id, name, state }) as unknown as GraphStatus['ops'][number]),
  }
}

describe('the submit --watch progress line', () => {
  it('counts ops done overall and by stage, with elapsed time and an ETA at the pace so far', () => {
    const p = new Progress(0)
    p.apply({ type: 'snapshot', status: status([['split', 'split', 'succeeded'], ['prove-0', 'prove', 'running'], ['prove-1', 'prove', 'ready'], ['snark', 'snark', 'pending']]) })
    expect(p.line(10_000)).toBe('[#####---------------] 1/4 ops  split 1/1 · prove 0/2 · snark 0/1  10s ETA 30s')
    const op = { type: 'op', graphId: 'g1', attempt: 1, deviceIds: null, outputs: null, error: null, at: 0 } as const
    p.apply({ ...op, opId: 'prove-0', state: 'succeeded' })
    p.apply({ ...op, opId: 'prove-1', state: 'succeeded' })
    expect(p.line(12_000)).toBe('[###############-----] 3/4 ops  split 1/1 · prove 2/2 · snark 0/1  12s ETA 4.0s')
    p.apply({ ...op, opId: 'snark', state: 'succeeded' })
    p.apply({ type: 'graph', graphId: 'g1', state: 'succeeded', at: 0 })
    expect(p.line(90_000)).toBe('[####################] 4/4 ops  split 1/1 · prove 2/2 · snark 1/1  1m30s succeeded')
  })

  it('fits the terminal width', () => {
    const p = new Progress(0)
    p.apply({ type: 'snapshot', status: status([['split', 'split', 'running']]) })
    expect(p.line(1_000, 30)).toHaveLength(29)
  })
})
