import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { GalacticError, TaskOutcome, type SignedResult } from '@galactic/schemas'
import { syncMode } from '../journal/index.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS prover_identities (
  prover_id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  peer_id TEXT NOT NULL,
  bound_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  graph_id TEXT NOT NULL,
  op_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  prover_id TEXT NOT NULL,
  address TEXT NOT NULL,
  outcome TEXT NOT NULL,
  outcome_hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  peer_id TEXT,
  PRIMARY KEY (graph_id, op_id, attempt, prover_id)
);
CREATE TABLE IF NOT EXISTS signed_lists (
  signature TEXT PRIMARY KEY,
  results TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registrations (
  peer_id TEXT NOT NULL,
  address TEXT NOT NULL,
  prover_id TEXT NOT NULL,
  signed_at INTEGER NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (peer_id, address)
);
`

/**
 * A prover's registration as signed (EIP-712 `ProverRegistration`, docs/security.md): it binds the
 * libp2p peer id, whose identity key signs results, to the Ethereum address.
 */
export interface RegistrationEvidence {
  proverId: string
  peerId: string
  address: string
  signedAt: number
  signature: string
}

/** One signed result as kept: enough for anyone to check the prover's signature later. */
export interface ResultEvidence {
  graphId: string
  opId: string
  attempt: number
  proverId: string
  address: string
  /** The peer whose identity key made `signature` (null for evidence kept before peer ids were). */
  peerId: string | null
  outcome: TaskOutcome
  outcomeHash: string
  /** The Ed25519 signature over `signed`, the list of results the prover sent with this one. */
  signature: string
  receivedAt: number
  /** What the signature covers: this result's and its companions' `{ graphId, opId, attempt, outcomeHash }`, in order. */
  signed: SignedResult[]
  /** The registration that binds `peerId` to `address`, when kept. */
  registration: RegistrationEvidence | null
}

/**
 * `evidence.sqlite` in the oracle's data dir, apart from the journal: which Ethereum address
 * owns each prover id (first registration wins), and every signed result received.
 */
export class EvidenceStore {
  private readonly db: Database.Database
  private readonly stmts
  private readonly syncTimer: NodeJS.Timeout | undefined

  private constructor(db: Database.Database, syncTimer: NodeJS.Timeout | undefined) {
    this.db = db
    this.syncTimer = syncTimer
    this.stmts = {
      identity: db.prepare('SELECT address FROM prover_identities WHERE prover_id = ?'),
      bind: db.prepare('INSERT INTO prover_identities (prover_id, address, peer_id, bound_at) VALUES (?, ?, ?, ?) ON CONFLICT (prover_id) DO UPDATE SET peer_id = excluded.peer_id'),
      putRegistration: db.prepare(
        'INSERT INTO registrations (peer_id, address, prover_id, signed_at, signature) VALUES (?, ?, ?, ?, ?) ON CONFLICT (peer_id, address) DO UPDATE SET prover_id = excluded.prover_id, signed_at = excluded.signed_at, signature = excluded.signature',
      ),
      putResult: db.prepare(
        'INSERT OR IGNORE INTO results (graph_id, op_id, attempt, prover_id, address, peer_id, outcome, outcome_hash, signature, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      putSigned: db.prepare('INSERT OR IGNORE INTO signed_lists (signature, results) VALUES (?, ?)'),
      results: db.prepare(
        `SELECT r.*, s.results AS signed, g.prover_id AS reg_prover_id, g.signed_at AS reg_signed_at, g.signature AS reg_signature
         FROM results r LEFT JOIN signed_lists s ON s.signature = r.signature
         LEFT JOIN registrations g ON g.peer_id = r.peer_id AND g.address = r.address
         WHERE r.graph_id = ? ORDER BY r.op_id, r.attempt, r.prover_id`,
      ),
    }
  }

  /** @throws STORAGE_ERROR when the file cannot be opened. */
  /**
   * Evidence is written without an fsync per commit (WAL, `synchronous = NORMAL`: a crash of the
   * process loses nothing) and fsynced by a checkpoint every `syncIntervalMs`; the journal, not
   * this file, is what the oracle acts on.
   */
  static open(path: string, syncIntervalMs = 1000): EvidenceStore {
    try {
      mkdirSync(dirname(path), { recursive: true })
      const db = new Database(path)
      db.pragma('journal_mode = WAL')
      db.pragma('busy_timeout = 5000')
      db.exec(SCHEMA)
      // Files made before results named their signing peer.
      const columns = db.prepare('PRAGMA table_info(results)').all() as Array<{ name: string }>
      if (!columns.some((c) => c.name === 'peer_id')) db.exec('ALTER TABLE results ADD COLUMN peer_id TEXT')
      return new EvidenceStore(db, syncMode(db, 'interval', syncIntervalMs))
    } catch (err) {
      throw new GalacticError('STORAGE_ERROR', `cannot open the evidence store ${path}: ${(err as Error).message}`, { path }, { cause: err })
    }
  }

  /** The address bound to a prover id, if any. */
  addressOf(proverId: string): string | undefined {
    return (this.stmts.identity.get(proverId) as { address: string } | undefined)?.address
  }

  /**
   * Binds a prover id to an address (kept if already bound), notes its latest peer id, and keeps
   * the signed registration that binds that peer id to the address.
   */
  bind(reg: RegistrationEvidence, at: number): void {
    this.write(() =>
      this.db.transaction(() => {
        this.stmts.bind.run(reg.proverId, reg.address, reg.peerId, at)
        this.stmts.putRegistration.run(reg.peerId, reg.address, reg.proverId, reg.signedAt, reg.signature)
      })(),
    )
  }

  /** Results sent together under one signature over `signed`, in one transaction. */
  putResults(results: Array<Omit<ResultEvidence, 'signed' | 'registration'>>, signed: SignedResult[]): void {
    this.write(() =>
      this.db.transaction(() => {
        const first = results[0]
        if (first !== undefined) this.stmts.putSigned.run(first.signature, JSON.stringify(signed))
        for (const e of results) {
          this.stmts.putResult.run(e.graphId, e.opId, e.attempt, e.proverId, e.address, e.peerId, JSON.stringify(e.outcome), e.outcomeHash, e.signature, e.receivedAt)
        }
      })(),
    )
  }

  /** Signed results of a graph, by op, attempt and prover. */
  results(graphId: string): ResultEvidence[] {
    return (this.stmts.results.all(graphId) as Array<Record<string, unknown>>).map((r) => ({
      graphId: String(r['graph_id']),
      opId: String(r['op_id']),
      attempt: Number(r['attempt']),
      proverId: String(r['prover_id']),
      address: String(r['address']),
      outcome: TaskOutcome.parse(JSON.parse(String(r['outcome']))),
      outcomeHash: String(r['outcome_hash']),
      signature: String(r['signature']),
      receivedAt: Number(r['received_at']),
      peerId: r['peer_id'] === null ? null : String(r['peer_id']),
      signed: r['signed'] === null ? [] : (JSON.parse(String(r['signed'])) as SignedResult[]),
      registration:
        r['reg_signature'] === null
          ? null
          : { proverId: String(r['reg_prover_id']), peerId: String(r['peer_id']), address: String(r['address']), signedAt: Number(r['reg_signed_at']), signature: String(r['reg_signature']) },
    }))
  }

  close(): void {
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer)
    if (this.db.open) this.db.close()
  }

  private write(fn: () => unknown): void {
    try {
      fn()
    } catch (err) {
      throw new GalacticError('STORAGE_ERROR', `evidence write failed: ${(err as Error).message}`, undefined, { cause: err })
    }
  }
}
