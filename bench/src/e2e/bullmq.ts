import { FlowProducer, Queue, QueueEvents, Worker, type FlowJob, type Job } from 'bullmq'
import type { GraphInput } from '@galactic/schemas'
import type { Cleanup } from './cleanup.js'
import type { CpuTimes } from './proc-cpu.js'
import { noopOutput, outputHash } from './noop-work.js'
import { summarize, type Summary } from './stats.js'

export interface BullmqInit {
  port: number
  /** One Worker in this process with this concurrency. */
  concurrency: number
  signal: AbortSignal
}

interface JobData {
  op: string
  params: unknown
  /** Hashes of the inputs known when the job is added (the split's output, for proves). */
  inputs: string[]
  /** Job ids of the children whose results are this job's inputs, in order. */
  children: string[]
}

export interface FlowRun {
  jobs: number
  /** First add (the split) to the snark's completion seen through QueueEvents. */
  wallMs: number
  /** Ready -> processedOn per job: ready is the later of job.timestamp and its children's finishedOn. */
  readyToProcessed: Summary
  /** job.timestamp -> processedOn per job, as BullMQ records them (a parent's includes its wait for children). */
  addedToProcessed: Summary
  sinkOutput: string
  /** CPU snapshots at the edges of wallMs (with a probe): the checks after it are not counted. */
  cpu?: { before: CpuTimes; after: CpuTimes }
}

export interface BullmqHarness {
  /** Runs one DAG: the split alone, then the rest as one flow under the snark. */
  run(graph: GraphInput, tag: string, cpuProbe?: () => CpuTimes): Promise<FlowRun>
}

/**
 * One Queue, FlowProducer, QueueEvents and Worker on 127.0.0.1:`port`, all in this process. The
 * worker does what plugins/noop does: hashes the op's params and its inputs' hashes; parents read
 * their children's results with getChildrenValues (one Redis call), as a real DAG passes data.
 */
export async function startBullmq(init: BullmqInit, cleanup: Cleanup): Promise<BullmqHarness> {
  const connection = { host: '127.0.0.1', port: init.port }
  const name = 'e2e'
  const queue = new Queue<JobData, string>(name, { connection })
  cleanup.add('close the BullMQ queue', () => queue.close())
  const flow = new FlowProducer({ connection })
  cleanup.add('close the BullMQ flow producer', () => flow.close())
  const events = new QueueEvents(name, { connection })
  cleanup.add('close the BullMQ queue events', () => events.close())
  const worker = new Worker<JobData, string>(
    name,
    async (job: Job<JobData, string>) => {
      let inputs = job.data.inputs
      if (job.data.children.length > 0) {
        const values = (await job.getChildrenValues<string>()) ?? {}
        inputs = job.data.children.map((id) => {
          const value = values[queue.toKey(id)]
          if (value === undefined) throw new Error(`${job.id}: no result from child ${id}`)
          return outputHash(value)
        })
      }
      return noopOutput(job.data.op, job.data.params, inputs)
    },
    { connection, concurrency: init.concurrency },
  )
  cleanup.add('close the BullMQ worker', () => worker.close())
  const failures: string[] = []
  worker.on('failed', (job, err) => failures.push(`${job?.id ?? '?'}: ${err.message}`))
  await Promise.all([queue.waitUntilReady(), flow.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()])

  const run = async (graph: GraphInput, tag: string, cpuProbe?: () => CpuTimes): Promise<FlowRun> => {
    const id = (opId: string): string => `${tag}-${opId}`
    const ops = new Map(graph.ops.map((op) => [op.id, op]))
    const split = ops.get('split')
    const snark = ops.get('snark')
    if (split === undefined || snark === undefined) throw new Error('the graph needs a split and a snark op')
    const timeout = 120_000
    const cpuBefore = cpuProbe?.()
    const t0 = performance.now()
    const splitJob = await queue.add('split', { op: split.name, params: split.params, inputs: [], children: [] }, { jobId: id('split') })
    const splitOutput = (await splitJob.waitUntilFinished(events, timeout)) as string
    const splitHash = outputHash(splitOutput)
    // The tree under the snark: each op's children are its inputs, but the split (already done).
    const node = (opId: string): FlowJob => {
      const op = ops.get(opId)
      if (op === undefined) throw new Error(`unknown op ${opId}`)
      const inputs = op.inputs ?? []
      const children = inputs.filter((i) => i !== 'split')
      const data: JobData = { op: op.name, params: op.params, inputs: inputs.includes('split') ? [splitHash] : [], children: children.map(id) }
      return {
        name: op.name,
        queueName: name,
        data,
        opts: { jobId: id(opId) },
        ...(children.length === 0 ? {} : { children: children.map(node) }),
      } as FlowJob
    }
    const tree = await flow.add(node('snark'))
    const sinkOutput = (await tree.job.waitUntilFinished(events, timeout)) as string
    const wallMs = performance.now() - t0
    const cpuAfter = cpuProbe?.()
    if (failures.length > 0) throw new Error(`BullMQ jobs failed: ${failures.slice(0, 3).join('; ')}`)
    init.signal.throwIfAborted()

    const done = await queue.getJobs(['completed'], 0, -1)
    const byId = new Map(done.map((j) => [j.id, j]))
    const ready: number[] = []
    const added: number[] = []
    for (const op of graph.ops) {
      const job = byId.get(id(op.id))
      if (job === undefined || job.processedOn === undefined || job.finishedOn === undefined) throw new Error(`job ${id(op.id)} did not complete`)
      let at = job.timestamp
      for (const input of op.inputs ?? []) at = Math.max(at, byId.get(id(input))?.finishedOn ?? at)
      ready.push(job.processedOn - at)
      added.push(job.processedOn - job.timestamp)
    }
    const cpu = cpuBefore === undefined || cpuAfter === undefined ? {} : { cpu: { before: cpuBefore, after: cpuAfter } }
    return { jobs: graph.ops.length, wallMs, readyToProcessed: summarize(ready), addedToProcessed: summarize(added), sinkOutput, ...cpu }
  }
  return { run }
}
