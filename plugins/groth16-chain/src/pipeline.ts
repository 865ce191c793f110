import { contentHash, type PluginParams, type PluginResult } from '@galactic/schemas'
import { Artifacts } from './artifacts.js'
import { SnarkOutput, type Proof, type SegmentSize, type SplitOutput } from './chain.js'
import { runOp } from './ops.js'

type Input = PluginParams<'start'>['inputs'][number]
type Output = PluginResult<'start'>['outputs'][number]

/** Options of {@link runPipeline}. */
export interface RunPipelineOptions {
  seed: string
  /** 1..64 */
  segments: number
  /** @default 16 */
  segmentSize?: SegmentSize
  /** @default new Artifacts() (`<plugin>/artifacts` or `$GALACTIC_GROTH16_ARTIFACTS`) */
  artifacts?: Artifacts
  signal?: AbortSignal
  /** Called after each op with its id (as `buildZkmGraph` names them) and its wall time. */
  onOp?: (opId: string, ms: number) => void
}

/** What {@link runPipeline} made, op by op. */
export interface PipelineResult {
  split: SplitOutput
  proofs: Proof[]
  /** The aggregation tree's root (the only segment proof when there is one segment). */
  root: Proof
  snark: SnarkOutput
}

/** An op's output as the next op's input, the way the agent hands it over. */
export function asInput(opId: string, output: Output): Input {
  return { opId, name: output.name, hash: contentHash(Buffer.from(output.data, 'base64')), data: output.data }
}

/** An output's JSON. */
export function decodeOutput(output: Output): unknown {
  return JSON.parse(Buffer.from(output.data, 'base64').toString('utf8')) as unknown
}

/**
 * Runs the whole ZKM pipeline in this process, through the same `runOp` the plugin serves and in
 * the shape `buildZkmGraph` builds: split -> prove x N -> binary aggregation tree (an odd proof
 * carried up a level) -> snark. Proves segments one after the other.
 *
 * @example
 * const { snark } = await runPipeline({ seed: 'hello', segments: 4 })
 * console.log((await verifyFinal(snark, { seed: 'hello' })).valid) // true
 * await releaseProver()
 */
export async function runPipeline(options: RunPipelineOptions): Promise<PipelineResult> {
  const artifacts = options.artifacts ?? new Artifacts()
  const shared = { seed: options.seed, segments: options.segments, segmentSize: options.segmentSize ?? 16 }
  const ctx = { artifacts, ...(options.signal === undefined ? {} : { signal: options.signal }) }
  const step = async (opId: string, op: string, params: Record<string, unknown>, inputs: Input[]): Promise<Output> => {
    const t = performance.now()
    const { outputs } = await runOp({ op, params: { ...shared, ...params }, inputs }, ctx)
    options.onOp?.(opId, performance.now() - t)
    return outputs[0] as Output
  }
  const splitOut = await step('split', 'split', {}, [])
  const splitIn = asInput('split', splitOut)
  let level: Array<{ id: string; out: Output }> = []
  for (let i = 0; i < shared.segments; i++) level.push({ id: `prove-${i}`, out: await step(`prove-${i}`, 'prove', { segment: i }, [splitIn]) })
  const proofs = level.map((l) => decodeOutput(l.out) as Proof)
  for (let depth = 0; level.length > 1; depth++) {
    const next: typeof level = []
    for (let i = 0; i + 1 < level.length; i += 2) {
      const a = level[i] as (typeof level)[number]
      const b = level[i + 1] as (typeof level)[number]
      const id = `agg-${depth}-${i / 2}`
      next.push({ id, out: await step(id, 'aggregate', {}, [asInput(a.id, a.out), asInput(b.id, b.out)]) })
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1] as (typeof level)[number])
    level = next
  }
  const top = level[0] as (typeof level)[number]
  const snarkOut = await step('snark', 'snark', {}, [asInput(top.id, top.out)])
  return {
    split: decodeOutput(splitOut) as SplitOutput,
    proofs,
    root: decodeOutput(top.out) as Proof,
    snark: SnarkOutput.parse(decodeOutput(snarkOut)),
  }
}
