import { join } from 'node:path'
import type { VerifyMode } from './verifier.js'
import type { RateLimitInit } from './security/token-bucket.js'
import type { JournalSync } from './journal/index.js'

/** An oracle's options. Every field but `dataDir` has a default. */
export interface OracleInit {
  /** Folder for the journal, the identity key and the blob store. */
  dataDir: string
  /** Address both transports bind. @default '127.0.0.1' */
  host?: string
  /** WebSocket port for requesters; 0 picks a free one. @default 7700 */
  wsPort?: number
  /** libp2p TCP port for agents; 0 picks a free one. @default 7701 */
  p2pPort?: number
  /** How often agents send a heartbeat. @default 1000 */
  heartbeatIntervalMs?: number
  /** A prover silent this long is lost and its ops go back to ready. @default 5000 */
  livenessTimeoutMs?: number
  /** How often the oracle checks liveness and deadlines. @default 250 */
  tickIntervalMs?: number
  /** Assignments of one op before it fails for good. @default 5 */
  maxAttempts?: number
  /** First ban window of a failing prover; each further consecutive failure doubles it. @default 60_000 */
  banBaseMs?: number
  /** Provers per op under performance priority when the graph does not say. @default 2 */
  defaultRedundancy?: number
  /** Ops with a penalty above this get `highPenaltyProvers` provers in any mode. @default Infinity (off) */
  highPenaltyThreshold?: number
  /** @default 2 */
  highPenaltyProvers?: number
  /** Manifests of the plugins whose `verify` the oracle runs on results. @default [] */
  verifyPlugins?: string[]
  /** `required`, `available` (verify what it can) or `off`. @default 'available' */
  verifyMode?: VerifyMode
  /**
   * Refuse submissions without a valid requester signature (`auth`). A signature that is sent
   * is checked either way. @default false (the local demo submits unsigned)
   */
  requireSignatures?: boolean
  /**
   * Accept only requesters whose address is in `<dataDir>/allowlist.json` (managed with
   * `galactic allowlist`, re-read on change). Implies `requireSignatures`. @default false
   */
  allowlist?: boolean
  /** Requests per second per WebSocket connection. @default { perSecond: 200, burst: 400, maxStrikes: 100 } */
  rpcRateLimit?: RateLimitInit
  /** Messages per second per agent stream. @default { perSecond: 100, burst: 200, maxStrikes: 20 } */
  agentRateLimit?: RateLimitInit
  /**
   * Web origins (`https://host[:port]`) whose pages may use the oracle's WebSocket, besides the
   * oracle's own (its dashboard). Clients that send no Origin (SDK, CLI) are always served. @default []
   */
  allowedOrigins?: string[]
  /** Pricing (docs/pricing.md). Every field has a default. */
  pricing?: PricingInit
  /**
   * When journal commits reach the disk (docs/architecture.md, "Journal"): `full` before anything
   * is acknowledged; `interval` every `journalSyncIntervalMs` (a process crash still loses
   * nothing; power loss can lose that long). @default 'full'
   */
  journalSync?: JournalSync
  /** @default 1000 */
  journalSyncIntervalMs?: number
}

/** How the oracle prices work: P = P_gas x Gas. */
export interface PricingInit {
  /** A gas table file (`galactic gas calibrate --out`). @default null: the built-in table */
  gasTablePath?: string | null
  /** Length of a P_gas epoch. @default 10_000 */
  epochMs?: number
  /** P_gas before the first epoch of a new journal, wei per gas. @default 1_000_000_000n (1 gwei) */
  initialPGas?: bigint
  /** @default 1n */
  minPGas?: bigint
  /** @default 10n ** 24n */
  maxPGas?: bigint
  /** Largest move of P_gas per epoch, basis points. @default 1250 */
  maxChangeBps?: number
  /** Demand matches supply when the waiting gas would be done in this long. @default 60_000 */
  targetDrainMs?: number
  /** What each redundant prover stopped when another won earns, basis points of the op's price. @default 0 */
  redundantShareBps?: number
  /** A prover whose claimed and observed speed differ by more than this factor is doubted. @default 4 */
  speedDoubtFactor?: number
  /** Gas per second assumed for a prover that claims none and has no accepted op yet. @default 100_000_000 */
  defaultGasPerSecond?: number
  /** Read P_gas from a contract instead of the controller (contracts/PGasOracle.sol). @default null */
  chain?: { rpcUrl: string; address: string } | null
}

export type ResolvedPricingInit = Required<PricingInit>

export function resolvePricingInit(init: PricingInit = {}): ResolvedPricingInit {
  return {
    gasTablePath: init.gasTablePath ?? null,
    epochMs: init.epochMs ?? 10_000,
    initialPGas: init.initialPGas ?? 1_000_000_000n,
    minPGas: init.minPGas ?? 1n,
    maxPGas: init.maxPGas ?? 10n ** 24n,
    maxChangeBps: init.maxChangeBps ?? 1250,
    targetDrainMs: init.targetDrainMs ?? 60_000,
    redundantShareBps: init.redundantShareBps ?? 0,
    speedDoubtFactor: init.speedDoubtFactor ?? 4,
    defaultGasPerSecond: init.defaultGasPerSecond ?? 100_000_000,
    chain: init.chain ?? null,
  }
}

export type ResolvedOracleInit = Required<Omit<OracleInit, 'pricing'>> & { pricing: ResolvedPricingInit } & { journalPath: string; keyPath: string; blobDir: string; catalogPath: string }

export function resolveOracleInit(init: OracleInit): ResolvedOracleInit {
  return {
    dataDir: init.dataDir,
    host: init.host ?? '127.0.0.1',
    wsPort: init.wsPort ?? 7700,
    p2pPort: init.p2pPort ?? 7701,
    heartbeatIntervalMs: init.heartbeatIntervalMs ?? 1000,
    livenessTimeoutMs: init.livenessTimeoutMs ?? 5000,
    tickIntervalMs: init.tickIntervalMs ?? 250,
    maxAttempts: init.maxAttempts ?? 5,
    banBaseMs: init.banBaseMs ?? 60_000,
    defaultRedundancy: init.defaultRedundancy ?? 2,
    highPenaltyThreshold: init.highPenaltyThreshold ?? Number.POSITIVE_INFINITY,
    highPenaltyProvers: init.highPenaltyProvers ?? 2,
    verifyPlugins: init.verifyPlugins ?? [],
    verifyMode: init.verifyMode ?? 'available',
    requireSignatures: init.requireSignatures ?? false,
    allowlist: init.allowlist ?? false,
    rpcRateLimit: init.rpcRateLimit ?? { perSecond: 200, burst: 400, maxStrikes: 100 },
    agentRateLimit: init.agentRateLimit ?? { perSecond: 100, burst: 200, maxStrikes: 20 },
    allowedOrigins: init.allowedOrigins ?? [],
    pricing: resolvePricingInit(init.pricing),
    journalSync: init.journalSync ?? 'full',
    journalSyncIntervalMs: init.journalSyncIntervalMs ?? 1000,
    journalPath: join(init.dataDir, 'journal.sqlite'),
    keyPath: join(init.dataDir, 'identity.key'),
    blobDir: join(init.dataDir, 'blobs'),
    catalogPath: join(init.dataDir, 'catalog.json'),
  }
}
