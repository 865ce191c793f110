import { buildZkmGraph, contentHash, parseGraph } from '@galactic/schemas'
import type { DeviceDescriptor, Graph, GraphInput, Task, TaskOutcome, ZkmGraphOptions } from '@galactic/schemas'
import type { Action, Change, GraphRecord, OpRecord, ProverRecord, Snapshot, Step } from '../src/core/index.js'

export const PLUGIN = { name: 'sha256-chain', version: '1.0.0' } as const

/** A clock tests move by hand. */
export class FakeClock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t
  }
  advance(ms: number): void {
    this.t += ms
  }
}

export function device(over: Partial<DeviceDescriptor> = {}): DeviceDescriptor {
  return {
    os: 'linux',
    cpu: { model: 'test', arch: 'x64', cores: 8 },
    gpus: [],
    memoryMiB: 16_384,
    plugins: [{ ...PLUGIN }],
    ...over,
  }
}

export function zkm(segments: number, over: Partial<ZkmGraphOptions> = {}): Graph {
  return parseGraph(buildZkmGraph({ requester: 'alice', nonce: `n${segments}`, segments, plugin: { ...PLUGIN }, ...over }))
}

/** A graph of independent ops with the given requirements. */
export function flat(ids: string[], over: Partial<GraphInput['ops'][number]> = {}, nonce = 'flat'): Graph {
  return parseGraph({ requester: 'bob', nonce, ops: ids.map((id) => ({ id, name: 'prove', plugin: { ...PLUGIN }, ...over })) })
}

export function outputHash(task: { graphId: string; opId: string; attempt: number }): string {
  return contentHash(new TextEncoder().encode(`${task.graphId}/${task.opId}#${task.attempt}`))
}

export function success(task: Task): TaskOutcome {
  return { ok: true, outputs: [{ name: 'proof', hash: outputHash(task), size: 32 }] }
}

export const failure: TaskOutcome = { ok: false, error: { code: 'PLUGIN_FAILED', message: 'boom' } }

export function assigns(step: Step): Array<Extract<Action, { type: 'assign' }>> {
  return step.actions.filter((a): a is Extract<Action, { type: 'assign' }> => a.type === 'assign')
}

export function cancels(step: Step): Array<Extract<Action, { type: 'cancel' }>> {
  return step.actions.filter((a): a is Extract<Action, { type: 'cancel' }> => a.type === 'cancel')
}

/** Stores Changes the way the journal does (upsert by key), without SQLite. */
export class MemoryStore {
  readonly graphs = new Map<string, GraphRecord>()
  readonly ops = new Map<string, OpRecord>()
  readonly provers = new Map<string, ProverRecord>()

  apply(changes: Change[]): void {
    for (const c of changes) {
      if (c.type === 'graph.put') this.graphs.set(c.graph.graphId, structuredClone(c.graph))
      else if (c.type === 'op.put') this.ops.set(`${c.op.graphId}/${c.op.spec.id}`, structuredClone(c.op))
      else this.provers.set(c.prover.proverId, structuredClone(c.prover))
    }
  }

  snapshot(): Snapshot {
    const seq = (g: string) => this.graphs.get(g)?.seq ?? 0
    return {
      graphs: [...this.graphs.values()].sort((a, b) => a.seq - b.seq),
      ops: [...this.ops.values()].sort((a, b) => seq(a.graphId) - seq(b.graphId) || a.index - b.index),
      provers: [...this.provers.values()],
    }
  }
}

/** A task as the oracle hands it out: sha256-chain's split in g1 unless `over` says otherwise. */
export function taskOf(over: Partial<Task> = {}): Task {
  return {
    graphId: 'g1',
    opId: 'split',
    attempt: 1,
    name: 'split',
    plugin: { name: 'sha256-chain', version: '1.0.0' },
    params: null,
    requirements: {},
    inputs: [],
    timeoutMs: 60_000,
    pluginMode: 'efficiency',
    ...over,
  }
}
