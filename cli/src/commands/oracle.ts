import { Command } from 'commander'
import { loadConfig, OracleConfig, writeStarterConfig } from '../config.js'
import { fail, intOption, logger, untilSignal } from '../util.js'

export function oracleCommand(): Command {
  const oracle = new Command('oracle').description('run the scheduler node that requesters and prover agents connect to')
  oracle
    .command('start')
    .description('start an oracle; prints one JSON line with its addresses on stdout when ready, logs on stderr')
    .option('--config <file>', 'TOML or JSON config file (see `galactic oracle init`); env GALACTIC_ORACLE_* and flags override it')
    .option('--data-dir <dir>', 'folder for the journal, identity key and blobs (default .galactic/oracle)')
    .option('--host <ip>', 'address to bind (default 127.0.0.1)')
    .option('--ws-port <port>', 'HTTP/WebSocket port for requesters and /metrics, 0 for any (default 7700)', intOption('--ws-port', 0, 65535))
    .option('--p2p-port <port>', 'libp2p TCP port for agents, 0 for any (default 7701)', intOption('--p2p-port', 0, 65535))
    .option('--heartbeat-ms <ms>', 'heartbeat interval agents are told to use (default 1000)', intOption('--heartbeat-ms', 10, 600_000))
    .option('--liveness-ms <ms>', 'a prover silent this long is lost (default 5000)', intOption('--liveness-ms', 20, 3_600_000))
    .option('--max-attempts <n>', 'assignments of one op before it fails for good (default 5)', intOption('--max-attempts', 1, 100))
    .option('--ban-base-ms <ms>', "first ban window of a failing prover; doubles per consecutive failure (default 60000)", intOption('--ban-base-ms', 1, 7 * 24 * 3_600_000))
    .option('--redundancy <n>', 'provers per op under performance priority (default 2)', intOption('--redundancy', 1, 16))
    .option('--high-penalty-threshold <amount>', 'ops with a higher penalty get several provers (default off)')
    .option('--high-penalty-provers <n>', 'provers for a high-penalty op (default 2)', intOption('--high-penalty-provers', 2, 16))
    .option('--require-signatures', 'refuse unsigned submissions (default off)')
    .option('--allowlist', 'accept only requesters in <data-dir>/allowlist.json; implies --require-signatures (default off)')
    .option('--rpc-rate-limit <n>', 'requests per second per WebSocket connection (default 200)', intOption('--rpc-rate-limit', 1, 1_000_000))
    .option('--agent-rate-limit <n>', 'messages per second per agent stream (default 100)', intOption('--agent-rate-limit', 1, 1_000_000))
    .option('--allowed-origins <origins>', "comma-separated web origins whose pages may use the WebSocket besides the oracle's own dashboard (default none)")
    .option('--verify <mode>', 'required, available (verify what it can) or off (default available)')
    .option('--verify-plugins <manifest...>', 'plugins whose verify checks results (default: the bundled sha256-chain, groth16-chain and o1js-chain)')
    .option('--gas-table <file>', 'gas table from `galactic gas calibrate` (default: the built-in table)')
    .option('--p-gas-epoch-ms <ms>', 'length of a P_gas epoch (default 10000)', intOption('--p-gas-epoch-ms', 100, 3_600_000))
    .option('--p-gas-initial <wei>', 'P_gas of a new journal, wei per gas (default 1000000000)')
    .option('--p-gas-max-change-bps <bps>', 'largest P_gas move per epoch, basis points (default 1250)', intOption('--p-gas-max-change-bps', 0, 10_000))
    .option('--redundant-share-bps <bps>', "what a stopped redundant prover earns, basis points of the op's price (default 0)", intOption('--redundant-share-bps', 0, 10_000))
    .option('--chain-rpc-url <url>', 'read P_gas from a PGasOracle contract through this Ethereum JSON-RPC endpoint (with --chain-p-gas-address)')
    .option('--chain-p-gas-address <address>', "the PGasOracle contract's address")
    .option('--journal-sync <mode>', 'full: fsync every commit before acting on it; interval: fsync once per --journal-sync-ms, a process crash still loses nothing (default full)')
    .option('--journal-sync-ms <ms>', 'with --journal-sync interval, milliseconds between fsyncs (default 1000)', intOption('--journal-sync-ms', 10, 60_000))
    .option('--log-level <level>', 'fatal, error, warn, info, debug or silent (default info)')
    .action(async (opts: Record<string, unknown> & { config?: string }) => {
      const { config: file, ...flags } = opts
      let config: OracleConfig
      try {
        config = loadConfig(OracleConfig, 'oracle', { file, flags })
      } catch (err) {
        fail(err, false)
        return
      }
      // Loaded here so that --help and the requester commands start fast.
      const { OracleNode } = await import('@galactic/oracle')
      const log = logger(config.logLevel, 'oracle')
      const node = new OracleNode(
        {
          dataDir: config.dataDir,
          host: config.host,
          wsPort: config.wsPort,
          p2pPort: config.p2pPort,
          heartbeatIntervalMs: config.heartbeatMs,
          livenessTimeoutMs: config.livenessMs,
          maxAttempts: config.maxAttempts,
          banBaseMs: config.banBaseMs,
          defaultRedundancy: config.redundancy,
          highPenaltyProvers: config.highPenaltyProvers,
          verifyMode: config.verify,
          requireSignatures: config.requireSignatures,
          allowlist: config.allowlist,
          rpcRateLimit: { perSecond: config.rpcRateLimit, burst: 2 * config.rpcRateLimit, maxStrikes: 100 },
          agentRateLimit: { perSecond: config.agentRateLimit, burst: 2 * config.agentRateLimit, maxStrikes: 20 },
          allowedOrigins: config.allowedOrigins,
          verifyPlugins: config.verifyPlugins,
          journalSync: config.journalSync,
          journalSyncIntervalMs: config.journalSyncMs,
          ...(config.highPenaltyThreshold === undefined ? {} : { highPenaltyThreshold: config.highPenaltyThreshold }),
          pricing: {
            gasTablePath: config.gasTable ?? null,
            epochMs: config.pGasEpochMs,
            initialPGas: BigInt(config.pGasInitial),
            minPGas: BigInt(config.pGasMin),
            maxPGas: BigInt(config.pGasMax),
            maxChangeBps: config.pGasMaxChangeBps,
            targetDrainMs: config.pGasTargetDrainMs,
            redundantShareBps: config.redundantShareBps,
            speedDoubtFactor: config.speedDoubtFactor,
            chain: config.chainRpcUrl === undefined || config.chainPGasAddress === undefined ? null : { rpcUrl: config.chainRpcUrl, address: config.chainPGasAddress },
          },
        },
        { log },
      )
      await node.start()
      process.stdout.write(`${JSON.stringify({ event: 'oracle.ready', ws: node.wsUrl, peerId: node.peerId, multiaddrs: node.multiaddrs })}\n`)
      const signal = await untilSignal()
      log.info({ signal }, 'stopping')
      await node.stop()
    })
  oracle
    .command('init')
    .description('write a commented starter config file')
    .argument('[file]', 'where to write it', 'galactic-oracle.toml')
    .option('--force', 'overwrite an existing file')
    .action((file: string, opts: { force?: boolean }) => {
      try {
        writeStarterConfig(file, 'oracle', opts.force === true)
        process.stdout.write(`wrote ${file}; start with: galactic oracle start --config ${file}\n`)
      } catch (err) {
        fail(err, false)
      }
    })
  return oracle
}
