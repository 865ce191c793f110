import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { contentHash, type ContentHash } from '@galactic/schemas'
import {
  AggregateProof,
  checkProofDigest,
  initialState,
  runChainSync,
  SegmentProof,
  SplitOutput,
  toHex,
  verifySegmentProof,
  verifySnark,
} from '@galactic/plugin-sha256-chain'

/**
 * What every chaos scenario must leave behind, read from the oracle's data folder after the oracle
 * has stopped: its SQLite journal (opened read-only) and its blob folder. Nothing here asks the
 * oracle: the journal is what the oracle would restart from, so it is what counts.
 */
export interface JournalView {
  readonly db: Database.Database
  readonly dataDir: string
  /** The graphs the scenario submitted and that must have succeeded. */
  readonly graphIds: readonly string[]
  /** A blob's bytes from the oracle's journal or blob folder; throws when it is missing. */
  blob(hash: ContentHash): Buffer
}

/** One invariant: a name and the problems it finds in the journal (none: it holds). */
export interface Invariant {
  readonly name: string
  check(view: JournalView): string[]
}

interface OpRow {
  graph_id: string
  op_id: string
  idx: number
  spec: string
  state: string
  attempt: number
  device_ids: string | null
  outputs: string | null
}

interface EventRow {
  seq: number
  op_id: string | null
  state: string
  attempt: number | null
  device_ids: string | null
}

interface OpSpec {
  id: string
  name: string
  inputs: string[]
  params: { seed?: unknown; segments?: unknown; segmentSteps?: unknown; segment?: unknown }
}

function opsOf(db: Database.Database, graphId: string): OpRow[] {
  return db.prepare('SELECT graph_id, op_id, idx, spec, state, attempt, device_ids, outputs FROM ops WHERE graph_id = ? ORDER BY idx').all(graphId) as OpRow[]
}

function allGraphIds(db: Database.Database): string[] {
  return (db.prepare('SELECT graph_id FROM graphs ORDER BY seq').all() as Array<{ graph_id: string }>).map((r) => r.graph_id)
}

/** Every graph the scenario submitted is in the journal and succeeded, with every op succeeded; so is every other graph there. */
export const graphsSucceeded: Invariant = {
  name: 'every graph succeeded',
  check({ db, graphIds }) {
    const problems: string[] = []
    const rows = db.prepare('SELECT graph_id, state FROM graphs').all() as Array<{ graph_id: string; state: string }>
    const state = new Map(rows.map((r) => [r.graph_id, r.state]))
    for (const id of graphIds) if (!state.has(id)) problems.push(`graph ${id} is not in the journal`)
    for (const [id, s] of state) {
      if (s !== 'succeeded') problems.push(`graph ${id} is ${s}`)
      for (const op of opsOf(db, id)) if (op.state !== 'succeeded') problems.push(`${id}/${op.op_id} is ${op.state} (attempt ${op.attempt})`)
    }
    return problems
  },
}

/**
 * Every accepted result is right, checked independently of the plugin's own verify: the chain is
 * run here from the graph's seed, and each op's accepted output (its blob, whose bytes must hash
 * to the journaled hash) is compared with it. split: every segment start and the end state;
 * prove-k: a segment proof of exactly segment k that re-runs right; aggregate: its range, end
 * states and children are those of its two inputs' accepted proofs; snark: verifySnark, which
 * re-runs the whole chain.
 */
export const resultsVerify: Invariant = {
  name: 'every accepted result verifies',
  check(view) {
    const problems: string[] = []
    for (const graphId of allGraphIds(view.db)) problems.push(...checkGraphResults(view, graphId).map((p) => `${graphId}/${p}`))
    return problems
  },
}

