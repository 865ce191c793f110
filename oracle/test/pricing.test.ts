import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_GAS_TABLE } from '@galactic/gas'
import { GalacticError, parseGraph, type CostModel, type PGasEpoch } from '@galactic/schemas'
import { Scheduler } from '../src/core/index.js'
import { Journal, type PricingChange } from '../src/journal/index.js'
import { resolvePricingInit } from '../src/options.js'
import { maxOpPrice, OraclePricing, PGasController, PriceBook, settle } from '../src/pricing/index.js'
import { gasModels } from '../src/pricing/gas-models.js'
import { device, FakeClock, flat, PLUGIN, success, zkm } from './helpers.js'
import { thrown } from '../../test/support/rejection.js'

/** A cost model in the shape plugins describe: one sha256 block per `steps`, a constant for the rest. */
const MODEL: CostModel = {
  version: 1,
  ops: {
    split: [{ unit: 'hash:sha256', count: 'params.segments * 10' }],
    prove: [{ unit: 'hash:sha256', count: 100 }],
    aggregate: [{ unit: 'hash:sha256', count: 2 }],
    snark: [{ unit: 'hash:sha256', count: 1 }],
    run: [{ unit: 'mul:254', count: 'params.n' }],
  },
}
const SHA = DEFAULT_GAS_TABLE.units['hash:sha256'].gas
const EPOCH0: PGasEpoch = { epoch: 0, at: 0, pGas: '1000', source: 'controller', demandGas: 0, supplyGasPerSec: 0 }

function book(shareBps = 0, proversFor = () => 1) {
  return new PriceBook(gasModels(DEFAULT_GAS_TABLE), proversFor, { redundantShareBps: shareBps, epoch: EPOCH0 })
}

describe('P_gas controller', () => {
  const c = new PGasController({ maxChangeBps: 1250, targetDrainMs: 10_000 })

  it('rises under a backlog, by at most its bound per epoch', () => {
    // 10x more gas waiting than the free provers do in the target time
    const d = c.next(1_000_000n, { demandGas: 1e9, supplyGasPerSec: 1e7 })
    expect(d.load).toBeCloseTo(10)
    expect(d.changeBps).toBe(1250)
    expect(d.pGas).toBe(1_125_000n)
  })

  it('falls when idle (no demand), by its bound', () => {
    const d = c.next(1_000_000n, { demandGas: 0, supplyGasPerSec: 1e7 })
    expect(d.changeBps).toBe(-1250)
    expect(d.pGas).toBe(875_000n)
  })

  it('stays put when demand matches supply, and moves gently near it', () => {
    expect(c.next(1_000_000n, { demandGas: 1e8, supplyGasPerSec: 1e7 }).pGas).toBe(1_000_000n)
    // 20% over target: (1.2 - 1) / 8 = 2.5%
    expect(c.next(1_000_000n, { demandGas: 1.2e8, supplyGasPerSec: 1e7 }).pGas).toBe(1_025_000n)
  })

  it('rises by its bound when there is demand and no supply at all', () => {
    const d = c.next(800n, { demandGas: 5, supplyGasPerSec: 0 })
    expect(d.load).toBe(Number.POSITIVE_INFINITY)
    expect(d.pGas).toBe(900n)
  })

  it('keeps within [minPGas, maxPGas] and a tiny price can still climb', () => {
    const bounded = new PGasController({ minPGas: 5n, maxPGas: 1000n })
    expect(bounded.next(5n, { demandGas: 0, supplyGasPerSec: 1 }).pGas).toBe(5n)
    expect(bounded.next(999n, { demandGas: 1e12, supplyGasPerSec: 1 }).pGas).toBe(1000n)
    expect(new PGasController().next(1n, { demandGas: 1e12, supplyGasPerSec: 1 }).pGas).toBe(2n)
  })

  it('never moves more than its bound (or one wei up) in one epoch, for any demand and supply', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.double({ min: 0, max: 1e15, noNaN: true }),
        fc.double({ min: 0, max: 1e12, noNaN: true }),
        fc.integer({ min: 0, max: 10_000 }),
        (p, demandGas, supplyGasPerSec, bps) => {
          const ctl = new PGasController({ maxChangeBps: bps })
          const next = ctl.next(p, { demandGas, supplyGasPerSec }).pGas
          const bound = (p * BigInt(bps)) / 10_000n
          const move = next > p ? next - p : p - next
          expect(move <= (bound > 1n ? bound : 1n)).toBe(true)
          if (demandGas === 0) expect(next <= p).toBe(true)
        },
      ),
    )
  })

  it('refuses nonsense settings, naming them', () => {
    expect(() => new PGasController({ maxChangeBps: 10_001 })).toThrow(/maxChangeBps/)
    expect(() => new PGasController({ minPGas: 0n })).toThrow(/minPGas/)
    expect(() => new PGasController({ minPGas: 10n, maxPGas: 9n })).toThrow(/maxPGas/)
  })
})

