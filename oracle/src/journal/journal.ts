import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import {
  DeviceDescriptor,
  ErrorObject,
  GalacticError,
  GraphState,
  Operation,
  OpState,
  OutputRef,
  PluginMode,
  Priority,
  formatPath,
  LedgerRole,
  PGasSource,
  PluginRef,
  Wei,
  type LedgerBalance,
  type LedgerEntry,
  type PGasEpoch,
} from '@galactic/schemas'
import type { Change, GraphRecord, OpRecord, ProverBan, ProverRecord, Snapshot } from '../core/types.js'

/**
 * A pricing record to write with a Step's changes (docs/pricing.md), in the same transaction:
 * a graph's locked P_gas, a plugin's cost model, an epoch's P_gas, a ledger line.
 */
export type PricingChange =
  | { type: 'graph.price'; graphId: string; pGas: bigint; maxPrice: bigint | null }
  | { type: 'model.put'; plugin: PluginRef; model: unknown; from: string; at: number }
  | { type: 'pgas.put'; epoch: PGasEpoch }
  | { type: 'ledger.add'; entry: Omit<LedgerEntry, 'seq'> }

/** The pricing state the oracle rebuilds at start. */
export interface PricingSnapshot {
  /** Per graph: the P_gas locked at submission and the requester's limit. */
  graphPrices: Map<string, { pGas: bigint; maxPrice: bigint | null }>
  /** Cost models by plugin, first registration first. */
  models: Array<{ plugin: PluginRef; model: unknown; from: string; at: number }>
  /** The newest epoch, if any. */
  lastEpoch: PGasEpoch | undefined
  /** `graphId/opId` of every op already settled. */
  settled: Set<string>
}

/** Epochs kept in pgas_epochs; older ones are pruned as new ones are written. */
const PGAS_EPOCHS_KEPT = 10_000

/** The journal's on-disk format. A journal written by a newer version is refused. */
export const JOURNAL_SCHEMA_VERSION = 4

export interface JournalInit {
  /** The SQLite file. Its folder is created when missing. */
  path: string
  /**
   * When a commit reaches the disk. `full`: before `apply` returns (SQLite `synchronous = FULL`),
   * so nothing acknowledged is lost even on power loss. `interval`: WAL writes reach the OS at
   * once (a crash of the process loses nothing) and are fsynced every `syncIntervalMs` by a
   * checkpoint (`synchronous = NORMAL`), so power loss can lose that much, like Redis'
   * `appendfsync everysec`. @default 'full'
   */
  sync?: JournalSync
  /** With `sync: 'interval'`, milliseconds between fsyncs. @default 1000 */
  syncIntervalMs?: number
}

export type JournalSync = 'full' | 'interval'

/**
 * Sets a WAL database's `synchronous` for `sync` and, for `interval`, starts the timer whose
 * checkpoints fsync it every `intervalMs` (unref'd; clear it on close). Shared by the journal and
 * the evidence store.
 */
export function syncMode(db: Database.Database, sync: JournalSync = 'full', intervalMs = 1000): NodeJS.Timeout | undefined {
  db.pragma(sync === 'interval' ? 'synchronous = NORMAL' : 'synchronous = FULL')
  if (sync !== 'interval') return undefined
  // A checkpoint fsyncs the WAL (then the database file): at most intervalMs of commits unsynced.
  const timer = setInterval(() => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)')
    } catch {
      // the next commit reports a failing disk; the checkpoint is tried again next interval
    }
  }, intervalMs)
  timer.unref()
  return timer
}

/** One Step's writes: its changes, its pricing records and the small outputs it accepted. */
export interface JournalEntry {
  changes: Change[]
  pricing: PricingChange[]
  /** Outputs sent inline with a result (at most LIMITS.inlineBlobBytes each), kept with the result. */
  blobs?: Array<{ hash: string; bytes: Uint8Array }>
}

