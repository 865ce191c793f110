import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AgentReady, CLI, freePort, type GalacticProcess, logEntries, type OracleReady, runGalactic, spawnAgent, spawnOracle } from '@galactic/cli/processes'
import { buildPluginImage } from '@galactic/plugin-runtime'
import { verifySnark } from '@galactic/plugin-sha256-chain'
import { CatalogEntry, PluginManifest } from '@galactic/schemas'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import {

  dockerForTests,
  dockerTestsRequired,
  dockerTestsUnavailable,
  ensureNodeBaseImage,
  saveImage,
  registryUnavailable,
  startRegistry,
  type DockerForTests,
  type StartedRegistry,
} from '../docker/index.js'

/** The galactic CLI as its own process. */
const galactic = (...args: string[]) => runGalactic(args)
const logLines = (agent: GalacticProcess<AgentReady>, plugin: string, msg: string) => logEntries(agent, { plugin, msg })

const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/sha256-chain/', import.meta.url))
const plugin = { name: 'sha256-chain', version: '1.0.0' }
const KEY = 'sha256-chain@1.0.0'
const BUILD_TAG = 'galactic-test/sha256-chain-registry:1.0.0'

// Required in CI (like every Docker test); elsewhere skipped without Docker or without Debian's registry.
const unavailable = dockerTestsUnavailable() ?? registryUnavailable()
const skip = !dockerTestsRequired() && unavailable !== undefined
const title = skip
  ? `catalog images pulled from their registry (skipped: ${unavailable}; GALACTIC_DOCKER_TESTS=1 makes this fail instead)`
  : 'catalog images pulled from their registry'

async function imageId(docker: Docker, ref: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id
  } catch {
    return undefined
  }
}

/** Resolves the daemon's progress output; rejects on a stream error or an error line in it. */
function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<Array<{ error?: string; errorDetail?: { message?: string } }>> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
      if (err !== null) return reject(err)
      const failed = output.find((o) => o.error !== undefined || o.errorDetail !== undefined)
      if (failed !== undefined) return reject(new Error(failed.errorDetail?.message ?? failed.error ?? 'docker error'))
      resolve(output)
    })
  })
}

/**
 * The catalog's registry path end to end: the sha256-chain image is pushed to a local registry
 * (Debian's docker-registry on 127.0.0.1) and published with the real CLI under that registry
 * reference (its archive too); the image is removed from the daemon; an agent started with
 * `--catalog` pulls it from the registry, not from the oracle's archive, and runs a graph with it.
 */
describe.skipIf(skip)(title, () => {
  let dir: string
  let oracleDir: string
  let env: DockerForTests
  let registry: StartedRegistry | undefined
  let oracle: GalacticProcess<OracleReady> | undefined
  let agent: GalacticProcess<AgentReady> | undefined
  let client: GalacticClient | undefined
  let imageIdBuilt: string
  let ref: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-catalog-registry-e2e-'))
    oracleDir = join(dir, 'oracle')
    env = await dockerForTests()
    registry = await startRegistry(mkdtempSync(join(tmpdir(), 'galactic-registry-')))
    ref = `${registry.address}/galactic/sha256-chain:1.0.0`

    const base = await ensureNodeBaseImage(env.docker)
    const image = await buildPluginImage(env.docker, PLUGIN_DIR, BUILD_TAG, { base: base.tag })
    imageIdBuilt = image.id
    const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)]
    await env.docker.getImage(image.id).tag({ repo, tag })
    // No auth on this registry; the header is still sent (an empty auth config).
    await follow(env.docker, (await env.docker.getImage(ref).push({ authconfig: {} })) as NodeJS.ReadableStream)
    const tags = (await (await fetch(`http://${registry.address}/v2/galactic/sha256-chain/tags/list`)).json()) as { tags?: string[] }
    expect(tags.tags).toEqual(['1.0.0'])

    // Published with the registry reference, and the archive as well (the path this test must not take).
    const archive = join(dir, 'sha256-chain.tar')
    await saveImage(env.docker, ref, archive)
    const local = PluginManifest.parse(JSON.parse(readFileSync(join(PLUGIN_DIR, 'galactic-plugin.json'), 'utf8')))
    const manifestPath = join(dir, 'galactic-plugin.json')
    writeFileSync(manifestPath, JSON.stringify({ ...local, runtime: { type: 'docker', image: ref, digest: image.id } }))
    const published = await galactic('plugin', 'publish', '--data-dir', oracleDir, '--manifest', manifestPath, '--archive', archive, '--memory-mib', '256', '--json')
    expect(published.code, published.stderr + published.stdout).toBe(0)
    const entry = CatalogEntry.parse(JSON.parse(published.stdout))
    expect([entry.image.ref, entry.image.digest]).toEqual([ref, image.id])
    expect(entry.image.archive?.chunks.length).toBeGreaterThan(0)

    // Gone from the daemon (every tag): the agent must fetch it from somewhere.
    await env.docker.getImage(image.id).remove({ force: true })
    expect(await imageId(env.docker, image.id)).toBeUndefined()
    expect(await imageId(env.docker, ref)).toBeUndefined()

    oracle = await spawnOracle({ dataDir: oracleDir, wsPort: await freePort(), p2pPort: await freePort() })
    agent = await spawnAgent({
      oracle: oracle.ready.ws,
      name: 'registry-prover-1',
      dataDir: join(dir, 'registry-prover-1'),
      args: ['--catalog', '--docker-socket', env.socketPath, '--slots', '2'],
    })
    client = new GalacticClient({ url: oracle.ready.ws })
  }, 180_000)

  afterAll(async () => {
    client?.close()
    await Promise.all([agent?.stop(), oracle?.stop()])
    await registry?.stop()
    if (env !== undefined) {
      const left = agent === undefined ? [] : await env.docker.listContainers({ all: true, filters: { label: [`galactic.agent=${agent.ready.name}`] } })
      // Every tag this file made or pulled (the registry ref, the build tag): one image id.
      if (imageIdBuilt !== undefined) await env.docker.getImage(imageIdBuilt).remove({ force: true }).catch(() => {})
      await env.stop()
      expect(left).toEqual([])
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("the agent pulls the image from its registry, not from the oracle's archive, and runs a ZKM graph with it", async () => {
    const a = agent as GalacticProcess<AgentReady>
    const c = client as GalacticClient
    // Pulled: the daemon has it again, under the registry reference, with the pinned id.
    expect(await imageId(env.docker, ref)).toBe(imageIdBuilt)
    expect(logLines(a, KEY, 'image pulled from its registry'), a.logTail(50)).toEqual([expect.objectContaining({ ref, digest: imageIdBuilt })])
    expect(logLines(a, KEY, 'no registry pull; using the archive')).toEqual([])
    expect(logLines(a, KEY, 'image loaded from the oracle')).toEqual([])
    expect(logLines(a, KEY, 'catalog plugin offered')).toEqual([expect.objectContaining({ image: ref, digest: imageIdBuilt })])
    const provers = await c.provers()
    expect(provers.find((p) => p.proverId === 'registry-prover-1')?.device.plugins).toEqual([plugin])

    const seed = 'catalog-registry'
    const graph = buildZkmGraph({ requester: 'e2e', nonce: seed, segments: 2, plugin, params: { seed, segmentSteps: 5_000 } })
    const { graphId } = await c.submit(graph)
    const status = await c.wait(graphId)
    expect(status.state, JSON.stringify(status.ops.map((o) => [o.id, o.state, o.error]))).toBe('succeeded')
    const { outputs } = await c.result(graphId)
    expect(verifySnark(JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8')), seed, 2 * 5_000)).toBe(true)
  })
})
