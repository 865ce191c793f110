import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command, Option } from 'commander'
import { buildZkmGraph, GalacticClient, type GraphOutput } from '@galactic/sdk'
import { eventLine } from '../format.js'
import { startLocalCluster, type LocalCluster } from '../processes.js'
import { BUNDLED_PLUGINS, EXIT, intOption } from '../util.js'

type Backend = 'groth16' | 'o1js' | 'sha256'

const PLUGINS: Record<Backend, 'groth16-chain' | 'o1js-chain' | 'sha256-chain'> = { groth16: 'groth16-chain', o1js: 'o1js-chain', sha256: 'sha256-chain' }

export function demoCommand(): Command {
  return new Command('demo')
    .description('start a local oracle and agents, run a ZKM-shaped proving graph, print progress, then one JSON line with the result')
    .addOption(
      new Option('--backend <name>', 'groth16: real Groth16 proofs (circom + snarkjs); o1js: real recursive proofs (o1js ZkProgram, leaf and merge); sha256: a SHA-256 hash chain')
        .choices(['groth16', 'o1js', 'sha256'])
        .default('groth16'),
    )
    .option('--agents <n>', 'prover agents to start', intOption('--agents', 1, 16), 3)
    .option('--segments <n>', 'segments to prove (default 6, o1js 4; groth16: at most 64)', intOption('--segments', 1, 256))
    .option('--segment-steps <n>', 'sha256 backend: hash-chain steps per segment', intOption('--segment-steps', 1, 10_000_000), 200_000)
    .option('--keep', 'keep the temporary data folder')
    .action(async (opts: { backend: Backend; agents: number; segments?: number; segmentSteps: number; keep?: boolean }) => {
      const say = (line: string): void => {
        process.stdout.write(`${line}\n`)
      }
      // o1js proofs take tens of seconds each on two cores: a smaller default graph.
      const segments = opts.segments ?? (opts.backend === 'o1js' ? 4 : 6)
      if (opts.backend === 'groth16') await ensureGroth16Keys(say)
      if (opts.backend === 'o1js') await ensureO1jsKeys(say)
      const manifest = BUNDLED_PLUGINS[PLUGINS[opts.backend]]
      let cluster: LocalCluster | undefined
      let client: GalacticClient | undefined
      let exit: number = EXIT.ok
      try {
        cluster = await startLocalCluster({
          prefix: 'galactic-demo-',
          logLevel: 'warn',
          oracleArgs: ['--verify', 'required'],
          agents: Array.from({ length: opts.agents }, (_, i) => ({ name: `demo-prover-${i + 1}`, args: ['--plugins', manifest] })),
        })
        client = new GalacticClient({ url: cluster.url })
        say(`oracle ${cluster.oracle.ready.peerId} listening on ${cluster.url} (dashboard: ${cluster.url.replace('ws:', 'http:')}/)`)
        say(`${cluster.agents.length} prover agents registered: ${cluster.agents.map((a) => a.ready.name).join(', ')}`)
        const seed = 'galactic demo'
        const graph = buildZkmGraph({
          requester: 'demo',
          nonce: String(Date.now()),
          segments,
          plugin: { name: PLUGINS[opts.backend], version: '1.0.0' },
          params: opts.backend === 'sha256' ? { seed, segmentSteps: opts.segmentSteps } : { seed, segmentSize: 16 },
        })
        const started = Date.now()
        const { graphId } = await client.submit(graph)
        say(`submitted graph ${graphId}: ${graph.ops.length} ops (split, ${segments} proves, aggregations, snark) on ${opts.backend}`)
        if (opts.backend === 'o1js') say('o1js: each leaf proof takes about half a minute, each merge about a minute, on two cores')
        const status = await client.wait(graphId, {
          onEvent: (event) => {
            const line = eventLine(event)
            if (line !== undefined) say(line)
          },
        })
        if (status.state !== 'succeeded') {
          exit = EXIT.graphFailed
          process.stdout.write(`${JSON.stringify({ graphId, status: status.state, verified: false, failed: status.ops.filter((o) => o.state === 'failed').map((o) => ({ opId: o.id, error: o.error })) })}\n`)
          return
        }
        const snark = (await client.result(graphId)).outputs.find((o) => o.name === 'snark')
        if (snark === undefined) throw new Error('the graph succeeded without a snark output')
        const result =
          opts.backend === 'groth16'
            ? await groth16Result(snark, seed, segments, graphId)
            : opts.backend === 'o1js'
              ? await o1jsResult(snark, seed, segments, graphId)
              : await sha256Result(snark, seed, segments * opts.segmentSteps)
        say(`done in ${Date.now() - started} ms; final proof ${result.verified ? 'checked independently: valid' : 'INVALID'}`)
        if (!result.verified) exit = EXIT.graphFailed
        process.stdout.write(`${JSON.stringify({ graphId, status: status.state, ...result })}\n`)
      } finally {
        client?.close()
        await cluster?.stop({ keep: opts.keep === true })
        if (opts.keep === true && cluster !== undefined) process.stderr.write(`data kept in ${cluster.dir}\n`)
        process.exitCode = exit
      }
    })
}

