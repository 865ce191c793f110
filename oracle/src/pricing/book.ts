import {
  GalacticError,
  pluginKey,
  type Graph,
  type Operation,
  type OpQuote,
  type PGasEpoch,
  type PluginRef,
  type Quote,
} from '@galactic/schemas'
import { maxOpPrice } from './settle.js'

/**
 * What the price book needs from the gas arithmetic (@galactic/gas): compile a plugin's cost
 * model once, then compute an op's gas from its name and params. Both throw a GalacticError
 * naming the problem.
 */
export interface GasModels<Compiled = unknown> {
  compile(model: unknown): Compiled
  opGas(compiled: Compiled, opName: string, params: unknown): number
}

/** How many provers an op of a graph runs on (the scheduler's redundancy rule). */
export type ProversFor = (graph: Pick<Graph, 'priority' | 'redundancy'>, op: Pick<Operation, 'penalty'>) => number

export interface PriceBookInit {
  /** What each stopped redundant prover earns, in basis points of the op's price. @default 0 */
  redundantShareBps?: number
}

/** A claimed and an observed speed, and whether they disagree by more than the allowed factor. */
export interface ProverSpeed {
  /** Gas per second the agent measured with `galactic gas calibrate` at registration. */
  claimed: number | undefined
  /** Gas per second seen on accepted ops (moving average), undefined before the first. */
  observed: number | undefined
  /** The claim is more than `doubtFactor` away from what was seen, either way. */
  doubted: boolean
}

interface ModelEntry<C> {
  plugin: PluginRef
  model: unknown
  compiled: C
  from: string
  at: number
}

/**
 * The oracle's pricing state, pure: cost models by plugin version (the first one registered
 * wins), the P_gas locked for each graph, the current epoch, and each prover's speeds. It
 * computes quotes and op gas; the oracle node journals what it decides.
 */
export class PriceBook<C = unknown> {
  readonly redundantShareBps: number
  private readonly models = new Map<string, ModelEntry<C>>()
  private readonly graphs = new Map<string, { pGas: bigint; maxPrice: bigint | null }>()
  private readonly settled = new Set<string>()
  private readonly speeds = new Map<string, { claimed: number | undefined; observed: number | undefined }>()
  private epoch: PGasEpoch

  constructor(
    private readonly gas: GasModels<C>,
    private readonly proversFor: ProversFor,
    init: PriceBookInit & { epoch: PGasEpoch },
  ) {
    this.redundantShareBps = init.redundantShareBps ?? 0
    if (!Number.isInteger(this.redundantShareBps) || this.redundantShareBps < 0 || this.redundantShareBps > 10_000) {
      throw new RangeError(`redundantShareBps must be an integer from 0 to 10000, got ${this.redundantShareBps}`)
    }
    this.epoch = init.epoch
  }

  get current(): PGasEpoch {
    return this.epoch
  }

  get pGas(): bigint {
    return BigInt(this.epoch.pGas)
  }

  setEpoch(epoch: PGasEpoch): void {
    this.epoch = epoch
  }

  /**
   * Adds a plugin's cost model. Returns `added` when it is new, `same` when that version's model
   * is already known and equal, `conflict` when another prover registered a different one (the
   * first stays: a prover cannot raise the price of work by describing it differently).
   * @throws GalacticError `INVALID_GAS_MODEL` when the model does not compile.
   */
  addModel(plugin: PluginRef, model: unknown, from: string, at: number): 'added' | 'same' | 'conflict' {
    const key = pluginKey(plugin)
    const known = this.models.get(key)
    if (known !== undefined) return JSON.stringify(known.model) === JSON.stringify(model) ? 'same' : 'conflict'
    const compiled = this.gas.compile(model)
    this.models.set(key, { plugin, model, compiled, from, at })
    return 'added'
  }

  hasModel(plugin: PluginRef): boolean {
    return this.models.has(pluginKey(plugin))
  }

  listModels(): Array<{ plugin: PluginRef; model: unknown; from: string; at: number }> {
    return [...this.models.values()].map(({ plugin, model, from, at }) => ({ plugin, model, from, at }))
  }

  /**
   * An op's gas, or null with the reason when its plugin's cost model is not known yet.
   * @throws GalacticError `INVALID_GRAPH` when the op's params do not fit its plugin's model.
   */
  opGas(op: Pick<Operation, 'id' | 'name' | 'plugin' | 'params'>): { gas: number } | { gas: null; reason: string } {
    const entry = this.models.get(pluginKey(op.plugin))
    if (entry === undefined) {
      return { gas: null, reason: `no cost model for plugin ${pluginKey(op.plugin)} yet: no prover offering it has registered one` }
    }
    try {
      return { gas: this.gas.opGas(entry.compiled, op.name, op.params) }
    } catch (err) {
      const e = GalacticError.from(err)
      throw new GalacticError('INVALID_GRAPH', `op "${op.id}": ${e.message}`, { opId: op.id, cause: e.toObject() })
    }
  }

