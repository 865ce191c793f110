import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runGalactic, startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { DEFAULT_GAS_TABLE } from '@galactic/gas'
import { GalacticError, type GasTable } from '@galactic/schemas'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { rejection } from '../support/rejection.js'
import { until } from '../support/until.js'

const plugin = { name: 'sha256-chain', version: '1.0.0' }

/**
 * Pricing through the whole system (docs/pricing.md): agents send their plugins' cost models
 * and their measured speed at registration, the oracle quotes, refuses a graph above its
 * maxPrice, moves P_gas each epoch and announces it on gossipsub, and after a graph the ledger
 * holds exactly the accepted ops' prices at the graph's locked P_gas.
 */
describe('pricing with real agents', () => {
  let cluster: LocalCluster
  let client: GalacticClient

  beforeAll(async () => {
    const dir = join(process.env['TMPDIR'] ?? '/tmp')
    // A calibrated table says how fast this device is: 1 gas per 4 ns = 2.5e8 gas/s.
    const table: GasTable = { ...DEFAULT_GAS_TABLE, name: 'e2e', measured: { host: 'e2e', cpu: 'e2e', at: new Date(0).toISOString(), nsPerGas: 4, durationMs: 1 } }
    const tablePath = join(dir, `galactic-e2e-gas-table-${process.pid}.json`)
    writeFileSync(tablePath, JSON.stringify(table))
    cluster = await startLocalCluster({
      prefix: 'galactic-pricing-',
      oracleArgs: ['--p-gas-epoch-ms', '200', '--p-gas-initial', '5000', '--verify', 'required'],
      agents: [
        { name: 'priced-1', args: ['--gas-table', tablePath, '--metrics-port', '0'] },
        { name: 'priced-2', args: [] },
      ],
    })
    client = new GalacticClient({ url: cluster.url })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
  })

  it('knows the plugin cost model and each prover claimed speed from registration', async () => {
    const { models } = await client.call('gas.models', {})
    expect(models.map((m) => m.plugin)).toEqual([plugin])
    expect(Object.keys(models[0]!.model.ops).sort()).toEqual(['aggregate', 'prove', 'snark', 'split'])
    const provers = await client.provers()
    // the geometric mean of its per-unit speeds, every unit at 2.5e8 gas/s (up to float rounding)
    const claimed = provers.find((p) => p.proverId === 'priced-1')?.gas?.claimedPerSec ?? 0
    expect(Math.abs(claimed / 2.5e8 - 1)).toBeLessThan(1e-12)
    expect(provers.find((p) => p.proverId === 'priced-2')?.gas?.claimedPerSec).toBeNull()
  })

  it('moves P_gas every epoch and announces it to agents over gossipsub', async () => {
    const first = await client.pGas()
    const later = await until('three more P_gas epochs', async () => {
      const now = await client.pGas({ history: 50 })
      return now.current.epoch >= first.current.epoch + 3 ? now : undefined
    }, 20_000)
    expect(later.epochMs).toBe(200)
    // nothing to do: the price falls epoch after epoch, by at most 12.5% each
    const prices = later.history.map((e) => BigInt(e.pGas))
    for (let i = 1; i < prices.length; i++) {
      expect(prices[i]! <= prices[i - 1]!).toBe(true)
      expect(prices[i - 1]! - prices[i]!).toBeLessThanOrEqual((prices[i - 1]! * 1250n) / 10_000n)
    }
    // The agent with a metrics port shows the last announced price, signed by the oracle's peer id.
    const metricsPort = cluster.agents.find((a) => a.ready.name === 'priced-1')!.ready.metricsPort
    const announced = await until('a P_gas announcement at the agent', async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
      const m = /^galactic_agent_pgas_wei_per_gas (\d+)/m.exec(text)
      return m !== null && Number(m[1]) > 0 ? Number(m[1]) : undefined
    }, 20_000)
    const recent = (await client.pGas({ history: 100 })).history.map((e) => Number(e.pGas))
    expect(recent).toContain(announced)
  })

  it('refuses a graph whose quote is above its maxPrice, naming both amounts', async () => {
    const graph = { ...buildZkmGraph({ requester: 'alice', nonce: 'too-dear', segments: 2, plugin, params: { seed: 'p', segmentSteps: 500 } }), maxPrice: '1' }
    const err = await rejection(client.submit(graph))
    expect(GalacticError.is(err, 'PRICE_LIMIT')).toBe(true)
    expect((err as GalacticError).message).toMatch(/above its maxPrice of 1 wei/)
    // The same through the CLI's --max-price: exit 1 and the error as JSON.
    const { maxPrice: _, ...unlimited } = graph
    const file = join(cluster.dir, 'too-dear.json')
    writeFileSync(file, JSON.stringify(unlimited))
    const cli = await runGalactic(['submit', file, '--url', cluster.url, '--max-price', '1', '--json'])
    expect(cli.code).toBe(1)
    expect(JSON.parse(cli.stdout).error).toMatchObject({ code: 'PRICE_LIMIT', details: { maxPrice: '1' } })
    expect((await client.graphs()).some((g) => g.requester === 'alice')).toBe(false)
  })

  it('charges the requester exactly the accepted ops prices at the locked P_gas, and pays the provers the same', async () => {
    const graph = buildZkmGraph({ requester: 'alice', nonce: 'priced', segments: 4, plugin, params: { seed: 'p', segmentSteps: 2000 } })
    const quote = await client.quote(graph)
    expect(quote.unpriced).toBe(0)
    // The offline estimate (the bundled plugin's own describe, the same built-in table) agrees with
    // the oracle's quote, and takes P_gas from the oracle when asked.
    const file = join(cluster.dir, 'priced.json')
    writeFileSync(file, JSON.stringify(graph))
    const estimate = await runGalactic(['gas', 'estimate', file, '--oracle', cluster.url, '--json'])
    expect(estimate.code, estimate.stderr).toBe(0)
    const est = JSON.parse(estimate.stdout) as { totalGas: number; pGas: string; ops: Array<{ opId: string; gas: number }> }
    expect(est.totalGas).toBe(quote.totalGas)
    for (const op of quote.ops) expect(est.ops.find((o) => o.opId === op.opId)?.gas).toBe(op.gas)
    expect((await client.pGas({ history: 100 })).history.map((e) => e.pGas)).toContain(est.pGas)
    const { graphId } = await client.submit({ ...graph, maxPrice: (BigInt(quote.totalPrice) * 2n).toString() })
    const status = await client.wait(graphId)
    expect(status.state).toBe('succeeded')

    const lines = await client.ledger({ graphId })
    const charges = lines.filter((l) => l.kind === 'charge')
    expect(charges.map((l) => l.opId).sort()).toEqual(status.ops.map((o) => o.id).sort())
    const pGas = BigInt(charges[0]!.pGas)
    // one P_gas for the whole graph: the one of its submission
    expect(charges.every((l) => l.pGas === charges[0]!.pGas)).toBe(true)
    for (const c of charges) {
      const gas = quote.ops.find((o) => o.opId === c.opId)!.gas!
      expect(c.gas).toBe(gas)
      expect(c.amount).toBe((BigInt(gas) * pGas).toString())
      const reward = lines.find((l) => l.opId === c.opId && l.kind === 'reward')!
      expect(reward.amount).toBe(c.amount)
      expect(status.ops.find((o) => o.id === c.opId)?.deviceIds).toContain(reward.account)
    }
    const total = charges.reduce((t, l) => t + BigInt(l.amount), 0n)
    expect(total).toBe(BigInt(quote.totalGas) * pGas)

    const balances = await client.balances()
    expect(balances.charged).toBe(balances.paid)
    expect(balances.balances.find((b) => b.account === 'alice' && b.role === 'requester')?.amount).toBe(total.toString())
    const earned = balances.balances.filter((b) => b.role === 'prover').reduce((t, b) => t + BigInt(b.amount), 0n)
    expect(earned).toBe(total)

    // The CLI shows the same numbers, as JSON and as text.
    const json = await runGalactic(['ledger', '--url', cluster.url, '--json'])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual(balances)
    const text = await runGalactic(['ledger', '--url', cluster.url])
    expect(text.stdout).toMatch(new RegExp(`alice\\s+owes\\s+${total}\\s+${charges.length}`))
    expect(text.stdout).toContain(`requesters charged ${total} wei, provers paid ${total} wei`)
    const one = await runGalactic(['ledger', '--url', cluster.url, '--graph', graphId, '--json'])
    expect(JSON.parse(one.stdout).entries).toEqual(lines)
  })
})
