import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { extname } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { z } from 'zod'
import { GalacticError, Wei } from '@galactic/schemas'
import { BUNDLED_PLUGINS } from './util.js'

const port = z.coerce.number().int().min(0).max(65535)
const ms = (min: number, max: number) => z.coerce.number().int().min(min).max(max)
const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/** The oracle's configuration: file < environment (GALACTIC_ORACLE_*) < flags. */
export const OracleConfig = z.strictObject({
  /** Folder for the journal, the identity key and the blobs. */
  dataDir: z.string().min(1).default('.galactic/oracle'),
  /** Address both transports bind. */
  host: z.string().min(1).default('127.0.0.1'),
  /** HTTP + WebSocket port for requesters, /metrics and /healthz (0: any free port). */
  wsPort: port.default(7700),
  /** libp2p TCP port for agents (0: any free port). */
  p2pPort: port.default(7701),
  /** Heartbeat interval agents are told to use. */
  heartbeatMs: ms(10, 600_000).default(1000),
  /** A prover silent this long is lost and its ops go back to ready. */
  livenessMs: ms(20, 3_600_000).default(5000),
  /** Assignments of one op before it fails for good. */
  maxAttempts: z.coerce.number().int().min(1).max(100).default(5),
  /** First ban window of a failing prover; it doubles on each further consecutive failure, permanent after more than 3. */
  banBaseMs: ms(1, 7 * 24 * 3_600_000).default(60_000),
  /** Provers per op under performance priority when the graph does not say. */
  redundancy: z.coerce.number().int().min(1).max(16).default(2),
  /** Ops whose penalty is above this get `highPenaltyProvers` provers in any mode (absent: off). */
  highPenaltyThreshold: z.coerce.number().min(0).optional(),
  highPenaltyProvers: z.coerce.number().int().min(2).max(16).default(2),
  /** Refuse unsigned submissions (EIP-712 signatures by the requester's Ethereum key). */
  requireSignatures: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()).default(false),
  /** Accept only requesters in <dataDir>/allowlist.json (managed with `galactic allowlist`); implies requireSignatures. */
  allowlist: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()).default(false),
  /** Requests per second per WebSocket connection (burst twice that); persistent excess closes the connection. */
  rpcRateLimit: z.coerce.number().int().min(1).max(1_000_000).default(200),
  /** Messages per second per agent stream (burst twice that). */
  agentRateLimit: z.coerce.number().int().min(1).max(1_000_000).default(100),
  /**
   * Web origins whose pages may use the oracle's WebSocket besides its own dashboard (comma-separated
   * in env and flags). Clients that send no Origin (SDK, CLI) are always served; other origins get 403.
   */
  allowedOrigins: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v), z.array(z.string().refine(isWebOrigin, 'each must be an origin: http:// or https://, a host, an optional port, nothing after'))).default([]),
  /** required: only verified results count; available: verify what the oracle can; off. */
  verify: z.enum(['required', 'available', 'off']).default('available'),
  /** Manifests of the plugins whose verify the oracle runs on results. */
  verifyPlugins: z.preprocess((v) => (typeof v === 'string' ? v.split(',').filter((s) => s !== '') : v), z.array(z.string().min(1))).default(Object.values(BUNDLED_PLUGINS)),
  /** full: fsync each journal commit before acting on it; interval: fsync every journalSyncMs (a process crash loses nothing). */
  journalSync: z.enum(['full', 'interval']).default('full'),
  journalSyncMs: ms(10, 60_000).default(1000),
  /** Pricing (docs/pricing.md). A gas table from `galactic gas calibrate` (absent: the built-in table). */
  gasTable: z.string().min(1).optional(),
  /** Length of a P_gas epoch (ms). */
  pGasEpochMs: ms(100, 3_600_000).default(10_000),
  /** P_gas of a new journal before the first epoch, wei per gas. */
  pGasInitial: Wei.default('1000000000'),
  pGasMin: Wei.default('1'),
  pGasMax: Wei.default('1000000000000000000000000'),
  /** Largest move of P_gas per epoch, in basis points (1250 = 12.5%, as EIP-1559). */
  pGasMaxChangeBps: z.coerce.number().int().min(0).max(10_000).default(1250),
  /** Demand matches supply when the waiting gas would be done in this long by the free provers (ms). */
  pGasTargetDrainMs: ms(1, 86_400_000).default(60_000),
  /** What a redundant prover stopped when another won earns, in basis points of the op's price (0: nothing). */
  redundantShareBps: z.coerce.number().int().min(0).max(10_000).default(0),
  /** A prover whose claimed and observed gas per second differ by more than this factor is doubted. */
  speedDoubtFactor: z.coerce.number().min(1).max(1_000_000).default(4),
  /** Read P_gas from a PGasOracle contract (contracts/) through this Ethereum JSON-RPC endpoint... */
  chainRpcUrl: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).optional(),
  /** ...at this address (both or neither). */
  chainPGasAddress: z.string().regex(/^0x[0-9a-fA-F]{40}$/, '0x and 40 hex digits').optional(),
  logLevel: LogLevel.default('info'),
}).refine((c) => (c.chainRpcUrl === undefined) === (c.chainPGasAddress === undefined), {
  path: ['chainPGasAddress'],
  message: 'chainRpcUrl and chainPGasAddress go together: set both to read P_gas from a contract, or neither',
})
export type OracleConfig = z.infer<typeof OracleConfig>