/** Makes the Groth16 circuits and keys once (about two minutes on two cores); later runs find them. */
async function ensureGroth16Keys(say: (line: string) => void): Promise<void> {
  const { Artifacts, PLUGIN_DIR } = await import('@galactic/plugin-groth16-chain')
  const artifacts = new Artifacts()
  if (artifacts.has('segment_16') && artifacts.has('commit_64')) return
  say('making the Groth16 circuits and keys once (a local development ceremony; about two minutes on two cores)...')
  const run = spawnSync(process.execPath, [join(PLUGIN_DIR, 'scripts', 'setup.mjs'), '--quiet'], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (run.status !== 0) throw new Error(`groth16 setup failed (exit ${run.status}); run it alone with: npm run setup -w @galactic/plugin-groth16-chain`)
}

/** Fills the o1js-chain key cache once (about two minutes on two cores); later runs find it. */
async function ensureO1jsKeys(say: (line: string) => void): Promise<void> {
  const { KeyCache, PLUGIN_DIR } = await import('@galactic/plugin-o1js-chain')
  try {
    new KeyCache().check()
    return
  } catch {
    // missing or stale: make them
  }
  say('compiling the o1js program once to fill its key cache (about two minutes on two cores)...')
  const run = spawnSync(process.execPath, [join(PLUGIN_DIR, 'scripts', 'setup.mjs'), '--quiet'], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (run.status !== 0) throw new Error(`o1js setup failed (exit ${run.status}); run it alone with: npm run setup -w @galactic/plugin-o1js-chain`)
}

async function o1jsResult(snark: GraphOutput, seed: string, segments: number, graphId: string) {
  const { KeyCache, PLUGIN_DIR, verifyFinal } = await import('@galactic/plugin-o1js-chain')
  const output = JSON.parse(Buffer.from(snark.data).toString('utf8')) as { proof: { publicOutput: string[] }; verificationKeyHash: string; start: string; end: string; steps: number }
  const check = await verifyFinal(output, { seed, segments })
  // The final proof as a file, so anyone can check it again with the plugin's script.
  const out = join(tmpdir(), `galactic-demo-result-${graphId}`)
  mkdirSync(out, { recursive: true })
  const file = join(out, 'snark.json')
  writeFileSync(file, JSON.stringify(output, null, 2))
  return {
    verified: check.valid,
    ...(check.reason === undefined ? {} : { reason: check.reason }),
    backend: 'o1js',
    steps: output.steps,
    start: output.start,
    end: output.end,
    proof: output.proof,
    publicOutput: output.proof.publicOutput,
    verificationKeyHash: output.verificationKeyHash,
    verificationKey: new KeyCache().file,
    snarkHash: snark.hash,
    check: `node ${join(PLUGIN_DIR, 'scripts', 'verify.mjs')} ${file} --seed ${JSON.stringify(seed)} --segments ${segments}`,
  }
}

async function groth16Result(snark: GraphOutput, seed: string, segments: number, graphId: string) {
  const { Artifacts, releaseProver, verifyFinal } = await import('@galactic/plugin-groth16-chain')
  const output = JSON.parse(Buffer.from(snark.data).toString('utf8')) as { proof: unknown; publicSignals: string[]; commitment: string; start: string; end: string; steps: number }
  const check = await verifyFinal(output as never, { seed, segments, segmentSize: 16 })
  await releaseProver()
  // The final proof and its public signals as files, so anyone can check them with snarkjs.
  const out = join(tmpdir(), `galactic-demo-result-${graphId}`)
  mkdirSync(out, { recursive: true })
  writeFileSync(join(out, 'proof.json'), JSON.stringify(output.proof, null, 2))
  writeFileSync(join(out, 'public.json'), JSON.stringify(output.publicSignals, null, 2))
  const verificationKey = new Artifacts().commit().vkeyPath
  return {
    verified: check.valid,
    ...(check.reason === undefined ? {} : { reason: check.reason }),
    backend: 'groth16',
    steps: output.steps,
    start: output.start,
    end: output.end,
    commitment: output.commitment,
    proof: output.proof,
    publicSignals: output.publicSignals,
    verificationKey,
    snarkHash: snark.hash,
    check: `npx snarkjs groth16 verify ${verificationKey} ${join(out, 'public.json')} ${join(out, 'proof.json')}`,
  }
}

async function sha256Result(snark: GraphOutput, seed: string, steps: number) {
  const { verifySnark } = await import('@galactic/plugin-sha256-chain')
  const value = JSON.parse(Buffer.from(snark.data).toString('utf8')) as unknown
  return { verified: verifySnark(value as never, seed, steps), backend: 'sha256', outputs: [{ opId: snark.opId, name: snark.name, hash: snark.hash, size: snark.size, value }] }
}
