import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, spawnAgent, spawnOracle, type AgentReady, type GalacticProcess, type OracleReady } from '@galactic/cli/processes'
import { buildPluginImage, dockerManifest, loadPluginManifest } from '@galactic/plugin-runtime'
import { verifySnark } from '@galactic/plugin-sha256-chain'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { dockerForTests, dockerTestsRequired, dockerTestsUnavailable, ensureNodeBaseImage, type DockerForTests } from '../docker/index.js'

const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/sha256-chain/', import.meta.url))
const plugin = { name: 'sha256-chain', version: '1.0.0' }

const unavailable = dockerTestsUnavailable()
const skip = !dockerTestsRequired() && unavailable !== undefined
const title = skip
  ? `a graph with every op in Docker containers (skipped: ${unavailable}; GALACTIC_DOCKER_TESTS=1 makes this fail instead)`
  : 'a graph with every op in Docker containers'

/** Real oracle and agent processes; the agents run the sha256-chain plugin as a Docker image. */
describe.skipIf(skip)(title, () => {
  let dir: string
  let env: DockerForTests
  let oracle: GalacticProcess<OracleReady>
  let agents: Array<GalacticProcess<AgentReady>> = []
  let client: GalacticClient
  const AGENT_NAMES = ['docker-prover-1', 'docker-prover-2']

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-docker-e2e-'))
    env = await dockerForTests()
    const base = await ensureNodeBaseImage(env.docker)
    const image = await buildPluginImage(env.docker, PLUGIN_DIR, 'galactic-test/sha256-chain:1.0.0', { base: base.tag })
    // The same plugin, but run by Docker: its manifest names the image and pins its digest.
    const manifest = dockerManifest(loadPluginManifest(join(PLUGIN_DIR, 'galactic-plugin.json')).manifest, image)
    const manifestPath = join(dir, 'galactic-plugin.json')
    writeFileSync(manifestPath, JSON.stringify(manifest))
    oracle = await spawnOracle({ dataDir: join(dir, 'oracle'), wsPort: await freePort(), p2pPort: await freePort() })
    agents = await Promise.all(
      AGENT_NAMES.map((name) =>
        spawnAgent({
          oracle: oracle.ready.ws,
          name,
          dataDir: join(dir, name),
          args: ['--plugins', manifestPath, '--docker-socket', env.socketPath, '--slots', '2'],
        }),
      ),
    )
    client = new GalacticClient({ url: oracle.ready.ws })
  }, 300_000)

  afterAll(async () => {
    client?.close()
    await Promise.all([...agents.map((a) => a.stop()), oracle?.stop()])
    // Nothing left behind: every container of these agents is gone.
    if (env !== undefined) {
      const left = await env.docker.listContainers({ all: true, filters: { label: AGENT_NAMES.map((n) => `galactic.agent=${n}`) } })
      await env.stop()
      expect(left).toEqual([])
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it.each(['efficiency', 'performance'] as const)('runs split, 4 proves, 3 aggregations and a snark in %s mode', async (pluginMode) => {
    const seed = `docker-${pluginMode}`
    const graph = buildZkmGraph({ requester: 'e2e', nonce: pluginMode, segments: 4, plugin, params: { seed, segmentSteps: 5_000 }, pluginMode })
    const { graphId } = await client.submit(graph)
    const status = await client.wait(graphId)
    expect(status.state, JSON.stringify(status.ops.map((o) => [o.id, o.state, o.error]))).toBe('succeeded')
    expect(new Set(status.ops.flatMap((o) => o.deviceIds ?? []))).toEqual(new Set(AGENT_NAMES))
    const { outputs } = await client.result(graphId)
    expect(verifySnark(JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8')), seed, 4 * 5_000)).toBe(true)
  })
})