function checkGraphResults(view: JournalView, graphId: string): string[] {
  const rows = opsOf(view.db, graphId)
  const specs = new Map(rows.map((r) => [r.op_id, JSON.parse(r.spec) as OpSpec]))
  const split = [...specs.values()].find((s) => s.name === 'split')
  if (split === undefined) return ['no split op: not a ZKM-shaped sha256-chain graph']
  const { seed, segments, segmentSteps } = split.params
  if (typeof seed !== 'string' || typeof segments !== 'number' || typeof segmentSteps !== 'number') return ['split params lack seed, segments or segmentSteps']
  // s(k * segmentSteps) for k = 0..segments, by running the chain here
  const states: string[] = []
  let s: Buffer = initialState(seed)
  states.push(toHex(s))
  for (let k = 0; k < segments; k++) {
    s = runChainSync(s, k * segmentSteps, segmentSteps)
    states.push(toHex(s))
  }
  const at = (step: number): string | undefined => (step % segmentSteps === 0 ? states[step / segmentSteps] : undefined)

  const problems: string[] = []
  const accepted = new Map<string, unknown>()
  for (const row of rows) {
    if (row.state !== 'succeeded') continue
    const id = row.op_id
    const outputs = JSON.parse(row.outputs ?? 'null') as Array<{ name: string; hash: ContentHash; size: number }> | null
    if (outputs === null || outputs.length !== 1) {
      problems.push(`${id}: expected one output, the journal has ${JSON.stringify(outputs)}`)
      continue
    }
    const out = outputs[0] as { name: string; hash: ContentHash; size: number }
    let bytes: Buffer
    try {
      bytes = view.blob(out.hash)
    } catch (err) {
      problems.push(`${id}: output ${out.hash} is not in the blob store (${(err as Error).message})`)
      continue
    }
    if (contentHash(bytes) !== out.hash || bytes.byteLength !== out.size) {
      problems.push(`${id}: blob ${out.hash} does not hash to its name or has the wrong size`)
      continue
    }
    let value: unknown
    try {
      value = JSON.parse(bytes.toString('utf8'))
    } catch {
      problems.push(`${id}: output is not JSON`)
      continue
    }
    accepted.set(id, value)
    const spec = specs.get(id) as OpSpec
    const wrong = (why: string): void => {
      problems.push(`${id} (${spec.name}): ${why}`)
    }
    switch (spec.name) {
      case 'split': {
        const p = SplitOutput.safeParse(value)
        if (!p.success) wrong('not a split output')
        else if (p.data.seed !== seed || p.data.segments !== segments || p.data.segmentSteps !== segmentSteps) wrong('made with other params')
        else if (p.data.starts.some((st, k) => st !== states[k]) || p.data.end !== states[segments]) wrong('segment starts or end differ from the chain')
        break
      }
      case 'prove': {
        const k = spec.params.segment
        const p = SegmentProof.safeParse(value)
        if (typeof k !== 'number') wrong('no segment param')
        else if (!p.success) wrong('not a segment proof')
        else if (p.data.from !== k * segmentSteps || p.data.to !== (k + 1) * segmentSteps) wrong(`covers [${p.data.from}, ${p.data.to}), not segment ${k}`)
        else if (p.data.start !== states[k] || p.data.end !== states[k + 1]) wrong('start or end state differs from the chain')
        else if (!verifySegmentProof(p.data)) wrong('does not verify (digest or re-run)')
        break
      }
      case 'aggregate': {
        const p = AggregateProof.safeParse(value)
        const [left, right] = spec.inputs.map((i) => accepted.get(i) as { from?: number; to?: number; digest?: string } | undefined)
        if (!p.success) wrong('not an aggregate proof')
        else if (!checkProofDigest(p.data)) wrong('bad digest')
        else if (left === undefined || right === undefined) wrong('an input has no accepted output')
        else if (p.data.from !== left.from || p.data.to !== right.to) wrong(`covers [${p.data.from}, ${p.data.to}), its inputs [${left.from}, ${right.to})`)
        else if (p.data.children[0] !== left.digest || p.data.children[1] !== right.digest) wrong('children are not its inputs\' accepted proofs')
        else if (p.data.start !== at(p.data.from) || p.data.end !== at(p.data.to)) wrong('start or end state differs from the chain')
        break
      }
      case 'snark':
        if (!verifySnark(value, seed, segments * segmentSteps)) wrong('verifySnark refuses it')
        break
      default:
        wrong('unknown op name')
    }
  }
  return problems
}

/**
 * No op was accepted twice. In the audit trail (`events`, one row per journaled op change) every
 * succeeded op has exactly one `succeeded` row, and nothing follows it: a late or repeated result
 * changed nothing. That row's attempt and winner are the op's final ones. Each graph has one
 * `succeeded` row, its last.
 */
