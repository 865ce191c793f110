import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { Artifacts, releaseProver, verifyFinal, type SnarkOutput } from '@galactic/plugin-groth16-chain'
import { buildPluginImage, loadPluginManifest } from '@galactic/plugin-runtime'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import {
  containerEvents,
  dockerForTests,
  dockerManifest,
  dockerTestsRequired,
  dockerTestsUnavailable,
  ensureNodeBaseImage,
  type BuiltImage,
  type DockerForTests,
} from '../docker/index.js'

const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/groth16-chain/', import.meta.url))
const PROCESS_MANIFEST = join(PLUGIN_DIR, 'galactic-plugin.json')
const plugin = { name: 'groth16-chain', version: '1.0.0' }
const AGENTS = ['groth16-docker-1', 'groth16-docker-2']

const unavailable = dockerTestsUnavailable()
const skip = !dockerTestsRequired() && unavailable !== undefined
const title = skip
  ? `groth16-chain as a Docker image with real agents (skipped: ${unavailable}; GALACTIC_DOCKER_TESTS=1 makes this fail instead)`
  : 'groth16-chain as a Docker image with real agents'

/**
 * Real Groth16 proving in containers: two agents run groth16-chain only as its Docker image (built
 * here from the plugin's dist, run-time packages and artifacts/), one container per op; the oracle
 * verifies every result with the plugin as a process before it counts, and the final snark
 * verifies here. Keys come from `npm run setup -w @galactic/plugin-groth16-chain`.
 */
describe.skipIf(skip)(title, () => {
  let dir: string
  let env: DockerForTests
  let cluster: LocalCluster
  let client: GalacticClient
  let image: BuiltImage

  beforeAll(async () => {
    new Artifacts().check() // a clear error naming the setup command if the keys were not made
    dir = mkdtempSync(join(tmpdir(), 'galactic-docker-groth16-'))
    env = await dockerForTests()
    const t0 = performance.now()
    const base = await ensureNodeBaseImage(env.docker)
    image = await buildPluginImage(env.docker, PLUGIN_DIR, 'galactic-test/groth16-chain:1.0.0', { base: base.tag })
    const { Size } = await env.docker.getImage(image.id).inspect()
    console.info(`groth16-chain image: built in ${Math.round(performance.now() - t0)} ms, ${Math.round(Size / 1e6)} MB`)
    const manifestPath = join(dir, 'galactic-plugin.json')
    writeFileSync(manifestPath, JSON.stringify(dockerManifest(loadPluginManifest(PROCESS_MANIFEST).manifest, image)))
    cluster = await startLocalCluster({
      prefix: 'galactic-docker-groth16-',
      oracleArgs: ['--verify', 'required', '--verify-plugins', PROCESS_MANIFEST],
      agents: AGENTS.map((name) => ({ name, args: ['--plugins', manifestPath, '--docker-socket', env.socketPath] })),
    })
    client = new GalacticClient({ url: cluster.url })
  }, 300_000)

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
    await releaseProver()
    if (env !== undefined) {
      // Nothing left behind: every container of these agents is gone.
      const left = await env.docker.listContainers({ all: true, filters: { label: AGENTS.map((n) => `galactic.agent=${n}`) } })
      await env.stop()
      expect(left).toEqual([])
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("holds what the plugin runs with: the artifacts it proves with (no ptau, no r1cs), snarkjs' own ffjavascript", async () => {
    // What the image holds, listed by its own node (the plugin's CMD replaced, no network).
    const script = `const fs = require('fs'), pkg = (p) => require(p + '/package.json').version
      console.log(JSON.stringify({ artifacts: fs.readdirSync('artifacts', { recursive: true }).sort(),
        ffjavascript: { top: pkg('./node_modules/ffjavascript'), snarkjs: pkg('./node_modules/snarkjs/node_modules/ffjavascript') } }))`
    const container = await env.docker.createContainer({ Image: image.id, Cmd: ['/usr/local/bin/node', '-e', script], HostConfig: { NetworkMode: 'none' } })
    try {
      await container.start()
      await container.wait()
      const logs = (await container.logs({ stdout: true, follow: false })).toString('utf8')
      const listed = JSON.parse(logs.slice(logs.indexOf('{'))) as { artifacts: string[]; ffjavascript: { top: string; snarkjs: string } }
      const artifacts = new Artifacts()
      const expected = ['segment_16', 'commit_64', ...(artifacts.has('segment_64') ? ['segment_64'] : [])].flatMap((name) =>
        ['wasm', 'zkey', 'vkey.json'].map((ext) => `${name}/${name}.${ext}`),
      )
      expect(listed.artifacts).toEqual(expect.arrayContaining(expected))
      expect(listed.artifacts.filter((f) => f.startsWith('ptau') || f.endsWith('.r1cs'))).toEqual([])
      // Installed versions, as on this host: snarkjs keeps its own (another than circomlibjs').
      const host = (path: string): string => (JSON.parse(readFileSync(join(PLUGIN_DIR, '../../node_modules', path, 'package.json'), 'utf8')) as { version: string }).version
      expect(listed.ffjavascript).toEqual({ top: host('ffjavascript'), snarkjs: host('snarkjs/node_modules/ffjavascript') })
    } finally {
      await container.remove({ force: true })
    }
  })

  it('proves 4 segments in containers, one per op; the oracle verifies each result; the snark verifies', async () => {
    const seed = 'e2e groth16 docker'
    const segments = 4
    const since = Math.floor(Date.now() / 1000)
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'groth16-docker', segments, plugin, params: { seed, segmentSize: 16 } })
    const t0 = performance.now()
    const { graphId } = await client.submit(graph)
    const status = await client.wait(graphId)
    console.info(`groth16-chain graph in containers (${graph.ops.length} ops): ${Math.round(performance.now() - t0)} ms`)
    expect(status.state, JSON.stringify(status.ops.filter((o) => o.state !== 'succeeded').map((o) => [o.id, o.error]))).toBe('succeeded')
    // Every result was verified by the oracle before it counted: none was refused.
    expect(status.ops.every((o) => o.attempt === 1 && o.error === null)).toBe(true)
    // Each op ran in a container of its own (efficiency mode), made from the image and started.
    const started = await containerEvents(env.docker, { since, event: 'start', label: `galactic.plugin=${plugin.name}@${plugin.version}` })
    const tasks = started.filter((e) => AGENTS.includes(e.labels['galactic.agent'] ?? ''))
    expect(tasks.length).toBeGreaterThanOrEqual(graph.ops.length)

    const snark = (await client.result(graphId)).outputs.find((o) => o.name === 'snark')
    const output = JSON.parse(Buffer.from(snark!.data).toString('utf8')) as SnarkOutput
    expect(output.steps).toBe(segments * 16)
    expect(await verifyFinal(output, { seed, segments, segmentSize: 16 })).toEqual({ valid: true })
    expect((await verifyFinal(output, { seed: 'another seed', segments, segmentSize: 16 })).valid).toBe(false)
  })
})
