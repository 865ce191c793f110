// ChainPGasSource against a real local EVM: ganache, in-process, on 127.0.0.1, with the
// PGasOracle contract deployed from the committed bytecode (contracts/PGasOracle.json).
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Contract, JsonRpcProvider, type JsonRpcSigner } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GalacticError } from '@galactic/schemas'
import { artifactPath, artifactText, compile } from '../../contracts/build.mjs'
import { deployPGasOracle, localProvider, startGanache, type GanacheServer } from '../../test/support/pgas-chain.js'
import { ChainPGasSource, MAX_CHAIN_PGAS } from '../src/pricing/chain-source.js'

const GWEI = 1_000_000_000n

/** Init code whose deployed contract reverts on every call: runtime PUSH1 0 PUSH1 0 REVERT. */
const REVERTS_ALWAYS = '0x6460006000fd6000526005601bf3'
/** Init code whose deployed contract is one STOP: every call succeeds with no data. */
const RETURNS_NOTHING = '0x60016000f3'

/** The failure reason of a read that must fail with PRICE_SOURCE. */
async function failure(source: ChainPGasSource): Promise<{ reason: unknown; message: string }> {
  const err = await source.read().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(GalacticError)
  const g = err as GalacticError
  expect(g.code).toBe('PRICE_SOURCE')
  return { reason: g.details?.['reason'], message: g.message }
}