describe('settlement', () => {
  it('the winner earns P_gas x Gas and the requester pays exactly that', () => {
    const lines = settle({ graphId: 'g', opId: 'a', requester: 'alice', winner: 'p1', losers: [], gas: 1234, pGas: 10n ** 9n, shareBps: 0, at: 5 })
    expect(lines).toEqual([
      { graphId: 'g', opId: 'a', account: 'alice', role: 'requester', kind: 'charge', amount: '1234000000000', gas: 1234, pGas: '1000000000', at: 5 },
      { graphId: 'g', opId: 'a', account: 'p1', role: 'prover', kind: 'reward', amount: '1234000000000', gas: 1234, pGas: '1000000000', at: 5 },
    ])
  })

  it('stopped redundant provers get the configured share, paid by the requester; the lines balance', () => {
    const lines = settle({ graphId: 'g', opId: 'a', requester: 'alice', winner: 'p1', losers: ['p2', 'p3', 'p2', 'p1'], gas: 100, pGas: 7n, shareBps: 2500, at: 0 })
    expect(lines.map((l) => [l.account, l.kind, l.amount])).toEqual([
      ['alice', 'charge', '1050'],
      ['p1', 'reward', '700'],
      ['p2', 'share', '175'],
      ['p3', 'share', '175'],
    ])
    expect(BigInt(lines[0]?.amount ?? 0)).toBe(maxOpPrice(100, 7n, 3, 2500))
  })

  it('balances for any gas, price, share and losers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.uniqueArray(fc.constantFrom('p2', 'p3', 'p4', 'p5'), { maxLength: 4 }),
        (gas, pGas, shareBps, losers) => {
          const lines = settle({ graphId: 'g', opId: 'o', requester: 'r', winner: 'p1', losers, gas, pGas, shareBps, at: 0 })
          const charged = lines.filter((l) => l.role === 'requester').reduce((t, l) => t + BigInt(l.amount), 0n)
          const paid = lines.filter((l) => l.role === 'prover').reduce((t, l) => t + BigInt(l.amount), 0n)
          expect(charged).toBe(paid)
          expect(charged <= maxOpPrice(gas, pGas, losers.length + 1, shareBps)).toBe(true)
        },
      ),
    )
  })
})

