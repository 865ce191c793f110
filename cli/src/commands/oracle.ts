import { Command } from 'commander'

import { intOption, logger, untilSignal } from '../util.js'

export function oracleCommand(): Command {
  const oracle = new Command('oracle').description('run the scheduler node that requesters and prover agents connect to')
  oracle
    .command('start')
    .description('start an oracle; prints one JSON line with its addresses on stdout when ready, logs on stderr')
    .option('--data-dir <dir>', 'folder for the journal, identity key and blobs', '.galactic/oracle')
    .option('--host <ip>', 'address to bind', '127.0.0.1')
    .option('--ws-port <port>', 'WebSocket port for requesters (0: any free port)', intOption('--ws-port', 0, 65535), 7700)
    .option('--p2p-port <port>', 'libp2p TCP port for agents (0: any free port)', intOption('--p2p-port', 0, 65535), 7701)
    .option('--heartbeat-ms <ms>', 'heartbeat interval agents are told to use', intOption('--heartbeat-ms', 10, 600_000), 1000)
    .option('--liveness-ms <ms>', 'a prover silent this long is lost', intOption('--liveness-ms', 20, 3_600_000), 5000)
    .option('--max-attempts <n>', 'assignments of one op before it fails for good', intOption('--max-attempts', 1, 100), 5)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or silent', 'info')
    .action(async (opts: { dataDir: string; host: string; wsPort: number; p2pPort: number; heartbeatMs: number; livenessMs: number; maxAttempts: number; logLevel: string }) => {
      // Loaded here so that --help and the requester commands start fast.
      const { OracleNode } = await import('@galactic/oracle')
      const log = logger(opts.logLevel, 'oracle')
      const node = new OracleNode(
        {
          dataDir: opts.dataDir,
          host: opts.host,
          wsPort: opts.wsPort,
          p2pPort: opts.p2pPort,
          heartbeatIntervalMs: opts.heartbeatMs,
          livenessTimeoutMs: opts.livenessMs,
          maxAttempts: opts.maxAttempts,
        },
        { log },
      )
      await node.start()
      process.stdout.write(`${JSON.stringify({ event: 'oracle.ready', ws: node.wsUrl, peerId: node.peerId, multiaddrs: node.multiaddrs })}\n`)
      const signal = await untilSignal()
      log.info({ signal }, 'stopping')
      await node.stop()
    })
  return oracle
}
