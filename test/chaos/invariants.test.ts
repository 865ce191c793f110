import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileBlobStore } from '@galactic/net'
import { pino } from 'pino'
import { DEFAULT_GAS_TABLE } from '@galactic/gas'
import { gasModels, Journal, OraclePricing, resolvePricingInit, Scheduler, type PricingChange, type Step } from '@galactic/oracle'
import { GAS_MODEL, runOp } from '@galactic/plugin-sha256-chain'
import { buildZkmGraph, contentHash, parseGraph, type DeviceDescriptor, type Task } from '@galactic/schemas'
import { checkInvariants } from './invariants.js'
import { PLUGIN } from './harness.js'

const device: DeviceDescriptor = { os: 'linux', cpu: { model: 'test', arch: 'x64', cores: 8 }, gpus: [], memoryMiB: 16_384, plugins: [{ ...PLUGIN }] }

/**
 * The invariants must be able to fail. A real scheduler and journal (no processes) run a small
 * graph with the real sha256-chain code, which passes; then copies of that data folder are broken
 * one way each, and each is caught by the invariant it breaks.
 */
describe('chaos invariants', () => {
  let dir: string
  let good: string
  let graphId: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-invariants-'))
    good = join(dir, 'good')
    const journal = Journal.open({ path: join(good, 'journal.sqlite') })
    const blobs = new FileBlobStore(join(good, 'blobs'))
    const scheduler = new Scheduler({}, { clock: { now: () => Date.now() } })
    // The oracle's pricing, as it runs: the cost model from registration, a locked price, settlement.
    const pricing = new OraclePricing(resolvePricingInit({ initialPGas: 1000n }), journal.loadPricing(), {
      gas: gasModels(DEFAULT_GAS_TABLE),
      proversFor: () => 1,
      log: pino({ level: 'silent' }),
    }, 0)
    const queue: Task[] = []
    const run = (step: Step, priced: PricingChange[] = []): void => {
      journal.apply(step.changes, priced)
      for (const a of step.actions) if (a.type === 'assign') queue.push(a.task)
    }
    run(scheduler.registerProver({ proverId: 'p1', peerId: 'peer-p1', device, slots: 4, running: [] }), pricing.onRegister('p1', [{ plugin: PLUGIN, model: GAS_MODEL }], undefined, 0))
    graphId = 'g_invariants'
    const graph = parseGraph(buildZkmGraph({ requester: 'chaos', nonce: '1', segments: 5, plugin: PLUGIN, params: { seed: 'inv', segmentSteps: 50 } }))
    run(scheduler.submit(graphId, 'spec', graph).step, pricing.onSubmit(graphId, graph))
    for (let task = queue.shift(); task !== undefined; task = queue.shift()) {
      const inputs = []
      for (const input of task.inputs) {
        for (const out of input.outputs) inputs.push({ opId: input.opId, name: out.name, hash: out.hash, data: Buffer.from((await blobs.get(out.hash)) as Uint8Array).toString('base64') })
      }
      const result = await runOp({ op: task.name, params: task.params, inputs })
      const outputs = []
      for (const out of result.outputs) {
        const bytes = new Uint8Array(Buffer.from(out.data, 'base64'))
        await blobs.put(contentHash(bytes), bytes)
        outputs.push({ name: out.name, hash: contentHash(bytes), size: bytes.byteLength })
      }
      run(scheduler.taskStarted('p1', task))
      const step = scheduler.taskResult('p1', task, { ok: true, outputs }, ['peer-oracle'])
      run(step, pricing.onResult(step, 'p1', () => 'chaos'))
    }
    journal.close()
  })

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  /** A copy of the good data folder, changed by `sql` run on its journal. */
  function broken(name: string, sql: (db: Database.Database) => void): string {
    const copy = join(dir, name)
    cpSync(good, copy, { recursive: true })
    const db = new Database(join(copy, 'journal.sqlite'))
    sql(db)
    db.close()
    return copy
  }

  it('hold for a graph run right', () => {
    expect(checkInvariants({ dataDir: good, graphIds: [graphId] })).toEqual({ graphs: 1, ops: 11 })
  })

  it('catch a graph that did not succeed, or is missing', () => {
    const running = broken('running', (db) => db.prepare("UPDATE graphs SET state = 'running'").run())
    expect(() => checkInvariants({ dataDir: running, graphIds: [graphId] })).toThrow(/every graph succeeded: graph g_invariants is running/)
    expect(() => checkInvariants({ dataDir: good, graphIds: [graphId, 'g_other'] })).toThrow(/graph g_other is not in the journal/)
  })

  it('catch an accepted result that is wrong, even with a consistent hash', async () => {
    const lie = Buffer.from(JSON.stringify({ kind: 'segment', from: 50, to: 100, start: '0'.repeat(64), end: '1'.repeat(64), digest: '2'.repeat(64) }))
    const lying = broken('lying', (db) => {
      db.prepare("UPDATE ops SET outputs = ? WHERE op_id = 'prove-1'").run(JSON.stringify([{ name: 'proof', hash: contentHash(lie), size: lie.byteLength, providers: [] }]))
    })
    await new FileBlobStore(join(lying, 'blobs')).put(contentHash(lie), lie)
    expect(() => checkInvariants({ dataDir: lying, graphIds: [graphId] })).toThrow(/every accepted result verifies: g_invariants\/prove-1 \(prove\): start or end state differs/)
  })

  it('catch an op accepted twice', () => {
    const twice = broken('twice', (db) => {
      db.prepare("INSERT INTO events (at, graph_id, op_id, state, attempt, device_ids) SELECT at, graph_id, op_id, state, attempt, device_ids FROM events WHERE op_id = 'agg-0-0' AND state = 'succeeded'").run()
    })
    expect(() => checkInvariants({ dataDir: twice, graphIds: [graphId] })).toThrow(/no op accepted twice: g_invariants\/agg-0-0: 2 succeeded rows/)
  })

  it('catch a ledger that does not balance, an op settled twice or at another price, or paid to a stranger', () => {
    const cases: Array<[string, (db: Database.Database) => void, RegExp]> = [
      ['balance', (db) => db.prepare("UPDATE balances SET amount = amount || '0' WHERE role = 'prover'").run(), /the ledger balances: balance of prover p1 is \d+0, its lines sum to/],
      ['twice', (db) => db.prepare("INSERT INTO ledger (graph_id, op_id, account, role, kind, amount, gas, p_gas, at) SELECT graph_id, op_id, 'p2', role, kind, amount, gas, p_gas, at FROM ledger WHERE op_id = 'snark' AND kind = 'reward'").run(), /g_invariants\/snark: 1 charges and 2 rewards/],
      ['price', (db) => db.prepare("UPDATE graph_prices SET p_gas = '999'").run(), /g_invariants\/split: settled at P_gas 1000, the graph's is 999/],
      ['stranger', (db) => db.prepare("UPDATE ledger SET account = 'mallory' WHERE op_id = 'prove-0' AND kind = 'reward'").run(), /prove-0: rewarded mallory, which is not among its provers p1/],
      ['unsettled', (db) => db.prepare("DELETE FROM ledger WHERE op_id = 'agg-1-0'").run(), /agg-1-0: 0 charges and 0 rewards/],
    ]
    for (const [name, sql, message] of cases) {
      expect(() => checkInvariants({ dataDir: broken(`ledger-${name}`, sql), graphIds: [graphId] }), name).toThrow(message)
    }
  })
})
