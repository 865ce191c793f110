import { Contract, FetchRequest, isAddress, isError, JsonRpcProvider, Network, getAddress } from 'ethers'
import type { Logger } from 'pino'
import { GalacticError } from '@galactic/schemas'

/** The one method of the PGasOracle contract (contracts/PGasOracle.sol) the oracle calls. */
export const PGAS_ORACLE_ABI = ['function pGas() view returns (uint256)'] as const

/** Above this a P_gas (wei per gas) is a broken or hostile contract, not a price: 10^30. */
export const MAX_CHAIN_PGAS = 10n ** 30n

/** Why a read failed, in `details.reason` of the PRICE_SOURCE error. */
export type ChainPGasFailure = 'unreachable' | 'no-contract' | 'reverted' | 'bad-response' | 'bad-value'

export interface ChainPGasSourceInit {
  /** Ethereum JSON-RPC endpoint over HTTP(S), e.g. `http://127.0.0.1:8545`. */
  rpcUrl: string
  /** Address of the deployed PGasOracle contract. */
  address: string
  /** How often the caller should read the price (one block is about 12 s on Ethereum). @default 12_000 */
  pollMs?: number
  /** Longest one JSON-RPC request may take before the read fails. @default 10_000 */
  timeoutMs?: number
}

export interface ChainPGasSourceComponents {
  log?: Logger
}

/**
 * Reads P_gas (wei per unit of Gas) from a PGasOracle contract through an Ethereum JSON-RPC
 * endpoint, with ethers 6. Each {@link read} is one attempt: it calls `pGas()` and checks
 * that code exists at the address, and either returns the price or throws a GalacticError
 * with code `PRICE_SOURCE` whose `details.reason` says what failed (a
 * {@link ChainPGasFailure}). It never retries and never caches a price: the caller decides
 * how often to read ({@link pollMs}) and what to do on failure (keep the last price, fall back).
 *
 * @example
 * const source = new ChainPGasSource({ rpcUrl: 'http://127.0.0.1:8545', address: '0x…' }, { log })
 * const pGas = await source.read() // 1_000_000_000n
 */
export class ChainPGasSource {
  readonly address: string
  readonly pollMs: number
  readonly timeoutMs: number
  /** The endpoint without path, query or credentials: what logs and errors show (an API key often sits in the path). */
  readonly endpoint: string
  private readonly rpcUrl: string
  private readonly log: Logger | undefined
  private provider: JsonRpcProvider | undefined
  private contract: Contract | undefined
  private chainId: bigint | undefined

  constructor(init: ChainPGasSourceInit, components: ChainPGasSourceComponents = {}) {
    let url: URL
    try {
      url = new URL(init.rpcUrl)
    } catch {
      throw new GalacticError('INVALID_INPUT', `rpcUrl: not a URL: ${JSON.stringify(String(init.rpcUrl).slice(0, 200))}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new GalacticError('INVALID_INPUT', `rpcUrl: must be an http:// or https:// JSON-RPC endpoint, got ${url.protocol}//`)
    }
    if (typeof init.address !== 'string' || !isAddress(init.address)) {
      throw new GalacticError('INVALID_INPUT', `address: not an Ethereum address: ${JSON.stringify(String(init.address).slice(0, 100))}`)
    }
    const pollMs = init.pollMs ?? 12_000
    if (!Number.isInteger(pollMs) || pollMs < 100 || pollMs > 86_400_000) {
      throw new GalacticError('INVALID_INPUT', `pollMs: must be an integer from 100 to 86400000 (ms), got ${pollMs}`)
    }
    const timeoutMs = init.timeoutMs ?? 10_000
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) {
      throw new GalacticError('INVALID_INPUT', `timeoutMs: must be an integer from 1 to 600000 (ms), got ${timeoutMs}`)
    }
    this.rpcUrl = init.rpcUrl
    this.endpoint = `${url.protocol}//${url.host}`
    this.address = getAddress(init.address)
    this.pollMs = pollMs
    this.timeoutMs = timeoutMs
    this.log = components.log
  }

  /**
   * The current P_gas, in wei per unit of Gas. Throws GalacticError `PRICE_SOURCE` when the
   * endpoint cannot be reached or answers garbage, when no contract is at the address, when
   * `pGas()` reverts, or when the value is 0 or above {@link MAX_CHAIN_PGAS}.
   */
  async read(): Promise<bigint> {
    const contract = await this.connect()
    const [code, value] = await Promise.allSettled([
      this.provider!.getCode(this.address),
      contract.getFunction('pGas').staticCall() as Promise<bigint>,
    ])
    if (code.status === 'rejected') throw this.failure(code.reason)
    if (code.value === '0x') {
      throw this.error('no-contract', `no contract at ${this.address} on chain ${this.chainId} (${this.endpoint}): eth_getCode is empty`)
    }
    if (value.status === 'rejected') throw this.failure(value.reason)
    const pGas = value.value
    if (pGas === 0n) throw this.error('bad-value', `P_gas from ${this.address} is 0: refusing to price work for free`)
    if (pGas > MAX_CHAIN_PGAS) throw this.error('bad-value', `P_gas from ${this.address} is ${pGas} wei per gas, above the sanity bound 10^30`)
    this.log?.debug({ pGas: pGas.toString(), address: this.address, chainId: this.chainId?.toString() }, 'P_gas read from contract')
    return pGas
  }

