import type { Logger } from 'pino'
import { GalacticError, type Graph, type PGasEpoch, type PluginRef, type Quote } from '@galactic/schemas'
import type { Step } from '../core/index.js'
import type { PricingChange, PricingSnapshot } from '../journal/index.js'
import type { ResolvedPricingInit } from '../options.js'
import { PriceBook, type GasModels, type ProversFor } from './book.js'
import { PGasController } from './controller.js'
import { settle } from './settle.js'

/** What the oracle's pricing reads from the rest of the node, each epoch. */
export interface PricingProbe {
  /** Ops waiting (ready) or running, with their graph id. */
  openOps(): Iterable<{ graphId: string; op: Graph['ops'][number] }>
  /** Live, connected provers with their free and total slots. */
  freeProvers(): Iterable<{ proverId: string; free: number; slots: number }>
}

/** Reads P_gas from somewhere else (a contract: {@link ChainPGasSource}). */
export interface PGasReader {
  read(): Promise<bigint>
}

export interface OraclePricingComponents<C> {
  gas: GasModels<C>
  proversFor: ProversFor
  log: Logger
  /** Set when P_gas comes from a chain instead of the controller. */
  chain?: PGasReader
}

/**
 * The oracle's pricing (docs/pricing.md) between the node and the journal: each call returns
 * the pricing records to commit with the Step it belongs to, so prices, cost models and ledger
 * lines are journaled in the same transaction as the scheduling they come from.
 */
export class OraclePricing<C = unknown> {
  readonly book: PriceBook<C>
  private readonly controller: PGasController
  private readonly log: Logger

  constructor(
    readonly init: ResolvedPricingInit,
    snapshot: PricingSnapshot,
    private readonly components: OraclePricingComponents<C>,
    now: number,
  ) {
    this.log = components.log
    this.controller = new PGasController({
      maxChangeBps: init.maxChangeBps,
      targetDrainMs: init.targetDrainMs,
      minPGas: init.minPGas,
      maxPGas: init.maxPGas,
    })
    const first: PGasEpoch = {
      epoch: 0,
      at: now,
      pGas: init.initialPGas.toString(),
      source: components.chain === undefined ? 'controller' : 'chain',
      demandGas: 0,
      supplyGasPerSec: 0,
    }
    this.book = new PriceBook(components.gas, components.proversFor, { redundantShareBps: init.redundantShareBps, epoch: snapshot.lastEpoch ?? first })
    for (const [graphId, price] of snapshot.graphPrices) this.book.lockGraph(graphId, price.pGas, price.maxPrice)
    for (const key of snapshot.settled) {
      const slash = key.indexOf('/')
      this.book.markSettled(key.slice(0, slash), key.slice(slash + 1))
    }
    for (const m of snapshot.models) {
      try {
        this.book.addModel(m.plugin, m.model, m.from, m.at)
      } catch (err) {
        this.log.error({ err, plugin: m.plugin }, 'journaled cost model no longer compiles: ignored')
      }
    }
  }

  /** Cost models and the claimed speed from a registration; returns the new models to journal. */
  onRegister(
    proverId: string,
    models: ReadonlyArray<{ plugin: PluginRef; model: unknown }>,
    gasPerSecond: number | undefined,
    at: number,
  ): PricingChange[] {
    this.book.claimSpeed(proverId, gasPerSecond)
    const changes: PricingChange[] = []
    for (const { plugin, model } of models) {
      try {
        const verdict = this.book.addModel(plugin, model, proverId, at)
        if (verdict === 'added') {
          changes.push({ type: 'model.put', plugin, model, from: proverId, at })
          this.log.info({ prover: proverId, plugin }, 'cost model registered')
        } else if (verdict === 'conflict') {
          this.log.warn({ prover: proverId, plugin }, 'cost model differs from the one registered first: the first is kept')
        }
      } catch (err) {
        this.log.warn({ prover: proverId, plugin, err: GalacticError.from(err).message }, 'cost model refused')
      }
    }
    return changes
  }

  /** The quote of a graph about to be submitted; refuses it above its `maxPrice` (PRICE_LIMIT). */
  check(graph: Graph): Quote {
    return this.book.checkLimit(graph)
  }

