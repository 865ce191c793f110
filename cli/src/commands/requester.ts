import { Command, Option } from 'commander'
import { buildZkmGraph, GalacticClient, loadEthKey, type GraphStatus } from '@galactic/sdk'
import { eventLine, explainText, opsTable, Progress, proversTable, summary } from '../format.js'
import { DEFAULT_URL, EXIT, fail, intOption, query, readJsonFile } from '../util.js'

export function submitCommand(): Command {
  return new Command('submit')
    .description('submit a proving graph (a JSON file, or - for stdin) and print its id')
    .argument('<graph.json>', 'the graph; see `galactic graph zkm` for an example')
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--watch', 'follow the graph to the end: a live progress bar on a terminal, a line per change when piped; exit 3 if it fails')
    .option('--wait', 'the same as --watch')
    .option('--json', 'print JSON instead of text')
    .option('--key <file>', 'sign the submission with the Ethereum private key (0x hex) in this file; requester becomes its address (env GALACTIC_REQUESTER_KEY_FILE)')
    .option('--max-price <wei>', "the most to pay for the whole graph (sets the graph's maxPrice; the oracle refuses it if its quote is higher)")
    .action(async (file: string, opts: { url: string; watch?: boolean; wait?: boolean; json?: boolean; key?: string; maxPrice?: string }) => {
      const json = opts.json === true
      let client: GalacticClient | undefined
      try {
        const keyFile = opts.key ?? process.env['GALACTIC_REQUESTER_KEY_FILE']
        client = new GalacticClient({ url: opts.url, ...(keyFile === undefined || keyFile === '' ? {} : { signer: await loadEthKey(keyFile) }) })
        const read = readJsonFile(file)
        const graph = opts.maxPrice === undefined ? read : { ...(read as object), maxPrice: opts.maxPrice }
        const { graphId, created } = await client.submit(graph as never)
        if (opts.wait !== true && opts.watch !== true) {
          if (json) process.stdout.write(`${JSON.stringify({ graphId, created })}\n`)
          else process.stdout.write(`${created ? 'submitted' : 'already submitted'}: ${graphId}\n`)
          return
        }
        if (!json) process.stdout.write(`${created ? 'submitted' : 'already submitted'}: ${graphId}\n`)
        // On a terminal: one progress line redrawn in place; piped: a plain line per change.
        const bar = !json && process.stdout.isTTY === true ? new Progress(Date.now()) : undefined
        const status = await client.wait(graphId, {
          onEvent: (event) => {
            if (bar !== undefined) {
              bar.apply(event)
              process.stdout.write(`\r\x1b[2K${bar.line(Date.now(), process.stdout.columns)}`)
              return
            }
            const line = eventLine(event)
            if (!json && line !== undefined) process.stdout.write(`${line}\n`)
          },
        })
        if (bar !== undefined) process.stdout.write('\n')
        printFinal(status, json)
        if (status.state !== 'succeeded') process.exitCode = EXIT.graphFailed
      } catch (err) {
        fail(err, json)
      } finally {
        client?.close()
      }
    })
}

export function statusCommand(): Command {
  return new Command('status')
    .description("show a graph's state and each op's state, prover, timing and outputs (the same as `galactic graph <graphId>`)")
    .argument('<graphId>')
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--json', 'print the full status as JSON')
    .action(showGraph)
}

/** `galactic status <id>` and `galactic graph <id>`: the graph's summary and its ops table, or its full status as JSON. */
async function showGraph(graphId: string, opts: { url: string; json?: boolean }): Promise<void> {
  await query(opts, (client) => client.status(graphId), (status) => `graph ${status.graphId}: ${summary(status)}\n\n${opsTable(status)}\n`)
}

function printFinal(status: GraphStatus, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(status)}\n`)
  else process.stdout.write(`graph ${status.graphId}: ${summary(status)}\n`)
}

export function graphCommand(): Command {
  // A group with a default action: `graph <graphId>` shows a graph, `graph zkm ...` builds one.
  // Commander dispatches to a subcommand when the first operand names one, else runs this action.
  const graph = new Command('graph')
    .description("show a graph's ops with state, prover and timing (galactic graph <graphId>), or build a graph (galactic graph zkm)")
    .usage('<graphId> [options] | zkm [options]')
    .argument('[graphId]', 'the graph to show, as `galactic status <graphId>` does')
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--json', 'print the full status as JSON')
    // Commander drops the implicit `help [command]` of a group that has an action: keep it.
    .helpCommand(true)
    .action(async (graphId: string | undefined, opts: { url: string; json?: boolean }, cmd: Command) => {
      if (graphId === undefined) cmd.help({ error: true })
      else await showGraph(graphId, opts)
    })
  graph
    .command('zkm')
    .description('print a ZKM-shaped graph (split -> prove x N -> aggregation tree -> snark) for the sha256-chain plugin')
    .option('--segments <n>', 'segments, one prove op each', intOption('--segments', 1, 4096), 4)
    .option('--segment-steps <n>', 'hash-chain steps per segment', intOption('--segment-steps', 1, 10_000_000), 100_000)
    .option('--seed <text>', 'start of the chain', 'galactic')
    .option('--requester <id>', 'requester id', 'cli')
    .option('--nonce <nonce>', 'unique per requester (default: the current time)')
    .addOption(new Option('--stop-after <stage>', 'where the pipeline ends').choices(['split', 'agg', 'snark']).default('snark'))
    .option('--composite', 'end after the prove ops')
    .addOption(new Option('--priority <p>', 'cost (one prover per op) or performance').choices(['cost', 'performance']).default('cost'))
    .addOption(new Option('--plugin-mode <m>', 'efficiency (fresh plugin per task) or performance (resident)').choices(['efficiency', 'performance']).default('efficiency'))
    .action((opts: { segments: number; segmentSteps: number; seed: string; requester: string; nonce?: string; stopAfter: 'split' | 'agg' | 'snark'; composite?: boolean; priority: 'cost' | 'performance'; pluginMode: 'efficiency' | 'performance' }) => {
      const g = buildZkmGraph({
        requester: opts.requester,
        nonce: opts.nonce ?? String(Date.now()),
        segments: opts.segments,
        plugin: { name: 'sha256-chain', version: '1.0.0' },
        params: { seed: opts.seed, segmentSteps: opts.segmentSteps },
        stopAfter: opts.stopAfter,
        composite: opts.composite === true,
        priority: opts.priority,
        pluginMode: opts.pluginMode,
      })
      process.stdout.write(`${JSON.stringify(g, null, 2)}\n`)
    })
  return graph
}

export function explainCommand(): Command {
  return new Command('explain')
    .description('say why an op is not placed yet: per placement plugin, how many provers it rejected and why')
    .argument('<graphId>')
    .argument('<opId>')
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--json', 'print JSON')
    .action(async (graphId: string, opId: string, opts: { url: string; json?: boolean }) => {
      await query(opts, (client) => client.explain(graphId, opId), explainText)
    })
}

export function proversCommand(): Command {
  return new Command('provers')
    .description('list the provers the oracle knows: device, state, running tasks')
    .option('--url <url>', "the oracle's WebSocket URL", DEFAULT_URL)
    .option('--json', 'print JSON')
    .action(async (opts: { url: string; json?: boolean }) => {
      await query(opts, async (client) => ({ provers: await client.provers() }), ({ provers }) => proversTable(provers))
    })
}
