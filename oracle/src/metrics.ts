import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ContentHash } from '@galactic/schemas'
import type { BlobStore } from '@galactic/net'
import type { Scheduler, SchedulerMetrics, Step } from './core/index.js'

/**
 * The oracle's Prometheus metrics. Gauges are read from the scheduler at scrape time;
 * counters and histograms are fed from each committed Step. Names end in their unit.
 */
export class OracleMetrics {
  readonly registry = new Registry()
  private readonly readyAt = new Map<string, number>()
  private readonly placement: Histogram
  private readonly transitions: Counter
  private readonly graphsFinished: Counter
  readonly blobBytes: Counter
  readonly resultsRefused: Counter
  /** The current P_gas (docs/pricing.md), set each epoch. */
  readonly pGas: Gauge
  readonly gasDemand: Gauge
  readonly gasSupply: Gauge
  /** Fed by the scheduler core with the CPU time of each placement decision. */
  readonly schedulerHook: SchedulerMetrics

  constructor(scheduler: () => Scheduler | undefined) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'galactic_oracle_' })
    this.placement = new Histogram({
      name: 'galactic_placement_latency_seconds',
      help: 'Time from an op becoming ready to its assignment to a prover',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers,
    })
    this.transitions = new Counter({
      name: 'galactic_op_transitions_total',
      help: 'Op state changes, by the state entered',
      labelNames: ['state'],
      registers,
    })
    this.graphsFinished = new Counter({
      name: 'galactic_graphs_finished_total',
      help: 'Graphs that ended, by final state',
      labelNames: ['state'],
      registers,
    })
    this.resultsRefused = new Counter({
      name: 'galactic_results_refused_total',
      help: 'Results refused because verification rejected them (counted as failures of their prover)',
      registers,
    })
    this.pGas = new Gauge({
      name: 'galactic_pgas_wei_per_gas',
      help: 'The current price per gas (P_gas), in wei; an op costs P_gas x its gas',
      registers,
    })
    this.gasDemand = new Gauge({
      name: 'galactic_gas_demand_gas',
      help: 'Gas of the ops waiting or running, at the last P_gas epoch',
      registers,
    })
    this.gasSupply = new Gauge({
      name: 'galactic_gas_supply_gas_per_second',
      help: 'Gas per second of the live provers with a free slot, at the last P_gas epoch',
      registers,
    })
    this.blobBytes = new Counter({
      name: 'galactic_blob_bytes_total',
      help: 'Output bytes moved through the oracle: in (uploaded, or inline in results) and out (downloaded, or inline in assignments)',
      labelNames: ['direction'],
      registers,
    })
    const decision = new Histogram({
      name: 'galactic_placement_decision_seconds',
      help: 'Time the scheduler spends deciding one placement (filter, score, reserve, bind)',
      labelNames: ['outcome'],
      buckets: [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 1e-2],
      registers,
    })
    this.schedulerHook = {
      placed: (ns) => decision.observe({ outcome: 'placed' }, ns / 1e9),
      unschedulable: (ns) => decision.observe({ outcome: 'unschedulable' }, ns / 1e9),
    }
    new Gauge({
      name: 'galactic_queue_depth_ops',
      help: 'Ops ready and waiting for a prover',
      registers,
      collect() {
        this.set(scheduler()?.counts().opsReady ?? 0)
      },
    })
    new Gauge({
      name: 'galactic_ops_in_flight',
      help: 'Ops assigned to or running on a prover',
      registers,
      collect() {
        this.set(scheduler()?.counts().opsRunning ?? 0)
      },
    })
    new Gauge({
      name: 'galactic_graphs_running',
      help: 'Graphs accepted and not finished',
      registers,
      collect() {
        this.set(scheduler()?.counts().graphsRunning ?? 0)
      },
    })
    new Gauge({
      name: 'galactic_provers',
      help: 'Provers by state: live (connected, heartbeating), busy (live with work), lost (missed heartbeats), disconnected, banned (window or permanent)',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = { live: 0, busy: 0, lost: 0, disconnected: 0, banned: 0 }
        const core = scheduler()
        for (const p of core?.provers() ?? []) {
          if (core?.proverState(p.proverId)?.banned === true) counts.banned++
          if (p.state === 'lost') counts.lost++
          else if (!p.connected) counts.disconnected++
          else {
            counts.live++
            if (p.running.length > 0) counts.busy++
          }
        }
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
      },
    })
  }

  /** Counts what a committed Step did. */
  observe(step: Step): void {
    for (const e of step.events) {
      if (e.type === 'graph') {
        if (e.state !== 'running') this.graphsFinished.inc({ state: e.state })
        continue
      }
      this.transitions.inc({ state: e.state })
      const key = `${e.graphId}/${e.opId}`
      if (e.state === 'ready') this.readyAt.set(key, e.at)
      else if (e.state === 'assigned') {
        const since = this.readyAt.get(key)
        if (since !== undefined) this.placement.observe(Math.max(0, e.at - since) / 1000)
        this.readyAt.delete(key)
      } else if (e.state === 'succeeded' || e.state === 'failed') this.readyAt.delete(key)
    }
  }

  async text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}

/** A BlobStore that counts the bytes going through it. */
export function countingBlobStore(inner: BlobStore, bytes: Counter): BlobStore {
  return {
    has: (hash: ContentHash) => inner.has(hash),
    get: async (hash: ContentHash) => {
      const data = await inner.get(hash)
      if (data !== undefined) bytes.inc({ direction: 'out' }, data.byteLength)
      return data
    },
    put: async (hash: ContentHash, data: Uint8Array) => {
      await inner.put(hash, data)
      bytes.inc({ direction: 'in' }, data.byteLength)
    },
  }
}