/** One row of the append-only audit trail. */
export interface JournalEvent {
  seq: number
  at: number
  /** null for a graph's own state change. */
  opId: string | null
  state: string
  attempt: number | null
  deviceIds: string[] | null
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graphs (
  graph_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL UNIQUE,
  requester TEXT NOT NULL,
  nonce TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  priority TEXT NOT NULL,
  redundancy INTEGER,
  plugin_mode TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE TABLE IF NOT EXISTS ops (
  graph_id TEXT NOT NULL,
  op_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  device_ids TEXT,
  outputs TEXT,
  error TEXT,
  ready_at INTEGER,
  assigned_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER,
  PRIMARY KEY (graph_id, op_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS provers (
  prover_id TEXT PRIMARY KEY,
  peer_id TEXT NOT NULL,
  device TEXT NOT NULL,
  slots INTEGER NOT NULL,
  registered_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  ban TEXT
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  graph_id TEXT NOT NULL,
  op_id TEXT,
  state TEXT NOT NULL,
  attempt INTEGER,
  device_ids TEXT
);
CREATE INDEX IF NOT EXISTS events_by_graph ON events (graph_id, seq);
CREATE TABLE IF NOT EXISTS graph_prices (
  graph_id TEXT PRIMARY KEY,
  p_gas TEXT NOT NULL,
  max_price TEXT
);
CREATE TABLE IF NOT EXISTS cost_models (
  plugin_key TEXT PRIMARY KEY,
  plugin TEXT NOT NULL,
  model TEXT NOT NULL,
  from_prover TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pgas_epochs (
  epoch INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  p_gas TEXT NOT NULL,
  source TEXT NOT NULL,
  demand_gas REAL NOT NULL,
  supply_gps REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  graph_id TEXT NOT NULL,
  op_id TEXT NOT NULL,
  account TEXT NOT NULL,
  role TEXT NOT NULL,
  kind TEXT NOT NULL,
  amount TEXT NOT NULL,
  gas INTEGER NOT NULL,
  p_gas TEXT NOT NULL,
  at INTEGER NOT NULL,
  UNIQUE (graph_id, op_id, account, kind)
);
CREATE INDEX IF NOT EXISTS ledger_by_account ON ledger (account, seq);
CREATE TABLE IF NOT EXISTS balances (
  account TEXT NOT NULL,
  role TEXT NOT NULL,
  amount TEXT NOT NULL,
  entries INTEGER NOT NULL,
  PRIMARY KEY (account, role)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
  hash TEXT PRIMARY KEY,
  data BLOB NOT NULL
) WITHOUT ROWID;
`

/** Anything with zod's safeParse: the wire schemas from @galactic/schemas. */
interface Parser<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> } }
}

/**
 * Reads one row's columns, each checked, or throws STORAGE_ERROR naming the table, the row's
 * key and the bad column. JSON columns are parsed through the wire schemas.
 */
class RowReader {
  constructor(
    readonly row: Record<string, unknown>,
    private readonly table: string,
    private readonly key: string,
  ) {}

  fail(column: string, message: string, details: Record<string, unknown> = {}): never {
    throw new GalacticError('STORAGE_ERROR', `corrupt row in ${this.table} (${this.key}): column ${column}: ${message}`, {
      table: this.table,
      key: this.key,
      column,
      ...details,
    })
  }

  text(column: string): string {
    const v = this.row[column]
    return typeof v === 'string' ? v : this.fail(column, `expected text, got ${typeof v}`)
  }

  int(column: string, min = 0): number {
    const v = this.row[column]
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : this.fail(column, `expected an integer >= ${min}`)
  }

  intOrNull(column: string, min = 0): number | null {
    return this.row[column] === null ? null : this.int(column, min)
  }

  parse<T>(column: string, schema: Parser<T>): T {
    return this.check(column, schema, this.row[column])
  }

  json<T>(column: string, schema: Parser<T>): T {
    const text = this.text(column)
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return this.fail(column, 'not valid JSON')
    }
    return this.check(column, schema, value)
  }

  jsonOrNull<T>(column: string, schema: Parser<T>): T | null {
    return this.row[column] === null ? null : this.json(column, schema)
  }

  private check<T>(column: string, schema: Parser<T>, value: unknown): T {
    const r = schema.safeParse(value)
    if (r.success) return r.data
    const issues = r.error.issues.map((i) => ({ path: formatPath(i.path, column), message: i.message }))
    const first = issues[0]
    return this.fail(column, `${first?.path}: ${first?.message}`, { issues })
  }
}

/** Made once, not once per op row read. */
const OutputRefs = OutputRef.array()

const StringArray: Parser<string[]> = {
  safeParse(v) {
    return Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '')
      ? { success: true, data: v as string[] }
      : { success: false, error: { issues: [{ path: [], message: 'expected an array of non-empty strings' }] } }
  },
}

const Ban: Parser<ProverBan> = {
  safeParse(v) {
    const b = v as Partial<ProverBan> | null
    const ok =
      typeof b === 'object' &&
      b !== null &&
      Number.isInteger(b.consecutiveFailures) &&
      (b.consecutiveFailures as number) >= 0 &&
      (b.bannedUntil === null || Number.isInteger(b.bannedUntil)) &&
      typeof b.permanent === 'boolean'
    return ok
      ? { success: true, data: { consecutiveFailures: b.consecutiveFailures as number, bannedUntil: b.bannedUntil as number | null, permanent: b.permanent as boolean } }
      : { success: false, error: { issues: [{ path: [], message: 'expected { consecutiveFailures, bannedUntil, permanent }' }] } }
  },
}

const ProverState: Parser<'live' | 'lost'> = {
  safeParse(v) {
    return v === 'live' || v === 'lost'
      ? { success: true, data: v }
      : { success: false, error: { issues: [{ path: [], message: 'expected live or lost' }] } }
  },
}

/** SQLite's result codes for a full disk (SQLITE_FULL) and the OS's (ENOSPC, EDQUOT). */
const DISK_FULL = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT'])

/** STORAGE_FULL when the disk is full (nothing was written: the transaction rolled back), else STORAGE_ERROR. */
function storageError(message: string, cause: unknown, details: Record<string, unknown> = {}): GalacticError {
  const code = (cause as { code?: unknown } | null)?.code
  const why = cause instanceof Error ? cause.message : String(cause)
  const full = typeof code === 'string' && DISK_FULL.has(code)
  return new GalacticError(full ? 'STORAGE_FULL' : 'STORAGE_ERROR', `${message}: ${why}`, typeof code === 'string' ? { ...details, sqliteCode: code } : details, {
    cause,
  })
}

function jsonOrNull(v: unknown): string | null {
  return v === null ? null : JSON.stringify(v)
}

/** When a record reached its state, for the audit trail. */
function opAt(o: OpRecord, submittedAt: Map<string, number>): number {
  switch (o.state) {
    case 'pending':
      return submittedAt.get(o.graphId) ?? Date.now()
    case 'ready':
      return o.readyAt ?? Date.now()
    case 'assigned':
      return o.assignedAt ?? Date.now()
    case 'running':
      return o.startedAt ?? o.assignedAt ?? Date.now()
    default:
      return o.finishedAt ?? Date.now()
  }
}

function graphAt(g: GraphRecord): number {
  return g.state === 'running' ? g.submittedAt : (g.finishedAt ?? g.submittedAt)
}

/**
 * The oracle's write-ahead journal: one SQLite file (WAL, synchronous=FULL by default) holding every
 * graph, op and prover as the scheduler last reported it, plus an append-only `events` table.
 * Every row read back is parsed through the wire schemas.
 *
 * @example
 * const journal = Journal.open({ path: 'data/oracle.db' })
 * const scheduler = new Scheduler({}, { clock }, journal.load())
 * const step = scheduler.tick()
 * journal.apply(step.changes)
 */
export class Journal {
  private readonly db: Database.Database
  private readonly stmts: ReturnType<typeof prepare>
  private readonly applyTx: (entries: JournalEntry[]) => void
  private readonly syncTimer: NodeJS.Timeout | undefined
  private closed = false

  private constructor(db: Database.Database, syncTimer: NodeJS.Timeout | undefined) {
    this.db = db
    this.stmts = prepare(db)
    this.applyTx = db.transaction((entries: JournalEntry[]) => {
      // ops are created pending with their graph: their event time is the graph's submission
      const submittedAt = new Map<string, number>()
      for (const { changes } of entries) for (const c of changes) if (c.type === 'graph.put') submittedAt.set(c.graph.graphId, c.graph.submittedAt)
      // Ledger lines move balances; each balance is read and written once per transaction.
      const moved = new Map<string, { account: string; role: string; amount: bigint; entries: number }>()
      for (const { changes, pricing, blobs } of entries) {
        for (const b of blobs ?? []) this.stmts.putBlob.run(b.hash, b.bytes)
        for (const c of changes) this.write(c, submittedAt)
        for (const p of pricing) this.writePricing(p, moved)
      }
      for (const m of moved.values()) {
        const row = this.stmts.balanceOf.get(m.account, m.role) as { amount: string; entries: number } | undefined
        const amount = (row === undefined ? 0n : BigInt(row.amount)) + m.amount
        this.stmts.putBalance.run(m.account, m.role, amount.toString(), (row?.entries ?? 0) + m.entries)
      }
    })
    this.syncTimer = syncTimer
  }

  /**
   * Opens (or creates) a journal.
   *
   * @throws GalacticError `STORAGE_ERROR` when the file cannot be opened or was written by a newer version.
   */
  static open(init: JournalInit): Journal {
    let db: Database.Database
    try {
      mkdirSync(dirname(init.path), { recursive: true })
      db = new Database(init.path)
    } catch (err) {
      throw storageError(`cannot open journal ${init.path}`, err, { path: init.path })
    }
    try {
      db.pragma('journal_mode = WAL')
      db.pragma('busy_timeout = 5000')
      db.transaction(() => {
        db.exec(SCHEMA)
        const row = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as { value: string } | undefined
        if (row === undefined) {
          db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(JOURNAL_SCHEMA_VERSION))
          return
        }
        const version = Number(row.value)
        if (!Number.isInteger(version) || version > JOURNAL_SCHEMA_VERSION) {
          throw new GalacticError(
            'STORAGE_ERROR',
            `journal ${init.path} has schema version ${row.value}, this oracle reads up to ${JOURNAL_SCHEMA_VERSION}`,
            { path: init.path, version: row.value, supported: JOURNAL_SCHEMA_VERSION },
          )
        }
        // Version 2 keeps each prover's ban state (consecutive failures, window end, permanent).
        if (version < 2) db.exec('ALTER TABLE provers ADD COLUMN ban TEXT')
        // Version 3 adds pricing: graph_prices, cost_models, pgas_epochs, ledger, balances (created above).
        // Version 4 adds blobs: small outputs that came inline with their result (created above).
        if (version < JOURNAL_SCHEMA_VERSION) {
          db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(String(JOURNAL_SCHEMA_VERSION), 'schema_version')
        }
      })()
      return new Journal(db, syncMode(db, init.sync, init.syncIntervalMs))
    } catch (err) {
      db.close()
      if (GalacticError.is(err)) throw err
      throw storageError(`cannot open journal ${init.path}`, err, { path: init.path })
    }
  }

  /**
   * Writes one Step's changes in one transaction: upserts the rows and appends an `events` row
   * per graph.put and op.put. All or nothing.
   *
   * @throws GalacticError `STORAGE_FULL` when the disk is full, `STORAGE_ERROR` when SQLite refuses the write otherwise (read-only...).
   */
  apply(changes: Change[], pricing: PricingChange[] = []): void {
    this.applyAll([{ changes, pricing }])
  }

  /**
   * Writes several Steps in one transaction, in order (a group commit: one fsync for all of
   * them). All or nothing, like {@link apply}.
   */
  applyAll(entries: JournalEntry[]): void {
    if (entries.every((e) => e.changes.length === 0 && e.pricing.length === 0 && (e.blobs?.length ?? 0) === 0)) return
    try {
      this.applyTx(entries)
    } catch (err) {
      throw storageError('journal write failed', err)
    }
  }

  /**
   * Everything in the journal: graphs by seq, ops by graph seq then index, provers by id.
   *
   * @throws GalacticError `STORAGE_ERROR` naming the table, key and column of a corrupt row.
   */
  load(): Snapshot {
    return this.reading(() => {
      const graphs = this.stmts.allGraphs.all().map((row): GraphRecord => {
        const r = reader(row, 'graphs', ['graph_id'])
        return {
          graphId: r.text('graph_id'),
          seq: r.int('seq', 1),
          requester: r.text('requester'),
          nonce: r.text('nonce'),
          specHash: r.text('spec_hash'),
          priority: r.parse('priority', Priority),
          redundancy: r.intOrNull('redundancy', 1),
          pluginMode: r.parse('plugin_mode', PluginMode),
          state: r.parse('state', GraphState),
          submittedAt: r.int('submitted_at'),
          finishedAt: r.intOrNull('finished_at'),
        }
      })
      const ops = this.stmts.allOps.all().map((row): OpRecord => {
        const r = reader(row, 'ops', ['graph_id', 'op_id'])
        const opId = r.text('op_id')
        const spec = r.json('spec', Operation)
        if (spec.id !== opId) r.fail('spec', `op id is ${spec.id}, the row's op_id is ${opId}`)
        return {
          graphId: r.text('graph_id'),
          index: r.int('idx'),
          spec,
          state: r.parse('state', OpState),
          attempt: r.int('attempt'),
          deviceIds: r.jsonOrNull('device_ids', StringArray),
          outputs: r.jsonOrNull('outputs', OutputRefs),
          error: r.jsonOrNull('error', ErrorObject),
          readyAt: r.intOrNull('ready_at'),
          assignedAt: r.intOrNull('assigned_at'),
          startedAt: r.intOrNull('started_at'),
          finishedAt: r.intOrNull('finished_at'),
        }
      })
      const provers = this.stmts.allProvers.all().map((row): ProverRecord => {
        const r = reader(row, 'provers', ['prover_id'])
        const prover: ProverRecord = {
          proverId: r.text('prover_id'),
          peerId: r.text('peer_id'),
          device: r.json('device', DeviceDescriptor),
          slots: r.int('slots', 1),
          registeredAt: r.int('registered_at'),
          lastSeenAt: r.int('last_seen_at'),
          state: r.parse('state', ProverState),
        }
        const ban = r.jsonOrNull('ban', Ban)
        return ban === null ? prover : { ...prover, ban }
      })
      return { graphs, ops, provers }
    })
  }

  /** The pricing state: locked graph prices, cost models, the newest epoch, settled ops. */
  loadPricing(): PricingSnapshot {
    return this.reading(() => {
      const graphPrices = new Map<string, { pGas: bigint; maxPrice: bigint | null }>()
      for (const row of this.stmts.allGraphPrices.all()) {
        const r = reader(row, 'graph_prices', ['graph_id'])
        const maxPrice = r.row['max_price'] === null ? null : BigInt(r.parse('max_price', Wei))
        graphPrices.set(r.text('graph_id'), { pGas: BigInt(r.parse('p_gas', Wei)), maxPrice })
      }
      const models = this.stmts.allModels.all().map((row) => {
        const r = reader(row, 'cost_models', ['plugin_key'])
        return { plugin: r.json('plugin', PluginRef), model: r.json('model', AnyJson), from: r.text('from_prover'), at: r.int('at') }
      })
      const last = this.stmts.pgasHistory.all(1)[0]
      const settled = new Set<string>()
      for (const row of this.stmts.settledOps.all()) {
        const r = reader(row, 'ledger', ['graph_id', 'op_id'])
        settled.add(`${r.text('graph_id')}/${r.text('op_id')}`)
      }
      return { graphPrices, models, lastEpoch: last === undefined ? undefined : epochRow(last), settled }
    })
  }

  /** The last `limit` P_gas epochs, oldest first. */
  pgasHistory(limit: number): PGasEpoch[] {
    return this.reading(() => this.stmts.pgasHistory.all(limit).map(epochRow).reverse())
  }

  /** Balances, by account then role; with `account`, that account's only. */
  balances(account?: string): LedgerBalance[] {
    return this.reading(() =>
      (account === undefined ? this.stmts.allBalances.all() : this.stmts.balancesOf.all(account)).map((row): LedgerBalance => {
        const r = reader(row, 'balances', ['account', 'role'])
        return { account: r.text('account'), role: r.parse('role', LedgerRole), amount: r.parse('amount', Wei), entries: r.int('entries') }
      }),
    )
  }

  /** Ledger lines, oldest first. */
  ledger(filter: { graphId?: string; account?: string; limit: number }): LedgerEntry[] {
    return this.reading(() =>
      this.stmts.ledgerLines.all({ graphId: filter.graphId ?? null, account: filter.account ?? null, limit: filter.limit }).map((row): LedgerEntry => {
        const r = reader(row, 'ledger', ['seq'])
        const kind = r.parse('kind', LedgerKind)
        return {
          seq: r.int('seq', 1),
          graphId: r.text('graph_id'),
          opId: r.text('op_id'),
          account: r.text('account'),
          role: r.parse('role', LedgerRole),
          kind,
          amount: r.parse('amount', Wei),
          gas: r.int('gas'),
          pGas: r.parse('p_gas', Wei),
          at: r.int('at'),
        }
      }),
    )
  }

  /** A graph's audit trail, oldest first: one entry per journaled graph.put and op.put. */
  events(graphId: string): JournalEvent[] {
    return this.reading(() =>
      this.stmts.eventsOf.all(graphId).map((row): JournalEvent => {
        const r = reader(row, 'events', ['seq'])
        return {
          seq: r.int('seq', 1),
          at: r.int('at'),
          opId: r.row['op_id'] === null ? null : r.text('op_id'),
          state: r.text('state'),
          attempt: r.intOrNull('attempt'),
          deviceIds: r.jsonOrNull('device_ids', StringArray),
        }
      }),
    )
  }

  private reading<T>(read: () => T): T {
    try {
      return read()
    } catch (err) {
      if (GalacticError.is(err)) throw err
      throw storageError('journal read failed', err)
    }
  }

  /** A small output kept in the journal (see JournalEntry.blobs), or undefined. */
  blob(hash: string): Uint8Array | undefined {
    return this.reading(() => {
      const row = this.stmts.getBlob.get(hash) as { data: Buffer } | undefined
      return row === undefined ? undefined : new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength)
    })
  }

  /** SQLite's own integrity check of the file. */
  integrityCheck(): boolean {
    try {
      return this.db.pragma('integrity_check', { simple: true }) === 'ok'
    } catch {
      return false
    }
  }

  /** Closes the file. Calling it again does nothing. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer)
    this.db.close()
  }

  private write(c: Change, submittedAt: Map<string, number>): void {
    const s = this.stmts
    switch (c.type) {
      case 'graph.put': {
        const g = c.graph
        s.putGraph.run(
          g.graphId,
          g.seq,
          g.requester,
          g.nonce,
          g.specHash,
          g.priority,
          g.redundancy,
          g.pluginMode,
          g.state,
          g.submittedAt,
          g.finishedAt,
        )
        s.addEvent.run(graphAt(g), g.graphId, null, g.state, null, null)
        return
      }
      case 'op.put': {
        const o = c.op
        const deviceIds = jsonOrNull(o.deviceIds)
        // An op's spec and index never change after submission: a row already there gets only
        // its changing columns (no spec JSON to build and rewrite on every state change).
        const row = {
          graphId: o.graphId,
          opId: o.spec.id,
          state: o.state,
          attempt: o.attempt,
          deviceIds,
          outputs: jsonOrNull(o.outputs),
          error: jsonOrNull(o.error),
          readyAt: o.readyAt,
          assignedAt: o.assignedAt,
          startedAt: o.startedAt,
          finishedAt: o.finishedAt,
        }
        if (s.updateOp.run(row).changes === 0) s.putOp.run({ ...row, idx: o.index, spec: JSON.stringify(o.spec) })
        s.addEvent.run(opAt(o, submittedAt), o.graphId, o.spec.id, o.state, o.attempt, deviceIds)
        return
      }
      case 'prover.put': {
        const p = c.prover
        s.putProver.run(p.proverId, p.peerId, JSON.stringify(p.device), p.slots, p.registeredAt, p.lastSeenAt, p.state, jsonOrNull(p.ban ?? null))
        return
      }
    }
  }

  /** Writes one pricing record; a ledger line's amount is added to `moved`, written by the transaction's end. */
  private writePricing(p: PricingChange, moved: Map<string, { account: string; role: string; amount: bigint; entries: number }>): void {
    const s = this.stmts
    switch (p.type) {
      case 'graph.price':
        s.putGraphPrice.run(p.graphId, p.pGas.toString(), p.maxPrice === null ? null : p.maxPrice.toString())
        return
      case 'model.put':
        s.putModel.run(`${p.plugin.name}@${p.plugin.version}`, JSON.stringify(p.plugin), JSON.stringify(p.model), p.from, p.at)
        return
      case 'pgas.put': {
        const e = p.epoch
        s.putEpoch.run(e.epoch, e.at, e.pGas, e.source, e.demandGas, e.supplyGasPerSec)
        s.pruneEpochs.run(e.epoch - PGAS_EPOCHS_KEPT)
        return
      }
      case 'ledger.add': {
        const e = p.entry
        // A line already written (the same op settled twice) changes nothing: settlement is idempotent.
        const added = s.addLedger.run(e.graphId, e.opId, e.account, e.role, e.kind, e.amount, e.gas, e.pGas, e.at)
        if (added.changes === 0) return
        const key = `${e.account}\n${e.role}`
        const m = moved.get(key)
        if (m === undefined) moved.set(key, { account: e.account, role: e.role, amount: BigInt(e.amount), entries: 1 })
        else {
          m.amount += BigInt(e.amount)
          m.entries++
        }
        return
      }
    }
  }
}