export const acceptedOnce: Invariant = {
  name: 'no op accepted twice',
  check({ db }) {
    const problems: string[] = []
    for (const graphId of allGraphIds(db)) {
      const events = db.prepare('SELECT seq, op_id, state, attempt, device_ids FROM events WHERE graph_id = ? ORDER BY seq').all(graphId) as EventRow[]
      const byOp = new Map<string | null, EventRow[]>()
      for (const e of events) {
        const list = byOp.get(e.op_id) ?? []
        list.push(e)
        byOp.set(e.op_id, list)
      }
      const graphRows = byOp.get(null) ?? []
      const graphDone = graphRows.filter((e) => e.state === 'succeeded')
      if (graphDone.length > 1) problems.push(`${graphId}: succeeded ${graphDone.length} times`)
      if (graphDone.length === 1 && graphRows.at(-1) !== graphDone[0]) problems.push(`${graphId}: changed state after it succeeded`)
      for (const op of opsOf(db, graphId)) {
        if (op.state !== 'succeeded') continue
        const rows = byOp.get(op.op_id) ?? []
        const done = rows.filter((e) => e.state === 'succeeded')
        if (done.length !== 1) {
          problems.push(`${graphId}/${op.op_id}: ${done.length} succeeded rows in the audit trail`)
          continue
        }
        const row = done[0] as EventRow
        if (rows.at(-1) !== row) problems.push(`${graphId}/${op.op_id}: changed after it succeeded (${rows.slice(rows.indexOf(row) + 1).map((e) => e.state).join(', ')})`)
        if (row.attempt !== op.attempt) problems.push(`${graphId}/${op.op_id}: succeeded at attempt ${row.attempt}, the op says ${op.attempt}`)
        const winner = (JSON.parse(row.device_ids ?? '[]') as string[])[0]
        const final = (JSON.parse(op.device_ids ?? '[]') as string[])[0]
        if (winner === undefined || winner !== final) problems.push(`${graphId}/${op.op_id}: won by ${winner} in the trail, ${final} in the op`)
      }
    }
    return problems
  },
}

/** SQLite's own check of the journal file. */
export const journalIntact: Invariant = {
  name: 'journal integrity',
  check({ db }) {
    const result = db.pragma('integrity_check', { simple: true })
    return result === 'ok' ? [] : [`PRAGMA integrity_check: ${String(result)}`]
  },
}

/**
 * The ledger balances (docs/pricing.md, "The ledger"), read from the journal: every succeeded op
 * was settled exactly once (one charge, one reward), at its graph's locked P_gas, to a prover that
 * ran it; each op's charge is its reward plus its shares; no op that did not succeed was settled;
 * each account's balance is the sum of its lines; and requesters were charged what provers were paid.
 */
