import { hostname } from 'node:os'
import { Command } from 'commander'

import { BUNDLED_PLUGIN, DEFAULT_URL, intOption, logger, untilSignal } from '../util.js'

export function agentCommand(): Command {
  const agent = new Command('agent').description('run a prover agent that takes proving work from an oracle')
  agent
    .command('start')
    .description('start an agent; prints one JSON line on stdout once registered, logs on stderr')
    .option('--oracle <address>', "the oracle's WebSocket URL or libp2p multiaddr (/ip4/.../tcp/.../p2p/...)", DEFAULT_URL)
    .option('--name <name>', 'prover name, unique on the network', hostname().replace(/[^A-Za-z0-9._-]/g, '-'))
    .option('--data-dir <dir>', 'folder for the identity key (default .galactic/agent-<name>)')
    .option('--plugin <manifest...>', 'galactic-plugin.json of each plugin to offer (default: the bundled sha256-chain)')
    .option('--slots <n>', 'ops to run at once', intOption('--slots', 1, 1024), 1)
    .option('--metrics-port <port>', 'serve Prometheus metrics at GET /metrics on this port (0: any free port)', intOption('--metrics-port', 0, 65535))
    .option('--log-level <level>', 'fatal, error, warn, info, debug or silent', 'info')
    .action(async (opts: { oracle: string; name: string; dataDir?: string; plugin?: string[]; slots: number; metricsPort?: number; logLevel: string }) => {
      const { ProverAgent } = await import('@galactic/prover-agent')
      const log = logger(opts.logLevel, 'agent')
      const node = new ProverAgent(
        {
          proverId: opts.name,
          oracle: opts.oracle,
          dataDir: opts.dataDir ?? `.galactic/agent-${opts.name}`,
          plugins: opts.plugin ?? [BUNDLED_PLUGIN],
          slots: opts.slots,
          ...(opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort }),
        },
        { log },
      )
      await node.start()
      void node.registered.then(() => {
        process.stdout.write(`${JSON.stringify({ event: 'agent.registered', name: opts.name, peerId: node.peerId, metricsPort: node.metricsPort ?? null })}\n`)
      })
      const signal = await untilSignal()
      log.info({ signal }, 'stopping')
      await node.stop()
    })
  return agent
}
