// A local Ethereum chain for the P_gas-from-a-contract tests (docs/pricing.md, "P_gas from a contract"): ganache,
// in-process, on 127.0.0.1, and the PGasOracle contract deployed from its committed bytecode.
import { readFileSync } from 'node:fs'
import ganache from 'ganache'
import type { ContractArtifact } from '../../contracts/build.mjs'
import { Contract, ContractFactory, JsonRpcProvider, Network, type ContractRunner, type InterfaceAbi } from './ethers.js'

/** ganache's chain id (its default). */
export const CHAIN_ID = 1337

/** contracts/PGasOracle.json: the ABI and bytecode operators deploy. */
export const pGasOracleArtifact = JSON.parse(readFileSync(new URL('../../contracts/PGasOracle.json', import.meta.url), 'utf8')) as ContractArtifact

export type GanacheServer = ReturnType<typeof ganache.server>

/**
 * ganache on a free port of 127.0.0.1: Shanghai (the contract's EVM target), chain id 1337,
 * the deterministic funded accounts, every transaction mined at once.
 */
export async function startGanache(): Promise<{ server: GanacheServer; url: string }> {
  const server = ganache.server({ logging: { quiet: true }, chain: { hardfork: 'shanghai', chainId: CHAIN_ID }, wallet: { deterministic: true } })
  await server.listen(0, '127.0.0.1')
  return { server, url: `http://127.0.0.1:${server.address().port}` }
}

/** A JSON-RPC provider for a local chain: no network detection, receipts polled every 50 ms. */
export function localProvider(url: string): JsonRpcProvider {
  const network = Network.from(CHAIN_ID)
  return new JsonRpcProvider(url, network, { staticNetwork: network, pollingInterval: 50 })
}

/** Deploys PGasOracle with `initialPGas` (wei per gas); `owner` becomes its owner. Returns it connected to `owner`. */
export async function deployPGasOracle(owner: ContractRunner, initialPGas: bigint): Promise<Contract> {
  const factory = new ContractFactory(pGasOracleArtifact.abi as InterfaceAbi, pGasOracleArtifact.bytecode, owner)
  const deployed = await factory.deploy(initialPGas)
  await deployed.waitForDeployment()
  return new Contract(await deployed.getAddress(), pGasOracleArtifact.abi as InterfaceAbi, owner)
}