const LedgerKind: Parser<LedgerEntry['kind']> = {
  safeParse: (v) =>
    v === 'charge' || v === 'reward' || v === 'share'
      ? { success: true, data: v }
      : { success: false, error: { issues: [{ path: [], message: 'expected charge, reward or share' }] } },
}

const AnyJson: Parser<unknown> = { safeParse: (v) => ({ success: true, data: v }) }

function epochRow(row: unknown): PGasEpoch {
  const r = reader(row, 'pgas_epochs', ['epoch'])
  return {
    epoch: r.int('epoch'),
    at: r.int('at'),
    pGas: r.parse('p_gas', Wei),
    source: r.parse('source', PGasSource),
    demandGas: r.parse('demand_gas', NonNegative),
    supplyGasPerSec: r.parse('supply_gps', NonNegative),
  }
}

const NonNegative: Parser<number> = {
  safeParse: (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0
      ? { success: true, data: v }
      : { success: false, error: { issues: [{ path: [], message: 'expected a finite number >= 0' }] } },
}

function reader(row: unknown, table: string, keyColumns: string[]): RowReader {
  const r = (row ?? {}) as Record<string, unknown>
  return new RowReader(r, table, keyColumns.map((c) => String(r[c] ?? '?')).join('/'))
}

function prepare(db: Database.Database) {
  return {
    putBlob: db.prepare('INSERT OR IGNORE INTO blobs (hash, data) VALUES (?, ?)'),
    getBlob: db.prepare('SELECT data FROM blobs WHERE hash = ?'),
    putGraph: db.prepare(
      `INSERT INTO graphs (graph_id, seq, requester, nonce, spec_hash, priority, redundancy, plugin_mode, state, submitted_at, finished_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (graph_id) DO UPDATE SET seq = excluded.seq, requester = excluded.requester, nonce = excluded.nonce,
         spec_hash = excluded.spec_hash, priority = excluded.priority, redundancy = excluded.redundancy,
         plugin_mode = excluded.plugin_mode, state = excluded.state, submitted_at = excluded.submitted_at,
         finished_at = excluded.finished_at`,
    ),
    putOp: db.prepare(
      `INSERT INTO ops (graph_id, op_id, idx, spec, state, attempt, device_ids, outputs, error, ready_at, assigned_at, started_at, finished_at)
       VALUES (@graphId, @opId, @idx, @spec, @state, @attempt, @deviceIds, @outputs, @error, @readyAt, @assignedAt, @startedAt, @finishedAt)
       ON CONFLICT (graph_id, op_id) DO UPDATE SET idx = excluded.idx, spec = excluded.spec, state = excluded.state,
         attempt = excluded.attempt, device_ids = excluded.device_ids, outputs = excluded.outputs, error = excluded.error,
         ready_at = excluded.ready_at, assigned_at = excluded.assigned_at, started_at = excluded.started_at,
         finished_at = excluded.finished_at`,
    ),
    updateOp: db.prepare(
      `UPDATE ops SET state = @state, attempt = @attempt, device_ids = @deviceIds, outputs = @outputs, error = @error,
         ready_at = @readyAt, assigned_at = @assignedAt, started_at = @startedAt, finished_at = @finishedAt
       WHERE graph_id = @graphId AND op_id = @opId`,
    ),
    putProver: db.prepare(
      `INSERT INTO provers (prover_id, peer_id, device, slots, registered_at, last_seen_at, state, ban)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (prover_id) DO UPDATE SET peer_id = excluded.peer_id, device = excluded.device, slots = excluded.slots,
         registered_at = excluded.registered_at, last_seen_at = excluded.last_seen_at, state = excluded.state, ban = excluded.ban`,
    ),
    addEvent: db.prepare('INSERT INTO events (at, graph_id, op_id, state, attempt, device_ids) VALUES (?, ?, ?, ?, ?, ?)'),
    allGraphs: db.prepare('SELECT * FROM graphs ORDER BY seq'),
    allOps: db.prepare(
      `SELECT o.graph_id, o.op_id, o.idx, o.spec, o.state, o.attempt, o.device_ids, o.outputs, o.error,
              o.ready_at, o.assigned_at, o.started_at, o.finished_at
       FROM ops o LEFT JOIN graphs g ON g.graph_id = o.graph_id
       ORDER BY g.seq, o.graph_id, o.idx`,
    ),
    allProvers: db.prepare('SELECT * FROM provers ORDER BY prover_id'),
    eventsOf: db.prepare('SELECT seq, at, op_id, state, attempt, device_ids FROM events WHERE graph_id = ? ORDER BY seq'),
    putGraphPrice: db.prepare('INSERT OR REPLACE INTO graph_prices (graph_id, p_gas, max_price) VALUES (?, ?, ?)'),
    allGraphPrices: db.prepare('SELECT * FROM graph_prices'),
    // The first model registered for a plugin version stays (docs/pricing.md, "Cost models").
    putModel: db.prepare('INSERT OR IGNORE INTO cost_models (plugin_key, plugin, model, from_prover, at) VALUES (?, ?, ?, ?, ?)'),
    allModels: db.prepare('SELECT * FROM cost_models ORDER BY at, plugin_key'),
    putEpoch: db.prepare('INSERT OR REPLACE INTO pgas_epochs (epoch, at, p_gas, source, demand_gas, supply_gps) VALUES (?, ?, ?, ?, ?, ?)'),
    pruneEpochs: db.prepare('DELETE FROM pgas_epochs WHERE epoch <= ?'),
    pgasHistory: db.prepare('SELECT * FROM pgas_epochs ORDER BY epoch DESC LIMIT ?'),
    addLedger: db.prepare(
      `INSERT INTO ledger (graph_id, op_id, account, role, kind, amount, gas, p_gas, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (graph_id, op_id, account, kind) DO NOTHING`,
    ),
    settledOps: db.prepare("SELECT DISTINCT graph_id, op_id FROM ledger WHERE kind = 'charge'"),
    balanceOf: db.prepare('SELECT amount, entries FROM balances WHERE account = ? AND role = ?'),
    putBalance: db.prepare('INSERT OR REPLACE INTO balances (account, role, amount, entries) VALUES (?, ?, ?, ?)'),
    allBalances: db.prepare('SELECT * FROM balances ORDER BY account, role'),
    balancesOf: db.prepare('SELECT * FROM balances WHERE account = ? ORDER BY role'),
    ledgerLines: db.prepare(
      'SELECT * FROM ledger WHERE (@graphId IS NULL OR graph_id = @graphId) AND (@account IS NULL OR account = @account) ORDER BY seq LIMIT @limit',
    ),
  }
}
