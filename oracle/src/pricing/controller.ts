/**
 * The P_gas controller: each epoch it moves the price per gas toward the level where demand
 * (gas waiting or running) matches supply (gas per second of the provers with a free slot,
 * over `targetDrainMs`), by at most `maxChangeBps` per epoch (a rise is at least one wei, as in
 * EIP-1559) — EIP-1559's base fee rule with gas waiting in place of gas used. Pure: no clock, no I/O.
 */
export interface PGasControllerInit {
  /** Largest move per epoch, in basis points of the current price. @default 1250 (12.5%, as EIP-1559) */
  maxChangeBps?: number
  /** Demand equals supply when the waiting gas would be done in this long by the free provers. @default 60_000 */
  targetDrainMs?: number
  /** The price never goes below this (wei per gas; at least 1 so it can always rise again). @default 1n */
  minPGas?: bigint
  /** The price never goes above this. @default 10n ** 24n */
  maxPGas?: bigint
  /**
   * Damping: the move is (load - 1) / damping, bounded by `maxChangeBps`. EIP-1559 uses 8.
   * @default 8
   */
  damping?: number
}

export interface ControllerInput {
  /** Gas of the ops waiting (ready) or running. */
  demandGas: number
  /** Gas per second of the live provers with a free slot. */
  supplyGasPerSec: number
}

export interface ControllerDecision {
  pGas: bigint
  /** The move applied, in basis points (negative: the price fell). */
  changeBps: number
  /** demand / (supply x targetDrain); Infinity when there is demand and no supply. */
  load: number
}

export class PGasController {
  readonly maxChangeBps: number
  readonly targetDrainMs: number
  readonly minPGas: bigint
  readonly maxPGas: bigint
  readonly damping: number

  constructor(init: PGasControllerInit = {}) {
    this.maxChangeBps = init.maxChangeBps ?? 1250
    this.targetDrainMs = init.targetDrainMs ?? 60_000
    this.minPGas = init.minPGas ?? 1n
    this.maxPGas = init.maxPGas ?? 10n ** 24n
    this.damping = init.damping ?? 8
    if (!Number.isInteger(this.maxChangeBps) || this.maxChangeBps < 0 || this.maxChangeBps > 10_000) {
      throw new RangeError(`maxChangeBps must be an integer from 0 to 10000, got ${this.maxChangeBps}`)
    }
    if (!(this.targetDrainMs > 0)) throw new RangeError(`targetDrainMs must be > 0, got ${this.targetDrainMs}`)
    if (this.minPGas < 1n) throw new RangeError(`minPGas must be >= 1, got ${this.minPGas}`)
    if (this.maxPGas < this.minPGas) throw new RangeError(`maxPGas (${this.maxPGas}) must be >= minPGas (${this.minPGas})`)
    if (!(this.damping >= 1)) throw new RangeError(`damping must be >= 1, got ${this.damping}`)
  }

  /** The next epoch's price from this epoch's price, demand and supply. */
  next(current: bigint, input: ControllerInput): ControllerDecision {
    const demand = Math.max(0, input.demandGas)
    const capacity = Math.max(0, input.supplyGasPerSec) * (this.targetDrainMs / 1000)
    const load = demand === 0 ? 0 : capacity === 0 ? Number.POSITIVE_INFINITY : demand / capacity
    const wanted = load === Number.POSITIVE_INFINITY ? this.maxChangeBps : ((load - 1) / this.damping) * 10_000
    const changeBps = Math.round(Math.max(-this.maxChangeBps, Math.min(this.maxChangeBps, wanted)))
    let pGas = current + (current * BigInt(changeBps)) / 10_000n
    // As EIP-1559: a rise is at least one wei, so a tiny price can always climb back.
    if (changeBps > 0 && pGas === current) pGas = current + 1n
    if (pGas < this.minPGas) pGas = this.minPGas
    if (pGas > this.maxPGas) pGas = this.maxPGas
    return { pGas, changeBps, load }
  }
}
