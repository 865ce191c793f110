import type { LedgerEntry } from '@galactic/schemas'

/** A ledger line before the journal numbers it. */
export type LedgerDraft = Omit<LedgerEntry, 'seq'>

export interface Settlement {
  graphId: string
  opId: string
  /** The graph's requester: pays. */
  requester: string
  /** The prover whose result was accepted. */
  winner: string
  /** Redundant provers stopped when the winner's result was accepted. */
  losers: readonly string[]
  gas: number
  /** The graph's P_gas, locked when it was submitted (wei per gas). */
  pGas: bigint
  /** What each stopped redundant prover gets, in basis points of the op's price. */
  shareBps: number
  at: number
}

/** An op's price: P = P_gas x Gas. */
export function opPrice(gas: number, pGas: bigint): bigint {
  return BigInt(gas) * pGas
}

/** The most an op can cost the requester: its price, plus the share of every redundant prover. */
export function maxOpPrice(gas: number, pGas: bigint, provers: number, shareBps: number): bigint {
  const price = opPrice(gas, pGas)
  return price + (price * BigInt(shareBps) * BigInt(Math.max(0, provers - 1))) / 10_000n
}

/**
 * The ledger lines for one accepted op: the winner earns the price, each stopped redundant
 * prover earns `shareBps` of it, and the requester is charged their sum — so every op's
 * lines balance to zero. Lines of zero amount are kept for the winner and the requester (the
 * op was accepted and cost nothing) and left out for shares.
 */
export function settle(s: Settlement): LedgerDraft[] {
  const price = opPrice(s.gas, s.pGas)
  const share = (price * BigInt(s.shareBps)) / 10_000n
  const common = { graphId: s.graphId, opId: s.opId, gas: s.gas, pGas: s.pGas.toString(), at: s.at }
  const lines: LedgerDraft[] = [{ ...common, account: s.winner, role: 'prover', kind: 'reward', amount: price.toString() }]
  if (share > 0n) {
    for (const loser of new Set(s.losers)) {
      if (loser !== s.winner) lines.push({ ...common, account: loser, role: 'prover', kind: 'share', amount: share.toString() })
    }
  }
  const total = lines.reduce((sum, l) => sum + BigInt(l.amount), 0n)
  lines.unshift({ ...common, account: s.requester, role: 'requester', kind: 'charge', amount: total.toString() })
  return lines
}