  /** Drops the provider (its HTTP agent); a later read connects again. */
  close(): void {
    this.provider?.destroy()
    this.provider = undefined
    this.contract = undefined
    this.chainId = undefined
  }

  /**
   * The provider, made on the first successful contact. The chain id is asked once with a
   * plain request and then given to ethers as a static network: an unreachable endpoint is
   * then one failed read, not ethers' endless background retry of network detection.
   */
  private async connect(): Promise<Contract> {
    if (this.contract !== undefined) return this.contract
    const chainId = await this.detectChainId()
    const network = Network.from(chainId)
    const provider = new JsonRpcProvider(this.request(), network, { staticNetwork: network })
    this.provider = provider
    this.chainId = chainId
    this.contract = new Contract(this.address, PGAS_ORACLE_ABI, provider)
    this.log?.info({ endpoint: this.endpoint, chainId: chainId.toString(), address: this.address }, 'P_gas source connected')
    return this.contract
  }

  private request(): FetchRequest {
    const req = new FetchRequest(this.rpcUrl)
    req.timeout = this.timeoutMs
    return req
  }

  private async detectChainId(): Promise<bigint> {
    const req = this.request()
    req.body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] })
    req.setHeader('content-type', 'application/json')
    let body: unknown
    try {
      const res = await req.send()
      res.assertOk()
      body = res.bodyJson
    } catch (err) {
      throw this.failure(err)
    }
    const result = typeof body === 'object' && body !== null ? (body as { result?: unknown }).result : undefined
    if (typeof result !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(result)) {
      throw this.error('bad-response', `${this.endpoint} is not an Ethereum JSON-RPC endpoint: eth_chainId answered ${JSON.stringify(body)?.slice(0, 200)}`)
    }
    return BigInt(result)
  }

  /** Maps an ethers or fetch error to a PRICE_SOURCE error that says which step failed. */
  private failure(err: unknown): GalacticError {
    if (err instanceof GalacticError) return err
    const detail = shortMessage(err)
    if (isError(err, 'CALL_EXCEPTION')) {
      return this.error('reverted', `pGas() on ${this.address} reverted: ${detail}`, err)
    }
    if (isError(err, 'BAD_DATA')) {
      return this.error('bad-response', `pGas() on ${this.address} returned data that is not a uint256 (is it a PGasOracle?): ${detail}`, err)
    }
    if (isError(err, 'SERVER_ERROR') && err.response !== undefined && err.response.statusCode !== 0) {
      return this.error('bad-response', `${this.endpoint} answered HTTP ${err.response.statusCode}: ${detail}`, err)
    }
    // Connection refused or reset, DNS failure (plain Node errors) and timeouts: nothing answered.
    const fromEthers = typeof (err as { shortMessage?: unknown } | null)?.shortMessage === 'string'
    if (!fromEthers || isError(err, 'TIMEOUT') || isError(err, 'NETWORK_ERROR') || isError(err, 'SERVER_ERROR')) {
      return this.error('unreachable', `Ethereum JSON-RPC endpoint ${this.endpoint} unreachable: ${detail}`, err)
    }
    // Anything else ethers raised came from an answer: a JSON-RPC error the node sent back.
    return this.error('bad-response', `${this.endpoint} answered with an error: ${detail}`, err)
  }

  private error(reason: ChainPGasFailure, message: string, cause?: unknown): GalacticError {
    const details: Record<string, unknown> = { reason, endpoint: this.endpoint, address: this.address }
    if (this.chainId !== undefined) details['chainId'] = this.chainId.toString()
    return new GalacticError('PRICE_SOURCE', message, details, cause === undefined ? undefined : { cause })
  }
}

/** The useful part of an ethers error (its shortMessage), or of any other error, without the URL it may carry. */
function shortMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const e = err as { shortMessage?: unknown; message?: unknown; cause?: unknown; code?: unknown }
    const cause = e.cause as { code?: unknown; message?: unknown } | undefined
    const base = typeof e.shortMessage === 'string' ? e.shortMessage : typeof e.message === 'string' ? e.message : String(err)
    const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined
    return why === undefined ? base : `${base} (${why})`
  }
  return String(err)
}
