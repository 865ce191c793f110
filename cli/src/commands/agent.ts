import { Command } from 'commander'
import { AgentConfig, loadConfig, writeStarterConfig } from '../config.js'
import { GalacticError } from '@galactic/schemas'
import { BUNDLED_PLUGIN, fail, intOption, logger, readJsonFile, untilSignal } from '../util.js'

export function agentCommand(): Command {
  const agent = new Command('agent').description('run a prover agent that takes proving work from an oracle')
  agent
    .command('start')
    .description('start an agent; prints one JSON line on stdout once registered, logs on stderr')
    .option('--config <file>', 'TOML or JSON config file (see `galactic agent init`); env GALACTIC_AGENT_* and flags override it')
    .option('--oracle <address>', "the oracle's WebSocket URL or libp2p multiaddr (default ws://127.0.0.1:7700)")
    .option('--name <name>', 'prover name, unique on the network (default: the host name)')
    .option('--data-dir <dir>', 'folder for the identity key (default .galactic/agent-<name>)')
    .option('--plugins <manifest...>', 'galactic-plugin.json of each plugin to offer (default: the bundled sha256-chain)')
    .option('--slots <n>', 'ops to run at once (default 1)', intOption('--slots', 1, 1024))
    .option('--metrics-port <port>', 'serve Prometheus metrics at GET /metrics on this port, 0 for any (default off)', intOption('--metrics-port', 0, 65535))
    .option('--docker-socket <path>', "Docker daemon socket, to run plugins whose manifest says runtime type docker (default none)")
    .option('--catalog', "also offer the oracle's catalog plugins this device can run (needs --docker-socket)")
    .option('--gas-table <file>', 'a gas table from `galactic gas calibrate` run on this machine: its speed is reported to the oracle')
    .option('--calibrate', 'measure this machine with the gas calibration at start (about 20-30 s) and report its speed')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or silent (default info)')
    .action(async (opts: Record<string, unknown> & { config?: string }) => {
      const { config: file, ...flags } = opts
      let config: AgentConfig
      try {
        config = loadConfig(AgentConfig, 'agent', { file, flags })
      } catch (err) {
        fail(err, false)
        return
      }
      const { ProverAgent } = await import('@galactic/prover-agent')
      const log = logger(config.logLevel, 'agent')
      let gasPerSecond: number | undefined
      try {
        gasPerSecond = await deviceSpeed(config)
      } catch (err) {
        fail(err, false)
        return
      }
      if (gasPerSecond !== undefined) log.info({ gasPerSecond }, 'device speed')
      const node = new ProverAgent(
        {
          proverId: config.name,
          oracle: config.oracle,
          dataDir: config.dataDir ?? `.galactic/agent-${config.name}`,
          // The bundled plugin is the default only without the catalog: a catalog agent offers what it is given.
          plugins: config.plugins ?? (config.catalog ? [] : [BUNDLED_PLUGIN]),
          catalog: config.catalog,
          slots: config.slots,
          ...(config.metricsPort === undefined ? {} : { metricsPort: config.metricsPort }),
          ...(config.dockerSocket === undefined ? {} : { dockerSocket: config.dockerSocket }),
          ...(gasPerSecond === undefined ? {} : { gasPerSecond }),
        },
        { log },
      )
      await node.start()
      void node.registered.then(() => {
        process.stdout.write(`${JSON.stringify({ event: 'agent.registered', name: config.name, peerId: node.peerId, metricsPort: node.metricsPort ?? null })}\n`)
      })
      const signal = await untilSignal()
      log.info({ signal }, 'stopping')
      await node.stop()
    })
  agent
    .command('init')
    .description('write a commented starter config file')
    .argument('[file]', 'where to write it', 'galactic-agent.toml')
    .option('--force', 'overwrite an existing file')
    .action((file: string, opts: { force?: boolean }) => {
      try {
        writeStarterConfig(file, 'agent', opts.force === true)
        process.stdout.write(`wrote ${file}; start with: galactic agent start --config ${file}\n`)
      } catch (err) {
        fail(err, false)
      }
    })
  return agent
}

/**
 * This device's gas per second, in the gas of the built-in (analytic) table the oracle prices with:
 * the geometric mean over the table's units of `unitGasPerSecond` (docs/pricing.md, "Speed"), from
 * `--calibrate` (measured now) or a calibrated `--gas-table`.
 */
async function deviceSpeed(config: AgentConfig): Promise<number | undefined> {
  if (config.gasTable === undefined && !config.calibrate) return undefined
  const gas = await import('@galactic/gas')
  let table
  if (config.calibrate) table = await gas.calibrate({})
  else {
    const path = config.gasTable as string
    table = gas.parseGasTable(readJsonFile(path), `gas table ${path}`)
    if (table.measured === undefined) {
      throw new GalacticError('INVALID_INPUT', `gas table ${path}: it has no "measured" section (a table from \`galactic gas calibrate\` has one), so it cannot tell this device's speed`)
    }
  }
  const speeds = Object.values(gas.unitGasPerSecond(table))
  return Math.exp(speeds.reduce((t, v) => t + Math.log(v), 0) / speeds.length)
}
