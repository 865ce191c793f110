import type { PluginRef } from './device.js'
import type { GraphInput, PluginMode, Priority } from './graph.js'
import type { OperationInput, Requirements } from './operation.js'

/** Where the ZKM pipeline stops, as the ZKM stage service allows. */
export type ZkmStopAfter = 'split' | 'agg' | 'snark'

export interface ZkmGraphOptions {
  requester: string
  nonce: string
  /** Number of segments the execution is cut into (one prove op each). */
  segments: number
  /** Plugin that serves the split, prove, aggregate and snark ops. */
  plugin: PluginRef
  /** Params shared by every op (the program, its start state, segment size...). */
  params?: Record<string, unknown>
  /** @default 'snark' */
  stopAfter?: ZkmStopAfter
  /** End after the prove ops: no aggregation, no snark (ZKM's composite proofs). @default false */
  composite?: boolean
  priority?: Priority
  pluginMode?: PluginMode
  /** Per stage device requirements, e.g. `{ snark: {} }` for a CPU-only wrap. */
  requirements?: Partial<Record<'split' | 'prove' | 'aggregate' | 'snark', Requirements>>
  timeoutMs?: number
}

/**
 * Builds the ZKM proving pipeline as a graph: Split -> Prove x N -> a binary
 * aggregation tree (an odd proof is carried up a level unchanged) -> Snark.
 *
 * Op ids: `split`, `prove-<i>`, `agg-<level>-<i>`, `snark`. Every prove op consumes the
 * split's output and gets `params.segment = i`; every op gets `params.segments`; every aggregate consumes two proofs,
 * left then right; the snark consumes the root.
 *
 * @example
 * const graph = buildZkmGraph({ requester: 'alice', nonce: '1', segments: 4,
 *   plugin: { name: 'sha256-chain', version: '1.0.0' }, params: { seed: 'hello', segmentSteps: 1000 } })
 */
export function buildZkmGraph(options: ZkmGraphOptions): GraphInput {
  const { segments, plugin } = options
  if (!Number.isInteger(segments) || segments < 1) throw new RangeError('segments must be an integer >= 1')
  const shared = { ...options.params, segments }
  const stopAfter = options.stopAfter ?? 'snark'
  const req = options.requirements ?? {}
  const base = (id: string, name: string, inputs: string[], params: Record<string, unknown>, r: Requirements | undefined): OperationInput => ({
    id,
    name,
    inputs,
    plugin,
    params: { ...shared, ...params } as OperationInput['params'],
    ...(r === undefined ? {} : { requirements: r }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  })
  const ops: OperationInput[] = [base('split', 'split', [], {}, req.split)]
  if (stopAfter !== 'split') {
    let level: string[] = []
    for (let i = 0; i < segments; i++) {
      ops.push(base(`prove-${i}`, 'prove', ['split'], { segment: i }, req.prove))
      level.push(`prove-${i}`)
    }
    if (options.composite !== true) {
      let depth = 0
      while (level.length > 1) {
        const next: string[] = []
        for (let i = 0; i + 1 < level.length; i += 2) {
          const id = `agg-${depth}-${i / 2}`
          ops.push(base(id, 'aggregate', [level[i] as string, level[i + 1] as string], {}, req.aggregate))
          next.push(id)
        }
        if (level.length % 2 === 1) next.push(level[level.length - 1] as string)
        level = next
        depth++
      }
      if (stopAfter === 'snark') ops.push(base('snark', 'snark', [level[0] as string], {}, req.snark))
    }
  }
  return {
    requester: options.requester,
    nonce: options.nonce,
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.pluginMode === undefined ? {} : { pluginMode: options.pluginMode }),
    ops,
  }
}