describe('price book', () => {
  it('quotes each op from its plugin cost model, and totals them', () => {
    const b = book()
    expect(b.addModel(PLUGIN, MODEL, 'p1', 0)).toBe('added')
    const graph = zkm(2)
    const q = b.quote(graph)
    const gasOf = (id: string) => q.ops.find((o) => o.opId === id)?.gas
    expect(gasOf('split')).toBe(20 * SHA)
    expect(gasOf('prove-0')).toBe(100 * SHA)
    expect(gasOf('agg-0-0')).toBe(2 * SHA)
    expect(gasOf('snark')).toBe(SHA)
    expect(q.totalGas).toBe((20 + 200 + 2 + 1) * SHA)
    expect(q.totalPrice).toBe(String(BigInt(q.totalGas) * 1000n))
    expect(q.unpriced).toBe(0)
  })

  it('says which ops it cannot price yet, and why, instead of guessing', () => {
    const q = book().quote(zkm(1))
    expect(q.unpriced).toBe(q.ops.length)
    expect(q.ops[0]).toMatchObject({ gas: null, price: null, reason: expect.stringMatching(/no cost model for plugin sha256-chain@1.0.0/) })
  })

  it('refuses a graph above its maxPrice, or with a maxPrice and an unpriced op (PRICE_LIMIT)', () => {
    const b = book()
    const graph = parseGraph({ ...flat(['a']), maxPrice: '1' })
    const unpriced = thrown(() => b.checkLimit(graph))
    expect(unpriced.code).toBe('PRICE_LIMIT')
    expect(unpriced.message).toMatch(/op "a" cannot be priced/)
    b.addModel(PLUGIN, { version: 1, ops: { prove: [{ unit: 'add:64', count: 10 }] } }, 'p1', 0)
    expect(() => b.checkLimit(graph)).toThrow(/costs up to 10000 wei .* above its maxPrice of 1 wei/)
    expect(b.checkLimit(parseGraph({ ...flat(['a']), maxPrice: '10000' })).totalPrice).toBe('10000')
  })

  it('prices redundancy: every prover an op runs on may be paid its share', () => {
    const b = book(5000, () => 3)
    b.addModel(PLUGIN, { version: 1, ops: { prove: [{ unit: 'add:64', count: 10 }] } }, 'p1', 0)
    const q = b.quote(flat(['a']))
    // 10 gas x 1000 wei, plus half of it for each of the 2 redundant provers
    expect(q.ops[0]).toMatchObject({ gas: 10, provers: 3, price: '20000' })
  })

  it('keeps the first cost model of a plugin version: a later different one is a conflict', () => {
    const b = book()
    expect(b.addModel(PLUGIN, MODEL, 'p1', 0)).toBe('added')
    expect(b.addModel(PLUGIN, MODEL, 'p2', 1)).toBe('same')
    expect(b.addModel(PLUGIN, { version: 1, ops: { prove: [{ unit: 'hash:sha256', count: 1e9 }] } }, 'p3', 2)).toBe('conflict')
    expect(b.listModels()).toEqual([{ plugin: PLUGIN, model: MODEL, from: 'p1', at: 0 }])
  })

  it('refuses a model that does not compile, and an op whose params do not fit, naming the field', () => {
    const b = book()
    expect(() => b.addModel(PLUGIN, { version: 1, ops: { a: [{ unit: 'add:64', count: 'process.exit()' }] } }, 'p', 0)).toThrow(GalacticError)
    b.addModel(PLUGIN, MODEL, 'p1', 0)
    const err = thrown(() => b.quote(flat(['x'], { name: 'run', params: { m: 1 } })))
    expect(err?.code).toBe('INVALID_GRAPH')
    expect(err?.message).toMatch(/op "x": .*params\.n/)
  })

  it('doubts a prover whose claimed speed is far from what it delivers, and then counts what it delivers', () => {
    const b = book()
    b.claimSpeed('p1', 1e9)
    b.observeSpeed('p1', 1e6, 1000) // 1e6 gas/s seen
    expect(b.speed('p1', 4)).toEqual({ claimed: 1e9, observed: 1e6, doubted: true })
    expect(b.supplyOf('p1', 4, 5)).toBe(1e6)
    b.claimSpeed('p2', 2e6)
    b.observeSpeed('p2', 1e6, 1000)
    expect(b.speed('p2', 4).doubted).toBe(false)
    expect(b.supplyOf('p2', 4, 5)).toBe(2e6)
    expect(b.supplyOf('p3', 4, 5)).toBe(5)
  })
})