function ledgerProblems(db: Database.Database, graphIds: readonly string[]): string[] {
  const problems: string[] = []
  const lines = db.prepare('SELECT graph_id, op_id, account, role, kind, amount, gas, p_gas FROM ledger ORDER BY seq').all() as Array<{
    graph_id: string
    op_id: string
    account: string
    role: string
    kind: string
    amount: string
    gas: number
    p_gas: string
  }>
  const prices = new Map(
    (db.prepare('SELECT graph_id, p_gas FROM graph_prices').all() as Array<{ graph_id: string; p_gas: string }>).map((r) => [r.graph_id, r.p_gas]),
  )
  const byOp = new Map<string, typeof lines>()
  for (const l of lines) {
    const key = `${l.graph_id}/${l.op_id}`
    byOp.set(key, [...(byOp.get(key) ?? []), l])
  }
  for (const graphId of graphIds) {
    const locked = prices.get(graphId)
    if (locked === undefined) problems.push(`graph ${graphId} has no locked P_gas`)
    const ops = db.prepare('SELECT op_id, state, device_ids FROM ops WHERE graph_id = ?').all(graphId) as Array<{ op_id: string; state: string; device_ids: string | null }>
    for (const op of ops) {
      const key = `${graphId}/${op.op_id}`
      const mine = byOp.get(key) ?? []
      byOp.delete(key)
      if (op.state !== 'succeeded') {
        if (mine.length > 0) problems.push(`${key} is ${op.state} but has ${mine.length} ledger lines`)
        continue
      }
      const charges = mine.filter((l) => l.kind === 'charge')
      const rewards = mine.filter((l) => l.kind === 'reward')
      if (charges.length !== 1 || rewards.length !== 1) {
        problems.push(`${key}: ${charges.length} charges and ${rewards.length} rewards (expected one each)`)
        continue
      }
      const [charge, reward] = [charges[0]!, rewards[0]!]
      const shares = mine.filter((l) => l.kind === 'share').reduce((t, l) => t + BigInt(l.amount), 0n)
      if (BigInt(charge.amount) !== BigInt(reward.amount) + shares) problems.push(`${key}: charge ${charge.amount} is not reward ${reward.amount} + shares ${shares}`)
      if (locked !== undefined && reward.p_gas !== locked) problems.push(`${key}: settled at P_gas ${reward.p_gas}, the graph's is ${locked}`)
      if (BigInt(reward.amount) !== BigInt(reward.gas) * BigInt(reward.p_gas)) problems.push(`${key}: reward ${reward.amount} is not gas ${reward.gas} x P_gas ${reward.p_gas}`)
      const devices = op.device_ids === null ? [] : (JSON.parse(op.device_ids) as string[])
      if (!devices.includes(reward.account)) problems.push(`${key}: rewarded ${reward.account}, which is not among its provers ${devices.join(', ')}`)
    }
  }
  for (const key of byOp.keys()) if (!graphIds.some((g) => key.startsWith(`${g}/`))) problems.push(`ledger lines for ${key}, an op of no submitted graph`)
  const sums = new Map<string, bigint>()
  for (const l of lines) sums.set(`${l.account}\u0000${l.role}`, (sums.get(`${l.account}\u0000${l.role}`) ?? 0n) + BigInt(l.amount))
  const balances = db.prepare('SELECT account, role, amount FROM balances').all() as Array<{ account: string; role: string; amount: string }>
  for (const b of balances) {
    const sum = sums.get(`${b.account}\u0000${b.role}`) ?? 0n
    if (sum !== BigInt(b.amount)) problems.push(`balance of ${b.role} ${b.account} is ${b.amount}, its lines sum to ${sum}`)
    sums.delete(`${b.account}\u0000${b.role}`)
  }
  for (const key of sums.keys()) problems.push(`ledger lines of ${key.replace('\u0000', ' as ')} have no balance`)
  const total = (role: string) => balances.filter((b) => b.role === role).reduce((t, b) => t + BigInt(b.amount), 0n)
  if (total('requester') !== total('prover')) problems.push(`requesters were charged ${total('requester')}, provers paid ${total('prover')}`)
  return problems
}

/** The ledger balances: see {@link ledgerProblems}. */
export const ledgerBalances: Invariant = {
  name: 'the ledger balances',
  check: ({ db, graphIds }) => ledgerProblems(db, graphIds),
}

/** The checks every scenario ends with, in order. */
export const INVARIANTS: readonly Invariant[] = [journalIntact, graphsSucceeded, resultsVerify, acceptedOnce, ledgerBalances]

/** What {@link checkInvariants} looked at. */
export interface InvariantReport {
  graphs: number
  ops: number
}

/**
 * Opens the stopped oracle's journal in `dataDir` read-only and runs every invariant; throws an
 * Error listing every problem found (the first 50), each prefixed by its invariant's name.
 */
export function checkInvariants(opts: { dataDir: string; graphIds: readonly string[] }): InvariantReport {
  const db = new Database(join(opts.dataDir, 'journal.sqlite'), { readonly: true, fileMustExist: true })
  try {
    const view: JournalView = {
      db,
      dataDir: opts.dataDir,
      graphIds: opts.graphIds,
      // Small outputs came inline with their result and live in the journal; large ones are files.
      blob: (hash) => {
        const row = db.prepare('SELECT data FROM blobs WHERE hash = ?').get(hash) as { data: Buffer } | undefined
        return row?.data ?? readFileSync(join(opts.dataDir, 'blobs', hash.slice('sha256:'.length)))
      },
    }
    const problems = INVARIANTS.flatMap((inv) => inv.check(view).map((p) => `${inv.name}: ${p}`))
    if (problems.length > 0) {
      const more = problems.length > 50 ? `\n...and ${problems.length - 50} more` : ''
      throw new Error(`invariants broken in ${opts.dataDir}:\n${problems.slice(0, 50).join('\n')}${more}`)
    }
    const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n
    return { graphs: count('SELECT count(*) AS n FROM graphs'), ops: count('SELECT count(*) AS n FROM ops') }
  } finally {
    db.close()
  }
}
