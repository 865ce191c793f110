import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { contentHash, GalacticError } from '@galactic/schemas'
import type { Task } from '@galactic/schemas'
import { Scheduler } from '../src/core/index.js'
import type { Change, Step } from '../src/core/index.js'
import { Journal, JOURNAL_SCHEMA_VERSION } from '../src/journal/index.js'
import { thrown } from '../../test/support/rejection.js'
import { assigns, device, FakeClock, failure, flat, MemoryStore, success, zkm } from './helpers.js'

let dir: string
let path: string
const open: Journal[] = []

function openJournal(p = path): Journal {
  const j = Journal.open({ path: p })
  open.push(j)
  return j
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'galactic-journal-'))
  path = join(dir, 'oracle.db')
})

afterEach(() => {
  for (const j of open.splice(0)) j.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A scheduler whose every Step is written to `journal` (and to a MemoryStore to compare with). */
function journaled(journal: Journal, init = {}) {
  const clock = new FakeClock()
  const s = new Scheduler(init, { clock })
  const store = new MemoryStore()
  const run = (step: Step): Step => {
    journal.apply(step.changes)
    store.apply(step.changes)
    return step
  }
  const register = (proverId: string, slots = 2): Step =>
    run(s.registerProver({ proverId, peerId: `peer-${proverId}`, device: device(), slots, running: [] }))
  const complete = (proverId: string, task: Task): Step => {
    clock.advance(5)
    run(s.taskStarted(proverId, task))
    clock.advance(5)
    return run(s.taskResult(proverId, task, success(task), [`peer-${proverId}`]))
  }
  return { clock, s, store, run, register, complete }
}

describe('Journal', () => {
  it('creates its folder, uses WAL and records its schema version', () => {
    const nested = join(dir, 'a', 'b', 'oracle.db')
    openJournal(nested).close()
    const db = new Database(nested, { readonly: true })
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
      expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: String(JOURNAL_SCHEMA_VERSION) })
    } finally {
      db.close()
    }
  })

  it('loads nothing from a new file', () => {
    expect(openJournal().load()).toEqual({ graphs: [], ops: [], provers: [] })
  })

  it('keeps applied changes across close and reopen; load() equals what the scheduler reported', () => {
    const journal = openJournal()
    const w = journaled(journal)
    w.register('p2')
    w.register('p1')
    w.run(w.s.submit('g1', 'h1', zkm(2)).step)
    w.run(w.s.submit('g2', 'h2', flat(['x', 'y'])).step)
    const task = w.s.provers().flatMap((p) => p.running.map((r) => ({ p: p.proverId, r }))).find((x) => x.r.opId === 'split')!
    w.run(w.s.taskResult(task.p, task.r, { ok: true, outputs: [{ name: 'proof', hash: `sha256:${'ab'.repeat(32)}`, size: 3 }] }, ['peer-x']))
    journal.close()

    const reopened = openJournal()
    const loaded = reopened.load()
    const expected = w.store.snapshot()
    expect(loaded.graphs).toEqual(expected.graphs)
    expect(loaded.ops).toEqual(expected.ops)
    expect(loaded.provers).toEqual([...expected.provers].sort((a, b) => a.proverId.localeCompare(b.proverId)))
    // ops come back in graph seq, then index order
    expect(loaded.ops.map((o) => `${o.graphId}/${o.index}`)).toEqual(['g1/0', 'g1/1', 'g1/2', 'g1/3', 'g1/4', 'g2/0', 'g2/1'])
    const restored = new Scheduler({}, { clock: w.clock }, loaded)
    for (const g of ['g1', 'g2']) expect(restored.graphStatus(g)).toEqual(w.s.graphStatus(g))
    expect(reopened.integrityCheck()).toBe(true)
  })

  it('journals a whole run; a fresh scheduler restored from load() reports the same graph', () => {
    const journal = openJournal()
    const w = journaled(journal, { maxAttempts: 3 })
    w.register('p1')
    w.register('p2')
    const queue = assigns(w.run(w.s.submit('g1', 'h1', zkm(5)).step))
    let failedOnce = false
    while (queue.length > 0) {
      const a = queue.shift()!
      if (!failedOnce && a.task.opId === 'prove-3') {
        failedOnce = true
        queue.push(...assigns(w.run(w.s.taskResult(a.proverId, a.task, failure, []))))
        continue
      }
      queue.push(...assigns(w.complete(a.proverId, a.task)))
    }
    const status = w.s.graphStatus('g1')!
    expect(status.state).toBe('succeeded')
    expect(status.ops.find((o) => o.id === 'prove-3')?.attempt).toBe(2)

    journal.close()
    const restored = new Scheduler({}, { clock: new FakeClock(w.clock.now() + 1) }, openJournal().load())
    expect(restored.graphStatus('g1')).toEqual(status)
    expect(restored.provers().map((p) => ({ ...p, lastSeenAt: 0 }))).toEqual(
      w.s.provers().map((p) => ({ ...p, connected: false, lastSeenAt: 0 })),
    )
    const snark = status.ops.find((o) => o.id === 'snark')!.outputs![0]!
    expect(restored.output(snark.hash)).toEqual(snark)
  })

  it('events() lists the transitions of a graph in order', () => {
    const journal = openJournal()
    const w = journaled(journal)
    w.run(w.s.submit('g1', 'h1', flat(['a'])).step)
    const t0 = w.clock.now()
    w.clock.advance(100)
    const [a] = assigns(w.register('p1'))
    w.complete('p1', a!.task)
    w.run(w.s.submit('g2', 'h2', flat(['b'], {}, 'other')).step)
    const events = journal.events('g1')
    expect(events.map(({ seq: _seq, ...e }) => e)).toEqual([
      { at: t0, opId: null, state: 'running', attempt: null, deviceIds: null },
      { at: t0, opId: 'a', state: 'ready', attempt: 0, deviceIds: null },
      { at: t0 + 100, opId: 'a', state: 'assigned', attempt: 1, deviceIds: ['p1'] },
      { at: t0 + 105, opId: 'a', state: 'running', attempt: 1, deviceIds: ['p1'] },
      { at: t0 + 110, opId: 'a', state: 'succeeded', attempt: 1, deviceIds: ['p1'] },
      { at: t0 + 110, opId: null, state: 'succeeded', attempt: null, deviceIds: null },
    ])
    const seqs = events.map((e) => e.seq)
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs)
    expect(journal.events('g2').map((e) => e.state)).toEqual(['running', 'assigned'])
    expect(journal.events('missing')).toEqual([])
    w.clock.advance(1000)
    w.run(w.s.submit('g3', 'h3', zkm(2)).step)
    const g3 = journal.events('g3')
    expect(g3.filter((e) => e.state === 'pending').map((e) => [e.opId, e.at])).toEqual(
      ['prove-0', 'prove-1', 'agg-0-0', 'snark'].map((id) => [id, w.clock.now()]),
    )
  })

  it.each([
    { table: 'ops', column: 'spec', sql: "UPDATE ops SET spec = '{}'" },
    { table: 'ops', column: 'outputs', sql: "UPDATE ops SET outputs = 'not json'" },
    { table: 'ops', column: 'state', sql: "UPDATE ops SET state = 'exploded'" },
    { table: 'ops', column: 'attempt', sql: "UPDATE ops SET attempt = -1" },
    { table: 'graphs', column: 'priority', sql: "UPDATE graphs SET priority = 'cheap'" },
    { table: 'provers', column: 'device', sql: "UPDATE provers SET device = '{\"os\":\"plan9\"}'" },
  ])('a corrupt $table.$column gives STORAGE_ERROR naming table, key and column', ({ table, column, sql }) => {
    const journal = openJournal()
    const w = journaled(journal)
    w.register('p1')
    w.run(w.s.submit('g1', 'h1', flat(['a'])).step)
    const [a] = w.s.provers()[0]!.running
    w.run(w.s.taskResult('p1', a!, { ok: true, outputs: [{ name: 'o', hash: `sha256:${'00'.repeat(32)}`, size: 1 }] }, []))
    journal.close()
    const db = new Database(path)
    db.exec(sql)
    db.close()
    const err = thrown(() => openJournal().load(), 'STORAGE_ERROR')
    expect(err.details).toMatchObject({ table, column })
    expect(err.details?.['key']).toBe(table === 'ops' ? 'g1/a' : table === 'graphs' ? 'g1' : 'p1')
    expect(err.message).toContain(table)
  })

  it('a refused write is a STORAGE_ERROR and leaves nothing half written', () => {
    const journal = openJournal()
    const clock = new FakeClock()
    const s = new Scheduler({}, { clock })
    const first = s.submit('g1', 'h1', flat(['a'])).step
    journal.apply(first.changes)
    const graph = first.changes.find((c): c is Extract<Change, { type: 'graph.put' }> => c.type === 'graph.put')!.graph
    // a second graph with the same seq breaks the UNIQUE constraint on graphs.seq
    const bad: Change[] = [
      { type: 'prover.put', prover: { proverId: 'p9', peerId: 'x', device: device(), slots: 1, registeredAt: 1, lastSeenAt: 1, state: 'live' } },
      { type: 'graph.put', graph: { ...graph, graphId: 'g2' } },
    ]
    const err = thrown(() => journal.apply(bad), 'STORAGE_ERROR')
    expect(err.details?.['sqliteCode']).toMatch(/^SQLITE_CONSTRAINT/)
    expect(err.cause).toBeInstanceOf(Error)
    expect(journal.load().provers).toEqual([])
    expect(journal.load().graphs.map((g) => g.graphId)).toEqual(['g1'])
  })

  it('refuses a journal written by a newer version', () => {
    openJournal().close()
    const db = new Database(path)
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(JOURNAL_SCHEMA_VERSION + 1))
    db.close()
    const err = thrown(() => openJournal(), 'STORAGE_ERROR')
    expect(err.details).toMatchObject({ version: String(JOURNAL_SCHEMA_VERSION + 1) })
  })

  it('cannot open a path that is a folder', () => {
    thrown(() => openJournal(dir), 'STORAGE_ERROR')
  })

  it('integrityCheck() is true for a journal in use', () => {
    const journal = openJournal()
    const w = journaled(journal)
    w.register('p1')
    w.run(w.s.submit('g1', 'h1', zkm(3)).step)
    expect(journal.integrityCheck()).toBe(true)
  })
})