/** An HTTP server on loopback that answers every request with `handler`, or never when it is undefined. */
async function httpServer(handler?: (res: import('node:http').ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => handler?.(res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

async function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

describe('contracts/PGasOracle.json', () => {
  it('is what contracts/PGasOracle.sol compiles to (run node contracts/build.mjs when this fails)', () => {
    expect(readFileSync(artifactPath, 'utf8')).toBe(artifactText(compile()))
  })
})

describe('ChainPGasSource on a local EVM (ganache)', () => {
  let chain: { server: GanacheServer; url: string }
  let provider: JsonRpcProvider
  let owner: JsonRpcSigner
  let stranger: JsonRpcSigner
  let oracle: Contract
  const sources: ChainPGasSource[] = []

  const source = (address: string, url = chain.url, extra: { timeoutMs?: number } = {}): ChainPGasSource => {
    const s = new ChainPGasSource({ rpcUrl: url, address, ...extra })
    sources.push(s)
    return s
  }
  const deployRaw = async (data: string): Promise<string> => {
    const tx = await owner.sendTransaction({ data })
    const receipt = await tx.wait()
    expect(receipt?.contractAddress).toBeTypeOf('string')
    return receipt!.contractAddress!
  }

  beforeAll(async () => {
    chain = await startGanache()
    provider = localProvider(chain.url)
    owner = await provider.getSigner(0)
    stranger = await provider.getSigner(1)
    oracle = await deployPGasOracle(owner, GWEI)
  })

  afterAll(async () => {
    for (const s of sources) s.close()
    provider?.destroy()
    await chain?.server.close()
  })

  it('reads the P_gas the owner set, and the new one after a change', async () => {
    const s = source(await oracle.getAddress())
    expect(await s.read()).toBe(GWEI)

    const tx = await oracle.getFunction('setPGas')(3n * GWEI)
    const receipt = await tx.wait()
    const events = receipt.logs.map((log: { topics: string[]; data: string }) => oracle.interface.parseLog(log))
    expect(events.map((e: { name: string; args: unknown[] } | null) => [e?.name, ...(e?.args ?? [])])).toEqual([['PGasChanged', GWEI, 3n * GWEI]])
    expect(await s.read()).toBe(3n * GWEI)
  })

  it('the contract takes price changes from its owner only', async () => {
    const before = (await oracle.getFunction('pGas')()) as bigint
    const asStranger = oracle.connect(stranger) as Contract
    const setPGas = asStranger.getFunction('setPGas')
    await expect(setPGas.staticCall(1n)).rejects.toMatchObject({ code: 'CALL_EXCEPTION', revert: { name: 'NotOwner', args: [await stranger.getAddress()] } })
    // Sent for real (no gas estimate to stop it first): mined, reverted, nothing changed.
    await expect(setPGas(1n, { gasLimit: 100_000n }).then((tx: { wait(): Promise<unknown> }) => tx.wait())).rejects.toMatchObject({ code: 'CALL_EXCEPTION' })
    expect(await oracle.getFunction('pGas')()).toBe(before)
    expect(await oracle.getFunction('owner')()).toBe(await owner.getAddress())
  })

  it('refuses a zero price and one above 10^30 wei per gas; accepts 10^30', async () => {
    const s = source(await oracle.getAddress())
    await (await oracle.getFunction('setPGas')(0n)).wait()
    expect(await failure(s)).toMatchObject({ reason: 'bad-value' })
    await (await oracle.getFunction('setPGas')(MAX_CHAIN_PGAS + 1n)).wait()
    expect(await failure(s)).toMatchObject({ reason: 'bad-value' })
    await (await oracle.getFunction('setPGas')(MAX_CHAIN_PGAS)).wait()
    expect(await s.read()).toBe(MAX_CHAIN_PGAS)
    await (await oracle.getFunction('setPGas')(GWEI)).wait()
    expect(await s.read()).toBe(GWEI)
  })

  it('says when no contract is at the address', async () => {
    const eoa = await stranger.getAddress()
    const f = await failure(source(eoa))
    expect(f.reason).toBe('no-contract')
    expect(f.message).toContain(eoa)
  })

  it('says when pGas() reverts', async () => {
    const address = await deployRaw(REVERTS_ALWAYS)
    expect(await provider.getCode(address)).toBe('0x60006000fd')
    expect(await failure(source(address))).toMatchObject({ reason: 'reverted' })
  })

  it('says when the contract answers pGas() with no uint256 (not a PGasOracle)', async () => {
    const address = await deployRaw(RETURNS_NOTHING)
    expect(await failure(source(address))).toMatchObject({ reason: 'bad-response' })
  })

  it('says when the endpoint stops answering after it was reached', async () => {
    const second = await startGanache()
    let closed = false
    try {
      const p = localProvider(second.url)
      const deployed = await deployPGasOracle(await p.getSigner(0), 7n)
      const s = source(await deployed.getAddress(), second.url)
      expect(await s.read()).toBe(7n)
      p.destroy()
      await second.server.close()
      closed = true
      expect(await failure(s)).toMatchObject({ reason: 'unreachable' })
    } finally {
      if (!closed) await second.server.close()
    }
  })
})

describe('ChainPGasSource endpoint errors', () => {
  const address = '0x000000000000000000000000000000000000dEaD'

  it('says when nothing listens at the URL', async () => {
    const { server, url } = await httpServer()
    await closeHttp(server)
    const s = new ChainPGasSource({ rpcUrl: url, address })
    const f = await failure(s)
    expect(f.reason).toBe('unreachable')
    expect(f.message).toContain(url)
    s.close()
  })

  it('gives up on an endpoint that never answers after timeoutMs', async () => {
    const { server, url } = await httpServer()
    try {
      const s = new ChainPGasSource({ rpcUrl: url, address, timeoutMs: 300 })
      expect(await failure(s)).toMatchObject({ reason: 'unreachable' })
      s.close()
    } finally {
      await closeHttp(server)
    }
  })

  it('says when the URL is not an Ethereum JSON-RPC endpoint', async () => {
    const notFound = await httpServer((res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>no</h1>'))
    const notRpc = await httpServer((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}'))
    try {
      expect(await failure(new ChainPGasSource({ rpcUrl: notFound.url, address }))).toMatchObject({ reason: 'bad-response' })
      expect(await failure(new ChainPGasSource({ rpcUrl: notRpc.url, address }))).toMatchObject({ reason: 'bad-response' })
    } finally {
      await closeHttp(notFound.server)
      await closeHttp(notRpc.server)
    }
  })

  it('says when the node answers with a JSON-RPC error', async () => {
    // Knows its chain id and nothing else: every other method is an error answer, not a lost connection.
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString()))
      req.on('end', () => {
        const parsed = JSON.parse(body) as { id: number; method: string } | Array<{ id: number; method: string }>
        const answer = (r: { id: number; method: string }): unknown =>
          r.method === 'eth_chainId' ? { jsonrpc: '2.0', id: r.id, result: '0x1' } : { jsonrpc: '2.0', id: r.id, error: { code: -32601, message: `the method ${r.method} does not exist` } }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(Array.isArray(parsed) ? parsed.map(answer) : answer(parsed)))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const s = new ChainPGasSource({ rpcUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, address })
      expect(await failure(s)).toMatchObject({ reason: 'bad-response' })
      s.close()
    } finally {
      await closeHttp(server)
    }
  })

  it('keeps credentials and paths of the URL out of its errors', async () => {
    const { server, url } = await httpServer()
    await closeHttp(server)
    const secretUrl = url.replace('http://', 'http://user:hunter2@') + '/v3/SECRET-API-KEY'
    const s = new ChainPGasSource({ rpcUrl: secretUrl, address })
    expect(s.endpoint).toBe(url)
    const err = (await s.read().catch((e: unknown) => e)) as GalacticError
    expect(err.code).toBe('PRICE_SOURCE')
    expect(JSON.stringify(err.toObject())).not.toMatch(/hunter2|SECRET-API-KEY/)
  })

  it('refuses bad settings, naming the field', () => {
    const bad = (init: Partial<ConstructorParameters<typeof ChainPGasSource>[0]>, field: string): void => {
      let err: unknown
      try {
        new ChainPGasSource({ rpcUrl: 'http://127.0.0.1:8545', address, ...init })
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(GalacticError)
      expect((err as GalacticError).code).toBe('INVALID_INPUT')
      expect((err as GalacticError).message.startsWith(`${field}:`)).toBe(true)
    }
    bad({ rpcUrl: 'not a url' }, 'rpcUrl')
    bad({ rpcUrl: 'ws://127.0.0.1:8545' }, 'rpcUrl')
    bad({ address: '0x1234' }, 'address')
    bad({ address: '0x000000000000000000000000000000000000deAD' }, 'address') // bad EIP-55 checksum
    bad({ pollMs: 0 }, 'pollMs')
    bad({ pollMs: 1.5 }, 'pollMs')
    bad({ timeoutMs: -1 }, 'timeoutMs')
    const ok = new ChainPGasSource({ rpcUrl: 'https://rpc.example/v3/key', address: address.toLowerCase() })
    expect(ok.address).toBe(address)
    expect(ok.pollMs).toBe(12_000)
    expect(ok.endpoint).toBe('https://rpc.example')
  })
})
