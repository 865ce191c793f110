import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { verifySnark } from '@galactic/plugin-sha256-chain'
import { eventLine } from '../format.js'
import { freePort, spawnAgent, spawnOracle, type GalacticProcess } from '../processes.js'
import { EXIT, intOption } from '../util.js'

export function demoCommand(): Command {
  return new Command('demo')
    .description('start a local oracle and agents, run a ZKM-shaped proving graph, print progress, then one JSON line with the result')
    .option('--agents <n>', 'prover agents to start', intOption('--agents', 1, 16), 3)
    .option('--segments <n>', 'segments to prove', intOption('--segments', 1, 256), 4)
    .option('--segment-steps <n>', 'hash-chain steps per segment', intOption('--segment-steps', 1, 10_000_000), 200_000)
    .option('--keep', 'keep the temporary data folder')
    .action(async (opts: { agents: number; segments: number; segmentSteps: number; keep?: boolean }) => {
      const dir = mkdtempSync(join(tmpdir(), 'galactic-demo-'))
      const say = (line: string): void => {
        process.stdout.write(`${line}\n`)
      }
      const procs: Array<GalacticProcess<unknown>> = []
      const client = new GalacticClient({ url: `ws://127.0.0.1:${await freePort()}` })
      let exit: number = EXIT.ok
      try {
        const wsPort = Number(new URL(client.url).port)
        const oracle = await spawnOracle({ dataDir: join(dir, 'oracle'), wsPort, p2pPort: await freePort(), logLevel: 'warn' })
        procs.push(oracle)
        say(`oracle ${oracle.ready.peerId} listening on ${oracle.ready.ws}`)
        const agents = await Promise.all(
          Array.from({ length: opts.agents }, (_, i) =>
            spawnAgent({ oracle: oracle.ready.ws, name: `demo-prover-${i + 1}`, dataDir: join(dir, `agent-${i + 1}`), logLevel: 'warn' }),
          ),
        )
        procs.push(...agents)
        say(`${agents.length} prover agents registered: ${agents.map((a) => a.ready.name).join(', ')}`)
        const seed = 'galactic demo'
        const graph = buildZkmGraph({
          requester: 'demo',
          nonce: String(Date.now()),
          segments: opts.segments,
          plugin: { name: 'sha256-chain', version: '1.0.0' },
          params: { seed, segmentSteps: opts.segmentSteps },
        })
        const started = Date.now()
        const { graphId } = await client.submit(graph)
        say(`submitted graph ${graphId}: ${graph.ops.length} ops (split, ${opts.segments} proves, aggregations, snark)`)
        const status = await client.wait(graphId, {
          onEvent: (event) => {
            const line = eventLine(event)
            if (line !== undefined) say(line)
          },
        })
        const outputs = status.state === 'succeeded' ? (await client.result(graphId)).outputs : []
        const snark = outputs.find((o) => o.name === 'snark')
        const verified = snark !== undefined && verifySnark(JSON.parse(Buffer.from(snark.data).toString('utf8')), seed, opts.segments * opts.segmentSteps)
        if (status.state === 'succeeded') {
          say(`done in ${Date.now() - started} ms; snark output ${verified ? 'checked against a fresh run of the chain: valid' : 'INVALID'}`)
        }
        if (status.state !== 'succeeded' || !verified) exit = EXIT.graphFailed
        process.stdout.write(
          `${JSON.stringify({
            graphId,
            status: status.state,
            verified,
            outputs: outputs.map((o) => ({ opId: o.opId, name: o.name, hash: o.hash, size: o.size, value: JSON.parse(Buffer.from(o.data).toString('utf8')) as unknown })),
          })}\n`,
        )
      } finally {
        client.close()
        await Promise.all(procs.map((p) => p.stop()))
        if (opts.keep !== true) rmSync(dir, { recursive: true, force: true })
        else process.stderr.write(`data kept in ${dir}\n`)
      }
      process.exitCode = exit
    })
}
