import { z } from 'zod'
import { PluginRef } from './device.js'
import { OpId } from './operation.js'

/**
 * Pricing (docs/pricing.md): an op's price is P = P_gas x Gas. Gas comes from the plugin's cost
 * model (describe's `gas`) and the gas table; P_gas is the oracle's dynamic price per gas.
 * Amounts are integers in wei (10^-18 of the network's token), written as decimal strings
 * because they outgrow JavaScript numbers.
 */
export const Wei = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/, 'a non-negative integer in wei, as a decimal string without sign or leading zeros')
export type Wei = z.infer<typeof Wei>

/** Where the current P_gas comes from: the oracle's own controller, or a contract on a chain. */
export const PGasSource = z.enum(['controller', 'chain'])
export type PGasSource = z.infer<typeof PGasSource>

/** P_gas at one epoch, with the demand and supply the controller saw. */
export const PGasEpoch = z.strictObject({
  epoch: z.int().min(0),
  /** When the epoch started (ms since the Unix epoch). */
  at: z.number(),
  /** Wei per gas. */
  pGas: Wei,
  source: PGasSource,
  /** Gas of the ops waiting or running when the epoch started. */
  demandGas: z.number().min(0),
  /** Gas per second of the live provers with a free slot. */
  supplyGasPerSec: z.number().min(0),
})
export type PGasEpoch = z.infer<typeof PGasEpoch>

/** What the oracle publishes each epoch on the gossipsub topic {@link PGAS_TOPIC}, signed by its peer id. */
export const PGasAnnouncement = PGasEpoch
export type PGasAnnouncement = PGasEpoch
/** The libp2p gossipsub topic of P_gas announcements. */
export const PGAS_TOPIC = 'galactic/pgas/1'

/** The price of one op. `gas` is null when no prover has told the oracle the plugin's cost model yet. */
export const OpQuote = z.strictObject({
  opId: OpId,
  plugin: PluginRef,
  gas: z.int().min(0).nullable(),
  /** P_gas x gas x provers (redundancy), null with `gas`. */
  price: Wei.nullable(),
  /** Provers the op runs on: every one of them may be paid (see docs/pricing.md, "Redundancy"). */
  provers: z.int().min(1),
  /** Why `gas` is null. */
  reason: z.string().max(1024).optional(),
})
export type OpQuote = z.infer<typeof OpQuote>

/** The price of a graph before it is submitted, at the current P_gas. */
export const Quote = z.strictObject({
  pGas: Wei,
  epoch: z.int().min(0),
  ops: z.array(OpQuote),
  /** Sum of the ops' gas (ops without a cost model count 0; see `unpriced`). */
  totalGas: z.int().min(0),
  /** The most the graph can cost: every op's price with every redundant prover paid. */
  totalPrice: Wei,
  /** Ops whose gas is not known yet: the total is a lower bound while this is above zero. */
  unpriced: z.int().min(0),
})
export type Quote = z.infer<typeof Quote>

export const LedgerRole = z.enum(['requester', 'prover'])
export type LedgerRole = z.infer<typeof LedgerRole>

/**
 * One line of the ledger: a requester's debit or a prover's credit for one accepted op.
 * `kind`: `charge` (requester), `reward` (the prover whose result was accepted), `share` (a
 * redundant prover stopped when another won, paid the configured share).
 */
export const LedgerEntry = z.strictObject({
  seq: z.int().min(1),
  graphId: z.string(),
  opId: OpId,
  account: z.string(),
  role: LedgerRole,
  kind: z.enum(['charge', 'reward', 'share']),
  /** Positive: the requester owes it, or the prover earned it. */
  amount: Wei,
  gas: z.int().min(0),
  pGas: Wei,
  at: z.number(),
})
export type LedgerEntry = z.infer<typeof LedgerEntry>

/** One account's balance: what a requester owes, or what a prover earned. */
export const LedgerBalance = z.strictObject({
  account: z.string(),
  role: LedgerRole,
  amount: Wei,
  entries: z.int().min(0),
})
export type LedgerBalance = z.infer<typeof LedgerBalance>

/** A cost model a prover reported for a plugin it offers (describe's `gas`), as the oracle keeps it. */
export const RegisteredCostModel = z.strictObject({
  plugin: PluginRef,
  /** The prover whose registration brought it first: the first model for a plugin version wins. */
  from: z.string(),
  at: z.number(),
})
export type RegisteredCostModel = z.infer<typeof RegisteredCostModel>