/** A prover agent's configuration: file < environment (GALACTIC_AGENT_*) < flags. */
export const AgentConfig = z.strictObject({
  /** The oracle's WebSocket URL, or its libp2p multiaddr ending in /p2p/<peer id>. */
  oracle: z.string().min(1).default('ws://127.0.0.1:7700'),
  /** Prover name, unique on the network. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits and . _ - only, at most 64').default(hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'prover'),
  /** Folder for the identity key (default .galactic/agent-<name>). */
  dataDir: z.string().min(1).optional(),
  /** galactic-plugin.json of each plugin to offer (default: the bundled sha256-chain, or none with `catalog`). */
  plugins: z.preprocess((v) => (typeof v === 'string' ? v.split(',').filter((s) => s !== '') : v), z.array(z.string().min(1)).min(1)).optional(),
  /** Ops run at once. */
  slots: z.coerce.number().int().min(1).max(1024).default(1),
  /** Serve Prometheus metrics at GET /metrics on this port (0: any free port). */
  metricsPort: port.optional(),
  /** The Docker daemon's socket, for plugins whose manifest runs them in containers. */
  dockerSocket: z.string().min(1).optional(),
  /** Also offer the oracle's catalog plugins this device can run (Docker images; needs dockerSocket). */
  catalog: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).default(false),
  /** A gas table from `galactic gas calibrate` run on this machine: its measured speed is reported at registration. */
  gasTable: z.string().min(1).optional(),
  /** Run the calibration at start instead (about 20-30 s) and report the speed it measures. */
  calibrate: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean()).default(false),
  logLevel: LogLevel.default('info'),
})
export type AgentConfig = z.infer<typeof AgentConfig>

type Source = 'file' | 'env' | 'flag'

/** `http(s)://host[:port]` and nothing more (a trailing slash is tolerated). */
function isWebOrigin(value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === ''
  } catch {
    return false
  }
}