  /** Locks a new graph's P_gas at the current price. */
  onSubmit(graphId: string, graph: Graph): PricingChange[] {
    const pGas = this.book.pGas
    const maxPrice = graph.maxPrice === undefined ? null : BigInt(graph.maxPrice)
    this.book.lockGraph(graphId, pGas, maxPrice)
    return [{ type: 'graph.price', graphId, pGas, maxPrice }]
  }

  /**
   * Ledger lines for the ops a result made succeed: `winner` earns the price, the provers the
   * Step stops on that op earn the redundant share, the requester pays both.
   */
  onResult(step: Step, winner: string, requesterOf: (graphId: string) => string | undefined): PricingChange[] {
    const changes: PricingChange[] = []
    for (const c of step.changes) {
      if (c.type !== 'op.put' || c.op.state !== 'succeeded') continue
      const { graphId } = c.op
      const op = c.op.spec
      if (this.book.isSettled(graphId, op.id)) continue
      const locked = this.book.graphPrice(graphId)
      const requester = requesterOf(graphId)
      if (requester === undefined) continue
      let gas = 0
      try {
        const g = this.book.opGas(op)
        if (g.gas === null) this.log.warn({ graphId, op: op.id, reason: g.reason }, 'op settled at 0 gas: no cost model')
        else gas = g.gas
      } catch (err) {
        this.log.warn({ graphId, op: op.id, err: GalacticError.from(err).message }, 'op settled at 0 gas: its params do not fit the cost model')
      }
      const losers = step.actions.filter((a) => a.type === 'cancel' && a.ref.graphId === graphId && a.ref.opId === op.id).map((a) => a.proverId)
      const at = c.op.finishedAt ?? Date.now()
      // A graph journaled before pricing existed has no locked price: it is settled at the current one.
      for (const entry of settle({ graphId, opId: op.id, requester, winner, losers, gas, pGas: locked?.pGas ?? this.book.pGas, shareBps: this.book.redundantShareBps, at })) {
        changes.push({ type: 'ledger.add', entry })
      }
      this.book.markSettled(graphId, op.id)
      if (c.op.startedAt !== null && c.op.finishedAt !== null) this.book.observeSpeed(winner, gas, c.op.finishedAt - c.op.startedAt)
    }
    return changes
  }

  /** Demand and supply now: gas waiting or running, and gas per second of free provers. */
  measure(probe: PricingProbe): { demandGas: number; supplyGasPerSec: number } {
    let demandGas = 0
    for (const { op } of probe.openOps()) {
      try {
        demandGas += this.book.opGas(op).gas ?? 0
      } catch {
        // an op whose params do not fit its model was refused at submission or counts nothing
      }
    }
    let supplyGasPerSec = 0
    for (const p of probe.freeProvers()) {
      if (p.free <= 0 || p.slots <= 0) continue
      supplyGasPerSec += (this.book.supplyOf(p.proverId, this.init.speedDoubtFactor, this.init.defaultGasPerSecond) * p.free) / p.slots
    }
    return { demandGas, supplyGasPerSec }
  }

  /**
   * The next epoch: P_gas from the chain when configured (the last price is kept when the chain
   * cannot be read), else from the controller. Returns the record to journal.
   */
  async nextEpoch(probe: PricingProbe, at: number): Promise<PricingChange[]> {
    const { demandGas, supplyGasPerSec } = this.measure(probe)
    const current = this.book.current
    let pGas: bigint
    if (this.components.chain !== undefined) {
      try {
        pGas = await this.components.chain.read()
      } catch (err) {
        this.log.warn({ err: GalacticError.from(err).message }, 'P_gas: the chain could not be read, the last price stays')
        pGas = BigInt(current.pGas)
      }
    } else {
      pGas = this.controller.next(BigInt(current.pGas), { demandGas, supplyGasPerSec }).pGas
    }
    const epoch: PGasEpoch = {
      epoch: current.epoch + 1,
      at,
      pGas: pGas.toString(),
      source: this.components.chain === undefined ? 'controller' : 'chain',
      demandGas,
      supplyGasPerSec,
    }
    this.book.setEpoch(epoch)
    return [{ type: 'pgas.put', epoch }]
  }
}
