import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, logEntries, runGalactic, spawnOracle, startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import type { GraphStatus, LedgerEntry } from '@galactic/schemas'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import type { Contract, JsonRpcProvider } from '../support/ethers.js'
import { deployPGasOracle, localProvider, startGanache, type GanacheServer } from '../support/pgas-chain.js'
import { until } from '../support/until.js'

const plugin = { name: 'sha256-chain', version: '1.0.0' }
/** Prices far from the oracle's default initial P_gas (10^9), so that only a read of the contract gives them. */
const X = 3_000_000_007n
const Y = 5_000_000_011n
const CHAIN_DOWN = 'P_gas: the chain could not be read, the last price stays'

/**
 * P_gas from a PGasOracle contract (docs/pricing.md, "P_gas from a contract") through the whole system: ganache in
 * this process with the contract deployed, a real oracle process reading it every 200 ms epoch,
 * a real agent proving, the ledger charging at the price the contract set, and the last price
 * kept when the chain goes away.
 */
describe('P_gas from a contract, with real processes', () => {
  let chain: { server: GanacheServer; url: string; up: boolean }
  let provider: JsonRpcProvider
  let pGasOracle: Contract
  let address: string
  let cluster: LocalCluster
  let client: GalacticClient

  beforeAll(async () => {
    chain = { ...(await startGanache()), up: true }
    provider = localProvider(chain.url)
    pGasOracle = await deployPGasOracle(await provider.getSigner(0), X)
    address = await pGasOracle.getAddress()
    cluster = await startLocalCluster({
      prefix: 'galactic-pricing-chain-',
      oracleArgs: ['--chain-rpc-url', chain.url, '--chain-p-gas-address', address, '--p-gas-epoch-ms', '200'],
      agents: [{ name: 'chain-priced', args: [] }],
    })
    client = new GalacticClient({ url: cluster.url })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
    provider?.destroy()
    if (chain?.up === true) await chain.server.close()
  })

  /** Submits a small ZKM graph, waits for it; returns its status, its ledger and each op's gas from the quote. */
  const proveGraph = async (nonce: string): Promise<{ status: GraphStatus; lines: LedgerEntry[]; gas: Map<string, number> }> => {
    const graph = buildZkmGraph({ requester: 'alice', nonce, segments: 2, plugin, params: { seed: nonce, segmentSteps: 500 } })
    const quote = await client.quote(graph)
    expect(quote.unpriced).toBe(0)
    const { graphId } = await client.submit(graph)
    const status = await client.wait(graphId)
    expect(status.state).toBe('succeeded')
    const gas = new Map(quote.ops.map((o) => [o.opId, o.gas!]))
    return { status, lines: await client.ledger({ graphId }), gas }
  }

  /** Every op of the graph charged once, at `pGas`: amount = gas x pGas. */
  const expectChargedAt = (run: Awaited<ReturnType<typeof proveGraph>>, pGas: bigint): void => {
    const charges = run.lines.filter((l) => l.kind === 'charge')
    expect(charges.map((l) => l.opId).sort()).toEqual(run.status.ops.map((o) => o.id).sort())
    for (const c of charges) {
      expect(c.pGas).toBe(pGas.toString())
      expect(c.gas).toBe(run.gas.get(c.opId))
      expect(c.gas).toBeGreaterThan(0)
      expect(c.amount).toBe((BigInt(c.gas) * pGas).toString())
    }
  }

  it("prices at the contract's P_gas", async () => {
    const reached = await until('P_gas from the contract', async () => {
      const now = await client.pGas({ history: 100 })
      return now.current.source === 'chain' && now.current.pGas === X.toString() ? now : undefined
    }, 20_000)
    expect(reached.epochMs).toBe(200)
    expect(reached.current.epoch).toBeGreaterThanOrEqual(1)
    // Every epoch the oracle ran read the contract: no controller price in between.
    expect(reached.history.length).toBeGreaterThanOrEqual(1)
    for (const e of reached.history) expect(e).toMatchObject({ source: 'chain', pGas: X.toString() })
    expect(logEntries(cluster.oracle, { msg: CHAIN_DOWN })).toEqual([])
  })

  it('reads the contract before it serves, not one epoch later', async () => {
    // A minute-long epoch: were the first read left to the first epoch's end, this oracle would
    // quote and charge at its initial P_gas (10^9) for a minute, labelled as the chain's.
    const dir = mkdtempSync(join(tmpdir(), 'galactic-pricing-chain-first-'))
    const oracle = await spawnOracle({
      dataDir: join(dir, 'oracle'),
      wsPort: await freePort(),
      p2pPort: await freePort(),
      args: ['--chain-rpc-url', chain.url, '--chain-p-gas-address', address, '--p-gas-epoch-ms', '60000'],
    })
    const first = new GalacticClient({ url: oracle.ready.ws })
    try {
      const now = await first.pGas({ history: 10 })
      expect(now.epochMs).toBe(60_000)
      expect(now.current).toMatchObject({ epoch: 1, source: 'chain', pGas: X.toString() })
      expect(now.history).toEqual([now.current])
    } finally {
      first.close()
      await oracle.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("follows the owner's setPGas within a few epochs, and charges a graph submitted then at the new price", async () => {
    await (await pGasOracle.getFunction('setPGas')(Y)).wait()
    const followed = await until('P_gas to follow the contract', async () => {
      const now = await client.pGas()
      return now.current.pGas === Y.toString() ? now.current : undefined
    }, 20_000)
    expect(followed.source).toBe('chain')

    expectChargedAt(await proveGraph('at-y'), Y)
  })

  it('keeps serving, and pricing at the last price, when the chain cannot be read', async () => {
    const before = await client.pGas()
    expect(before.current.pGas).toBe(Y.toString())
    provider.destroy()
    await chain.server.close()
    chain.up = false

    const warning = await until('a warning that the chain could not be read', async () => {
      const found = logEntries(cluster.oracle, { msg: CHAIN_DOWN })
      return found.length > 0 ? found[0] : undefined
    }, 20_000)
    expect(warning).toMatchObject({ level: 40, module: 'pricing' })
    // The error says which endpoint is down, and why.
    expect(String(warning['err'])).toContain(chain.url)
    expect(String(warning['err'])).toContain('unreachable')

    // Epochs go on, each one at the last price read from the contract.
    const later = await until('three more epochs without the chain', async () => {
      const now = await client.pGas({ history: 100 })
      return now.current.epoch >= before.current.epoch + 3 ? now : undefined
    }, 20_000)
    const since = later.history.filter((e) => e.epoch > before.current.epoch)
    expect(since.length).toBeGreaterThanOrEqual(3)
    for (const e of since) expect(e).toMatchObject({ source: 'chain', pGas: Y.toString() })
    expect(logEntries(cluster.oracle, { msg: CHAIN_DOWN }).length).toBeGreaterThanOrEqual(2)

    // And the oracle still takes, schedules and charges work, at that price.
    expectChargedAt(await proveGraph('chain-down'), Y)
    expect(cluster.oracle.child.exitCode).toBeNull()
  })

  it('refuses a bad chain config at start, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'galactic-pricing-chain-bad-'))
    try {
      const start = (flags: string[]) =>
        runGalactic(['oracle', 'start', '--data-dir', join(dir, 'oracle'), '--ws-port', '0', '--p2p-port', '0', ...flags], 30_000)

      const ws = await start(['--chain-rpc-url', 'ws://x', '--chain-p-gas-address', address])
      expect(ws.code).toBe(1)
      expect(ws.stderr).toMatch(/chainRpcUrl: \(from --chain-rpc-url\) an http:\/\/ or https:\/\/ URL/)
      expect(ws.stdout).not.toContain('oracle.ready')

      for (const half of [['--chain-rpc-url', 'http://127.0.0.1:8545'], ['--chain-p-gas-address', address]]) {
        const run = await start(half)
        expect(run.code).toBe(1)
        expect(run.stderr).toMatch(/chainPGasAddress: .*chainRpcUrl and chainPGasAddress go together/)
        expect(run.stdout).not.toContain('oracle.ready')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