/**
 * Merges a config file (TOML or JSON), environment variables and flags, in that order of
 * precedence, and validates the result. A bad value is named by key and by where it came
 * from, e.g. `wsPort (from GALACTIC_ORACLE_WS_PORT): Too big: expected number to be <=65535`.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  role: 'oracle' | 'agent',
  input: { file?: string | undefined; env?: NodeJS.ProcessEnv; flags: Record<string, unknown> },
): z.infer<S> {
  const merged: Record<string, unknown> = {}
  const from: Record<string, string> = {}
  const set = (key: string, value: unknown, source: Source, label: string): void => {
    if (value === undefined) return
    merged[key] = value
    from[key] = source === 'flag' ? `--${kebab(key)}` : label
  }
  if (input.file !== undefined) {
    const fileValues = readConfigFile(input.file)
    for (const [key, value] of Object.entries(fileValues)) set(key, value, 'file', input.file)
  }
  const env = input.env ?? process.env
  for (const key of Object.keys(schema.shape)) {
    const name = `GALACTIC_${role.toUpperCase()}_${snake(key)}`
    set(key, env[name], 'env', name)
  }
  for (const [key, value] of Object.entries(input.flags)) set(key, value, 'flag', '')
  const result = schema.safeParse(merged)
  if (result.success) return result.data
  const issues = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '')
    const where = from[key] ?? (issue.code === 'unrecognized_keys' ? input.file : undefined)
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : key
    return { path: keys, message: `${where === undefined ? '' : `(from ${where}) `}${issue.message}` }
  })
  const first = issues[0]
  throw new GalacticError('INVALID_INPUT', `bad ${role} config: ${first?.path}: ${first?.message}`, { issues })
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `cannot read config file ${path}: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = extname(path) === '.json' ? JSON.parse(text) : parseToml(text)
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'TOML'}: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GalacticError('INVALID_INPUT', `config file ${path} must hold a table of keys`)
  }
  return value as Record<string, unknown>
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()
}

/** Writes a commented starter config; refuses to overwrite unless `force`. */
export function writeStarterConfig(path: string, role: 'oracle' | 'agent', force: boolean): void {
  if (existsSync(path) && !force) throw new GalacticError('INVALID_INPUT', `${path} exists; pass --force to overwrite it`)
  writeFileSync(path, role === 'oracle' ? ORACLE_STARTER : AGENT_STARTER)
}