  /** The price of a graph at the current P_gas: per op and the most it can cost in all. */
  quote(graph: Graph): Quote {
    const pGas = this.pGas
    let totalGas = 0
    let totalPrice = 0n
    let unpriced = 0
    const ops = graph.ops.map((op): OpQuote => {
      const provers = this.proversFor(graph, op)
      const g = this.opGas(op)
      if (g.gas === null) {
        unpriced++
        return { opId: op.id, plugin: op.plugin, gas: null, price: null, provers, reason: g.reason }
      }
      const price = maxOpPrice(g.gas, pGas, provers, this.redundantShareBps)
      totalGas += g.gas
      totalPrice += price
      return { opId: op.id, plugin: op.plugin, gas: g.gas, price: price.toString(), provers }
    })
    if (!Number.isSafeInteger(totalGas)) throw new GalacticError('INVALID_GRAPH', `the graph's total gas (${totalGas}) is too large to price`)
    return { pGas: pGas.toString(), epoch: this.epoch.epoch, ops, totalGas, totalPrice: totalPrice.toString(), unpriced }
  }

  /**
   * Refuses a graph whose quote is above its `maxPrice`, or that has a `maxPrice` and an op that
   * cannot be priced yet. Returns the quote.
   * @throws GalacticError `PRICE_LIMIT`
   */
  checkLimit(graph: Graph): Quote {
    const quote = this.quote(graph)
    if (graph.maxPrice === undefined) return quote
    const unpriced = quote.ops.find((o) => o.gas === null)
    if (unpriced !== undefined) {
      throw new GalacticError('PRICE_LIMIT', `maxPrice: op "${unpriced.opId}" cannot be priced: ${unpriced.reason}`, {
        opId: unpriced.opId,
        maxPrice: graph.maxPrice,
      })
    }
    if (BigInt(quote.totalPrice) > BigInt(graph.maxPrice)) {
      throw new GalacticError(
        'PRICE_LIMIT',
        `maxPrice: the graph costs up to ${quote.totalPrice} wei at P_gas ${quote.pGas} (${quote.totalGas} gas), above its maxPrice of ${graph.maxPrice} wei`,
        { maxPrice: graph.maxPrice, totalPrice: quote.totalPrice, totalGas: quote.totalGas, pGas: quote.pGas },
      )
    }
    return quote
  }

  /** Locks a graph's P_gas (at submission). */
  lockGraph(graphId: string, pGas: bigint, maxPrice: bigint | null): void {
    this.graphs.set(graphId, { pGas, maxPrice })
  }

  graphPrice(graphId: string): { pGas: bigint; maxPrice: bigint | null } | undefined {
    return this.graphs.get(graphId)
  }

  isSettled(graphId: string, opId: string): boolean {
    return this.settled.has(`${graphId}/${opId}`)
  }

  markSettled(graphId: string, opId: string): void {
    this.settled.add(`${graphId}/${opId}`)
  }

  /** Records what a prover claims (gas per second from its calibration), at registration. */
  claimSpeed(proverId: string, gasPerSec: number | undefined): void {
    const s = this.speeds.get(proverId)
    this.speeds.set(proverId, { claimed: gasPerSec, observed: s?.observed })
  }

  /** Records an accepted op's gas and run time on a prover (moving average, weight `alpha`). */
  observeSpeed(proverId: string, gas: number, runMs: number, alpha = 0.3): void {
    if (!(gas > 0) || !(runMs > 0)) return
    const seen = gas / (runMs / 1000)
    const s = this.speeds.get(proverId) ?? { claimed: undefined, observed: undefined }
    s.observed = s.observed === undefined ? seen : s.observed + alpha * (seen - s.observed)
    this.speeds.set(proverId, s)
  }

  speed(proverId: string, doubtFactor: number): ProverSpeed {
    const s = this.speeds.get(proverId)
    const claimed = s?.claimed
    const observed = s?.observed
    const doubted = claimed !== undefined && observed !== undefined && (claimed > observed * doubtFactor || observed > claimed * doubtFactor)
    return { claimed, observed, doubted }
  }

  /**
   * The gas per second a prover contributes to supply: what was seen when it is doubted, else
   * its claim, else what was seen, else `fallback`.
   */
  supplyOf(proverId: string, doubtFactor: number, fallback: number): number {
    const s = this.speed(proverId, doubtFactor)
    if (s.doubted) return s.observed ?? fallback
    return s.claimed ?? s.observed ?? fallback
  }
}