describe('journal: prover ban state (schema version 2)', () => {
  const prover = { proverId: 'p1', peerId: 'peer', device: device(), slots: 1, registeredAt: 1, lastSeenAt: 2, state: 'live' as const }

  it('keeps a prover ban across a reopen, and no ban when there is none', () => {
    const j = openJournal()
    j.apply([
      { type: 'prover.put', prover: { ...prover, ban: { consecutiveFailures: 4, bannedUntil: null, permanent: true } } },
      { type: 'prover.put', prover: { ...prover, proverId: 'p2' } },
    ])
    j.close()
    open.splice(0)
    const provers = openJournal().load().provers
    expect(provers.find((p) => p.proverId === 'p1')?.ban).toEqual({ consecutiveFailures: 4, bannedUntil: null, permanent: true })
    expect(provers.find((p) => p.proverId === 'p2')).not.toHaveProperty('ban')
  })

  it('upgrades a version 1 journal in place, keeping its provers', () => {
    const db = new Database(path)
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES ('schema_version', '1');
      CREATE TABLE provers (prover_id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, device TEXT NOT NULL, slots INTEGER NOT NULL,
        registered_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, state TEXT NOT NULL);`)
    db.prepare('INSERT INTO provers VALUES (?, ?, ?, ?, ?, ?, ?)').run('old', 'peer', JSON.stringify(device()), 1, 1, 2, 'live')
    db.close()
    const j = openJournal()
    expect(j.load().provers.map((p) => p.proverId)).toEqual(['old'])
    j.apply([{ type: 'prover.put', prover: { ...prover, proverId: 'old', ban: { consecutiveFailures: 1, bannedUntil: 99, permanent: false } } }])
    expect(j.load().provers[0]?.ban).toEqual({ consecutiveFailures: 1, bannedUntil: 99, permanent: false })
    const version = new Database(path, { readonly: true })
    expect(version.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: String(JOURNAL_SCHEMA_VERSION) })
    version.close()
  })

  it('refuses a corrupt ban column with the table and column named', () => {
    const j = openJournal()
    j.apply([{ type: 'prover.put', prover: { ...prover, ban: { consecutiveFailures: 1, bannedUntil: 5, permanent: false } } }])
    const db = new Database(path)
    db.prepare("UPDATE provers SET ban = '{\"permanent\":\"yes\"}'").run()
    db.close()
    try {
      j.load()
      expect.unreachable('load should refuse the row')
    } catch (err) {
      expect(GalacticError.is(err, 'STORAGE_ERROR')).toBe(true)
      expect((err as GalacticError).message).toContain('provers')
      expect((err as GalacticError).message).toContain('ban')
    }
  })
})

describe('journal: group commits, inline blobs and sync modes (schema version 4)', () => {
  const blob = (text: string): { hash: string; bytes: Uint8Array } => {
    const bytes = new TextEncoder().encode(text)
    return { hash: contentHash(bytes), bytes }
  }

  it('applyAll writes several Steps and their blobs in one transaction, in order', () => {
    const journal = openJournal()
    const clock = new FakeClock()
    const s = new Scheduler({}, { clock })
    const a = s.submit('g1', 'h1', flat(['a'])).step
    const b = s.submit('g2', 'h2', flat(['b'])).step
    const out = blob('an output')
    journal.applyAll([
      { changes: a.changes, pricing: [] },
      { changes: b.changes, pricing: [], blobs: [out] },
    ])
    journal.close()
    const reopened = openJournal()
    expect(reopened.load().graphs.map((g) => g.graphId)).toEqual(['g1', 'g2'])
    expect(Buffer.from(reopened.blob(out.hash) ?? []).toString()).toBe('an output')
    expect(reopened.blob(blob('never stored').hash)).toBeUndefined()
  })

  it('a refused group commit keeps none of its Steps or blobs', () => {
    const journal = openJournal()
    const s = new Scheduler({}, { clock: new FakeClock() })
    const first = s.submit('g1', 'h1', flat(['a'])).step
    const graph = first.changes.find((c): c is Extract<Change, { type: 'graph.put' }> => c.type === 'graph.put')!.graph
    const out = blob('lost with its batch')
    // the second entry breaks the UNIQUE constraint on graphs.seq: the first goes too
    const err = thrown(
      () =>
        journal.applyAll([
          { changes: first.changes, pricing: [], blobs: [out] },
          { changes: [{ type: 'graph.put', graph: { ...graph, graphId: 'g2' } }], pricing: [] },
        ]),
      'STORAGE_ERROR',
    )
    expect(err.details?.['sqliteCode']).toMatch(/^SQLITE_CONSTRAINT/)
    expect(journal.load().graphs).toEqual([])
    expect(journal.blob(out.hash)).toBeUndefined()
  })

  it('a group commit moves each balance by the sum of its new ledger lines; a line written before moves nothing', () => {
    const journal = openJournal()
    const line = (opId: string, account: string, role: 'requester' | 'prover', kind: 'charge' | 'reward', amount: string) =>
      ({ type: 'ledger.add', entry: { graphId: 'g1', opId, account, role, kind, amount, gas: 10, pGas: '1', at: 1 } }) as const
    journal.apply([], [line('a', 'req', 'requester', 'charge', '10'), line('a', 'p1', 'prover', 'reward', '10')])
    journal.applyAll([
      { changes: [], pricing: [line('b', 'req', 'requester', 'charge', '7'), line('b', 'p1', 'prover', 'reward', '7')] },
      // settled again (a replay): ignored, balances unchanged
      { changes: [], pricing: [line('a', 'req', 'requester', 'charge', '10')] },
      { changes: [], pricing: [line('c', 'req', 'requester', 'charge', '5'), line('c', 'p2', 'prover', 'reward', '5')] },
    ])
    expect(journal.balances()).toEqual([
      { account: 'p1', role: 'prover', amount: '17', entries: 2 },
      { account: 'p2', role: 'prover', amount: '5', entries: 1 },
      { account: 'req', role: 'requester', amount: '22', entries: 3 },
    ])
    expect(journal.ledger({ limit: 100 })).toHaveLength(6)
  })

  it("an op's later states update its row; the spec written at submission is what load() returns", () => {
    const journal = openJournal()
    const { s, register, complete, run } = journaled(journal)
    run(s.submit('g1', 'h1', flat(['a'])).step)
    const [assign] = assigns(register('p1'))
    complete('p1', assign!.task)
    const db = new Database(path, { readonly: true })
    const row = db.prepare('SELECT spec, state, attempt FROM ops WHERE graph_id = ? AND op_id = ?').get('g1', 'a') as { spec: string; state: string; attempt: number }
    db.close()
    expect(row.state).toBe('succeeded')
    expect(row.attempt).toBe(1)
    expect(JSON.parse(row.spec)).toEqual(flat(['a']).ops[0])
    expect(journal.load().ops[0]).toMatchObject({ state: 'succeeded', spec: flat(['a']).ops[0] })
  })

  it("sync 'full' fsyncs every commit; 'interval' leaves it to a checkpoint, and a reopen still finds every commit", () => {
    const full = Journal.open({ path: join(dir, 'full.db') })
    open.push(full)
    const interval = Journal.open({ path: join(dir, 'interval.db'), sync: 'interval', syncIntervalMs: 50 })
    open.push(interval)
    // synchronous is per connection: read on the journal's own
    expect((full as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true })).toBe(2) // FULL
    expect((interval as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true })).toBe(1) // NORMAL
    const s = new Scheduler({}, { clock: new FakeClock() })
    interval.apply(s.submit('g1', 'h1', flat(['a'])).step.changes)
    interval.close()
    const reopened = Journal.open({ path: join(dir, 'interval.db'), sync: 'interval' })
    open.push(reopened)
    expect(reopened.load().graphs.map((g) => g.graphId)).toEqual(['g1'])
  })
})