const ORACLE_STARTER = `# galactic oracle configuration (TOML).
# Precedence: this file < environment variables (GALACTIC_ORACLE_<KEY>, e.g. GALACTIC_ORACLE_WS_PORT) < flags.
# Start with: galactic oracle start --config <this file>

# Folder for the SQLite journal, the libp2p identity key and the output blobs. Keep it on a disk that survives restarts.
dataDir = ".galactic/oracle"

# Address both transports bind. 127.0.0.1 keeps the oracle local; 0.0.0.0 opens it to the network.
host = "127.0.0.1"

# HTTP + WebSocket port: requesters (JSON-RPC), GET /metrics (Prometheus), GET /healthz.
wsPort = 7700

# libp2p TCP port prover agents dial.
p2pPort = 7701

# How often agents heartbeat, and how long a silent prover has before it is lost and its ops re-queued (ms).
heartbeatMs = 1000
livenessMs = 5000

# Assignments of one op before the op (and its graph) fails for good.
maxAttempts = 5

# A prover that fails an op or misses its deadline is excluded for banBaseMs; each further consecutive
# failure doubles the window (1x, 2x, 4x); the 4th consecutive failure bans it for good. A success resets the count.
banBaseMs = 60000

# Provers per op for graphs with priority "performance" (first valid result wins; the others are stopped).
redundancy = 2

# Ops with a penalty above this threshold get highPenaltyProvers provers even under cost priority.
# highPenaltyThreshold = 1000
highPenaltyProvers = 2

# Requesters sign submissions (EIP-712) with an Ethereum key; require it, and optionally an allowlist
# of addresses kept in <dataDir>/allowlist.json (galactic allowlist add|remove|list).
requireSignatures = false
allowlist = false

# Per-connection limits: requests per second on the WebSocket, messages per second on an agent stream.
rpcRateLimit = 200
agentRateLimit = 100

# Web pages of other sites may not use the oracle's WebSocket (cross-site WebSocket hijacking): an upgrade with an
# Origin header is refused (403) unless it is the oracle's own http origin (http://<its IP>:<wsPort> or
# http://localhost:<wsPort>: the dashboard it serves) or listed here. The SDK and the CLI send no Origin.
# List the origin of a dashboard reached by DNS name or through a TLS proxy, e.g.:
# allowedOrigins = ["https://galactic.example.org"]

# Results are checked with the plugin's verify before they count; a refused result is a failure of its prover.
# required: results of plugins the oracle cannot verify are refused; available: verify what it can; off.
verify = "available"
# verifyPlugins = ["plugins/sha256-chain/galactic-plugin.json", "plugins/groth16-chain/galactic-plugin.json", "plugins/o1js-chain/galactic-plugin.json"]

# The journal (SQLite, WAL) is fsynced before the oracle acts on a commit (full). With interval it is fsynced
# every journalSyncMs: an oracle process crash still loses nothing, a power loss can lose that long of work.
journalSync = "full"
# journalSyncMs = 1000

# Pricing (docs/pricing.md): an op costs P = P_gas x Gas. Gas comes from the plugin's cost model and a gas
# table (the built-in one, or one made by \`galactic gas calibrate --out FILE\` on a reference machine).
# gasTable = "gas-table.json"
# Each epoch P_gas moves by at most pGasMaxChangeBps (basis points) toward the price where the waiting gas
# would be done in pGasTargetDrainMs by the free provers; it stays within [pGasMin, pGasMax] (wei per gas).
pGasEpochMs = 10000
pGasInitial = "1000000000"
pGasMaxChangeBps = 1250
pGasTargetDrainMs = 60000
# What a redundant prover stopped when another won earns, in basis points of the op's price.
redundantShareBps = 0
# A prover whose claimed speed (gas/s, from its calibration) and observed speed differ by more than this is doubted.
speedDoubtFactor = 4
# Read P_gas from a PGasOracle contract instead (contracts/PGasOracle.sol): both keys or neither.
# chainRpcUrl = "http://127.0.0.1:8545"
# chainPGasAddress = "0x..."

# fatal, error, warn, info, debug, trace or silent. Logs go to stderr as JSON lines.
logLevel = "info"
`

const AGENT_STARTER = `# galactic prover agent configuration (TOML).
# Precedence: this file < environment variables (GALACTIC_AGENT_<KEY>, e.g. GALACTIC_AGENT_SLOTS) < flags.
# Start with: galactic agent start --config <this file>

# The oracle: its WebSocket URL (the agent asks it for its libp2p address) or a multiaddr ending in /p2p/<peer id>.
oracle = "ws://127.0.0.1:7700"

# This prover's name, unique on the network. A permanently banned prover can only come back under a new name.
name = "my-prover"

# Folder for the agent's libp2p identity key (default .galactic/agent-<name>).
# dataDir = ".galactic/agent-my-prover"

# galactic-plugin.json manifests of the plugins this agent offers (default: the bundled sha256-chain).
# plugins = ["plugins/sha256-chain/galactic-plugin.json"]

# Ops run at once.
slots = 1

# Serve Prometheus metrics at GET /metrics on this port.
# metricsPort = 9464

# The Docker daemon's socket: plugins whose manifest says runtime.type = "docker" run in sandboxed
# containers (no network, read-only root, non-root user, memory/CPU limits). Without it, process plugins only.
# dockerSocket = "/var/run/docker.sock"

# Also offer the plugins of the oracle's catalog (galactic plugin publish) that this device can run.
# Their Docker images come from the daemon, a registry pull, or the oracle itself; needs dockerSocket.
# catalog = true

# This device's speed, reported to the oracle (gas per second): a table from \`galactic gas calibrate --out FILE\`
# run on this machine, or calibrate = true to measure at every start (about 20-30 s).
# gasTable = "gas-table.json"
# calibrate = false

# fatal, error, warn, info, debug, trace or silent. Logs go to stderr as JSON lines.
logLevel = "info"
`