describe('oracle pricing with a real journal', () => {
  let dir: string
  const journals: Journal[] = []
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-pricing-'))
  })
  afterEach(() => {
    for (const j of journals.splice(0)) j.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const open = (): Journal => {
    const j = Journal.open({ path: join(dir, 'journal.sqlite') })
    journals.push(j)
    return j
  }
  const pricingOf = (j: Journal, now = 0) =>
    new OraclePricing(resolvePricingInit({ initialPGas: 1000n, redundantShareBps: 1000 }), j.loadPricing(), {
      gas: gasModels(DEFAULT_GAS_TABLE),
      proversFor: (g) => (g.priority === 'performance' ? (g.redundancy ?? 2) : 1),
      log: pino({ level: 'silent' }),
    }, now)

  it('settles every accepted op once, the ledger equals the sum of their prices, and it all survives a restart', () => {
    const journal = open()
    const pricing = pricingOf(journal)
    const clock = new FakeClock()
    const s = new Scheduler({}, { clock })
    const commit = (changes: Parameters<Journal['apply']>[0], p: PricingChange[] = []) => journal.apply(changes, p)
    for (const id of ['p1', 'p2', 'p3']) {
      commit(s.registerProver({ proverId: id, peerId: `peer-${id}`, device: device(), slots: 1, running: [] }).changes, pricing.onRegister(id, [{ plugin: PLUGIN, model: MODEL }], undefined, 0))
    }
    const graph = { ...zkm(2), priority: 'performance' as const, redundancy: 2 }
    const quote = pricing.check(graph)
    const sub = s.submit('g1', 'h', graph)
    commit(sub.step.changes, pricing.onSubmit('g1', graph))
    let pending = sub.step.actions.filter((a) => a.type === 'assign')
    let rounds = 0
    while (pending.length > 0 && rounds++ < 100) {
      const next: typeof pending = []
      for (const a of pending) {
        if (a.type !== 'assign') continue
        const step = s.taskResult(a.proverId, a.task, success(a.task), ['oracle'])
        commit(step.changes, pricing.onResult(step, a.proverId, () => 'alice'))
        next.push(...step.actions.filter((x) => x.type === 'assign'))
      }
      pending = next
    }
    expect(s.graphStatus('g1')?.state).toBe('succeeded')
    const lines = journal.ledger({ limit: 10_000 })
    const charges = lines.filter((l) => l.kind === 'charge')
    expect(charges.map((l) => l.opId).sort()).toEqual(graph.ops.map((o) => o.id).sort())
    // each op charged its price at the graph's locked P_gas, plus the share of each stopped redundant prover
    for (const c of charges) {
      const gas = quote.ops.find((o) => o.opId === c.opId)?.gas as number
      const shares = lines.filter((l) => l.opId === c.opId && l.kind === 'share').length
      expect(c.gas).toBe(gas)
      expect(BigInt(c.amount)).toBe(BigInt(gas) * 1000n + ((BigInt(gas) * 1000n * 1000n) / 10_000n) * BigInt(shares))
    }
    const balances = journal.balances()
    const charged = balances.filter((b) => b.role === 'requester').reduce((t, b) => t + BigInt(b.amount), 0n)
    const paid = balances.filter((b) => b.role === 'prover').reduce((t, b) => t + BigInt(b.amount), 0n)
    expect(charged).toBe(charges.reduce((t, l) => t + BigInt(l.amount), 0n))
    expect(paid).toBe(charged)
    expect(charged <= BigInt(quote.totalPrice)).toBe(true)

    // restart: the same state comes back, and nothing settles twice
    journal.close()
    const again = open()
    const restored = pricingOf(again, 99)
    expect(restored.book.graphPrice('g1')).toEqual({ pGas: 1000n, maxPrice: null })
    expect(restored.book.isSettled('g1', 'snark')).toBe(true)
    expect(restored.book.listModels()).toEqual([{ plugin: PLUGIN, model: MODEL, from: 'p1', at: 0 }])
    const replay = settle({ graphId: 'g1', opId: 'snark', requester: 'alice', winner: 'p1', losers: [], gas: 1, pGas: 1n, shareBps: 0, at: 0 })
    again.apply([], replay.map((entry) => ({ type: 'ledger.add', entry })))
    expect(again.ledger({ limit: 10_000 })).toHaveLength(lines.length)
    expect(again.balances()).toEqual(balances)
    expect(again.integrityCheck()).toBe(true)
  })

  it('moves P_gas each epoch from demand and supply, journals it and resumes from it after a restart', async () => {
    const journal = open()
    const pricing = pricingOf(journal)
    pricing.onRegister('p1', [{ plugin: PLUGIN, model: MODEL }], 1, 0)
    const ops = zkm(4).ops
    const backlog = { openOps: () => ops.map((op) => ({ graphId: 'g', op })), freeProvers: () => [{ proverId: 'p1', free: 1, slots: 1 }] }
    const idle = { openOps: () => [], freeProvers: () => [{ proverId: 'p1', free: 1, slots: 1 }] }
    journal.apply([], await pricing.nextEpoch(backlog, 1000))
    expect(pricing.book.current).toMatchObject({ epoch: 1, pGas: '1125', source: 'controller', supplyGasPerSec: 1 })
    expect(pricing.book.current.demandGas).toBe((40 + 400 + 3 * 2 + 1) * SHA)
    journal.apply([], await pricing.nextEpoch(idle, 2000))
    expect(pricing.book.current).toMatchObject({ epoch: 2, pGas: '985', demandGas: 0 })
    expect(journal.pgasHistory(10).map((e) => e.pGas)).toEqual(['1125', '985'])
    journal.close()
    expect(pricingOf(open()).book.current).toMatchObject({ epoch: 2, pGas: '985' })
  })

  it('reads P_gas from a chain when configured, and keeps the last price when the chain fails', async () => {
    const journal = open()
    let next: bigint | Error = 4242n
    const pricing = new OraclePricing(resolvePricingInit({ initialPGas: 7n }), journal.loadPricing(), {
      gas: gasModels(DEFAULT_GAS_TABLE),
      proversFor: () => 1,
      log: pino({ level: 'silent' }),
      chain: { read: async () => (next instanceof Error ? Promise.reject(next) : next) },
    }, 0)
    const none = { openOps: () => [], freeProvers: () => [] }
    await pricing.nextEpoch(none, 1)
    expect(pricing.book.current).toMatchObject({ pGas: '4242', source: 'chain' })
    next = new GalacticError('INTERNAL', 'unreachable')
    await pricing.nextEpoch(none, 2)
    expect(pricing.book.current).toMatchObject({ epoch: 2, pGas: '4242', source: 'chain' })
  })
})
