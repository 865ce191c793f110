import { taskInvalid } from './task-io.js'

/**
 * The split of the ZKM pipeline over a sequential hash chain, shared by the plugins that prove one
 * (groth16-chain, o1js-chain): run the chain, cut it into segments, and check the segment a
 * `prove` op is given. Each plugin brings its chain and its own output schema.
 */

/** One segment: steps [offset, offset + segmentSize) take `start` = s(offset) to `end`. */
export interface ChainSegment {
  segment: number
  offset: number
  start: string
  end: string
}

/** What `split` outputs. */
export interface ChainSplit<Size extends number = number> {
  kind: 'split'
  seed: string
  segmentSize: Size
  segments: ChainSegment[]
}

/** A chain: its first state from a seed, `steps` steps from step `offset`, a state as text. */
export interface HashChain<State> {
  initial(seed: string): Promise<State>
  run(state: State, offset: number, steps: number, signal?: AbortSignal): Promise<State>
  show(state: State): string
}

/** Runs the whole chain, recording each segment's start, offset and end. */
export async function splitChain<State, Size extends number>(
  chain: HashChain<State>,
  p: { seed: string; segments: number; segmentSize: Size },
  signal?: AbortSignal,
): Promise<ChainSplit<Size>> {
  const segments: ChainSegment[] = []
  let state = await chain.initial(p.seed)
  for (let k = 0; k < p.segments; k++) {
    signal?.throwIfAborted()
    const offset = k * p.segmentSize
    const end = await chain.run(state, offset, p.segmentSize, signal)
    segments.push({ segment: k, offset, start: chain.show(state), end: chain.show(end) })
    state = end
  }
  return { kind: 'split', seed: p.seed, segmentSize: p.segmentSize, segments }
}

/**
 * The segment a `prove` op proves, from the split it is given, checked against the op's params.
 *
 * @throws GalacticError TASK_INVALID: the split was made with other params, `segment` is past it
 * (`details.issues` names `segment`), or its entry is malformed.
 */
export function segmentOf(plan: ChainSplit, p: { seed: string; segmentSize: number; segments?: number | undefined; segment: number }): ChainSegment {
  if (plan.seed !== p.seed || plan.segmentSize !== p.segmentSize || (p.segments !== undefined && plan.segments.length !== p.segments)) {
    throw taskInvalid('the split output was made with other params (seed, segments or segmentSize)')
  }
  if (p.segment >= plan.segments.length) {
    throw taskInvalid(`invalid prove params: segment: must be < segments (${plan.segments.length})`, {
      issues: [{ path: 'segment', message: `must be < segments (${plan.segments.length})` }],
    })
  }
  const seg = plan.segments[p.segment] as ChainSegment
  if (seg.segment !== p.segment || seg.offset !== p.segment * p.segmentSize) throw taskInvalid(`the split output's segment ${p.segment} is malformed`)
  return seg
}
