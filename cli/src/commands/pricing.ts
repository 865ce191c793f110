import { Command } from 'commander'
import { parseGraph, type LedgerBalance, type LedgerEntry, type PGasEpoch, type Quote } from '@galactic/schemas'
import { table } from '../format.js'
import { DEFAULT_URL, intOption, query, readJsonFile } from '../util.js'

/** `galactic ledger`: what each requester owes and each prover earned. */
export function ledgerCommand(): Command {
  return new Command('ledger')
    .description('show ledger balances (requesters owe, provers earned); with --graph or --entries, the ledger lines')
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--account <account>', 'one account only (a requester or a prover id)')
    .option('--graph <graphId>', "the lines of one graph's ops")
    .option('--entries', 'print ledger lines instead of balances')
    .option('--limit <n>', 'most lines to print', intOption('--limit', 1, 100_000), 1000)
    .option('--json', 'print JSON')
    .action(async (opts: { url: string; account?: string; graph?: string; entries?: boolean; limit: number; json?: boolean }) => {
      const account = opts.account === undefined ? {} : { account: opts.account }
      if (opts.entries === true || opts.graph !== undefined) {
        const filter = { limit: opts.limit, ...account, ...(opts.graph === undefined ? {} : { graphId: opts.graph }) }
        await query(opts, async (client) => ({ entries: await client.ledger(filter) }), ({ entries }) => entriesTable(entries))
      } else {
        await query(opts, (client) => client.balances(account), (b) => balancesText(b.balances, b.charged, b.paid))
      }
    })
}

/** `galactic pgas`: the current price per gas and its recent history. */
export function pGasCommand(): Command {
  return new Command('pgas')
    .description('show the current P_gas (wei per gas) and, with --history, the last epochs')
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--history <n>', 'epochs of history to print', intOption('--history', 0, 10_000), 0)
    .option('--json', 'print JSON')
    .action(async (opts: { url: string; history: number; json?: boolean }) => {
      await query(opts, (client) => client.pGas({ history: opts.history }), (r) => pGasText(r.current, r.epochMs, r.history))
    })
}

/** `galactic quote <graph.json>`: the oracle's price for a graph before submitting it. */
export function quoteCommand(): Command {
  return new Command('quote')
    .description("ask the oracle for a graph's price at the current P_gas, without submitting it")
    .argument('<graph>', "the graph's JSON file, or - for standard input")
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { url: string; json?: boolean }) => {
      await query(opts, (client) => client.quote(parseGraph(readJsonFile(file))), quoteText)
    })
}

export function balancesText(balances: LedgerBalance[], charged: string, paid: string): string {
  const rows = balances.map((b) => [b.account, b.role === 'requester' ? 'owes' : 'earned', b.amount, String(b.entries)])
  return `${table(['ACCOUNT', 'ROLE', 'WEI', 'LINES'], rows)}requesters charged ${charged} wei, provers paid ${paid} wei\n`
}

export function entriesTable(entries: LedgerEntry[]): string {
  const rows = entries.map((e) => [String(e.seq), e.graphId, e.opId, e.account, e.kind, e.amount, String(e.gas), e.pGas])
  return table(['SEQ', 'GRAPH', 'OP', 'ACCOUNT', 'KIND', 'WEI', 'GAS', 'P_GAS'], rows)
}

export function pGasText(current: PGasEpoch, epochMs: number, history: PGasEpoch[]): string {
  const head = `P_gas ${current.pGas} wei/gas (epoch ${current.epoch}, ${current.source}, every ${epochMs / 1000}s; demand ${Math.round(current.demandGas)} gas, supply ${Math.round(current.supplyGasPerSec)} gas/s)\n`
  if (history.length === 0) return head
  const rows = history.map((e) => [String(e.epoch), new Date(e.at).toISOString().slice(11, 19), e.pGas, String(Math.round(e.demandGas)), String(Math.round(e.supplyGasPerSec))])
  return head + table(['EPOCH', 'AT', 'P_GAS', 'DEMAND_GAS', 'SUPPLY_GAS_PER_S'], rows)
}

export function quoteText(q: Quote): string {
  const rows = q.ops.map((o) => [o.opId, `${o.plugin.name}@${o.plugin.version}`, o.gas === null ? '-' : String(o.gas), String(o.provers), o.price ?? `- (${o.reason ?? 'unpriced'})`])
  const note = q.unpriced > 0 ? ` (${q.unpriced} ops not priced yet: a lower bound)` : ''
  return `${table(['OP', 'PLUGIN', 'GAS', 'PROVERS', 'MAX_WEI'], rows)}total ${q.totalGas} gas, at most ${q.totalPrice} wei at P_gas ${q.pGas} (epoch ${q.epoch})${note}\n`
}
