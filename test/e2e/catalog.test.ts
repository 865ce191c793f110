import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AgentReady, CLI, freePort, type GalacticProcess, logEntries, type OracleReady, runGalactic, spawnAgent, spawnOracle } from '@galactic/cli/processes'
import { buildPluginImage } from '@galactic/plugin-runtime'
import { verifySnark } from '@galactic/plugin-sha256-chain'
import { Catalog, CatalogEntry, PluginManifest } from '@galactic/schemas'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { dockerForTests, dockerTestsRequired, dockerTestsUnavailable, ensureNodeBaseImage, saveImage, type DockerForTests } from '../docker/index.js'

/** The galactic CLI as its own process. */
const galactic = (...args: string[]) => runGalactic(args)
const logLines = (agent: GalacticProcess<AgentReady>, plugin: string, msg: string) => logEntries(agent, { plugin, msg })

const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/sha256-chain/', import.meta.url))
const plugin = { name: 'sha256-chain', version: '1.0.0' }

const unavailable = dockerTestsUnavailable()
const skip = !dockerTestsRequired() && unavailable !== undefined
const title = skip
  ? `plugins installed from the oracle's catalog (skipped: ${unavailable}; GALACTIC_DOCKER_TESTS=1 makes this fail instead)`
  : "plugins installed from the oracle's catalog"

async function imageExists(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect()
    return true
  } catch {
    return false
  }
}

/** A tiny image made from one file (it runs nothing): enough for catalog entries that must be refused. */
async function tinyImage(docker: Docker, dir: string, tag: string, content: string): Promise<string> {
  const root = join(dir, `rootfs-${tag.replace(/[^a-z0-9]/g, '-')}`)
  mkdirSync(root, { recursive: true })
  writeFileSync(join(root, 'hello.txt'), content)
  const tar = `${root}.tar`
  execFileSync('tar', ['-C', root, '-cf', tar, '.'])
  const [repo, version] = tag.split(':') as [string, string]
  const stream = await docker.importImage(tar, { repo, tag: version })
  await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err) => (err === null ? resolve(undefined) : reject(err))))
  return (await docker.getImage(tag).inspect()).Id
}

/**
 * The plugin catalog end to end: an operator publishes the sha256-chain image (a `docker save`
 * archive) with the real CLI; the image is removed from the daemon; agents started with `--catalog`
 * and no `--plugins` fetch it from the oracle, load it and run a graph with it. Archives that fail
 * their checks are refused: at publish (wrong digest), and at the agent (a tampered blob, an image
 * whose id is not the catalog's digest).
 */
describe.skipIf(skip)(title, () => {
  let dir: string
  let oracleDir: string
  let env: DockerForTests
  let oracle: GalacticProcess<OracleReady>
  let agents: Array<GalacticProcess<AgentReady>> = []
  let client: GalacticClient
  let imageId: string
  let archive: string
  let manifestPath: string
  const AGENT_NAMES = ['catalog-prover-1', 'catalog-prover-2']

  const startAgent = (name: string): Promise<GalacticProcess<AgentReady>> =>
    spawnAgent({ oracle: oracle.ready.ws, name, dataDir: join(dir, name), args: ['--catalog', '--docker-socket', env.socketPath, '--slots', '2'] })

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-catalog-e2e-'))
    oracleDir = join(dir, 'oracle')
    env = await dockerForTests()
    const base = await ensureNodeBaseImage(env.docker)
    const image = await buildPluginImage(env.docker, PLUGIN_DIR, 'galactic-test/sha256-chain-catalog:1.0.0', { base: base.tag })
    imageId = image.id
    archive = join(dir, 'sha256-chain.tar')
    await saveImage(env.docker, image.tag, archive)
    const local = PluginManifest.parse(JSON.parse(readFileSync(join(PLUGIN_DIR, 'galactic-plugin.json'), 'utf8')))
    manifestPath = join(dir, 'galactic-plugin.json')
    writeFileSync(manifestPath, JSON.stringify({ ...local, runtime: { type: 'docker', image: image.tag, digest: image.id } }))

    // Published before the oracle runs, with the real CLI.
    const published = await galactic('plugin', 'publish', '--data-dir', oracleDir, '--manifest', manifestPath, '--archive', archive, '--memory-mib', '256', '--json')
    expect(published.code, published.stderr + published.stdout).toBe(0)
    expect(CatalogEntry.parse(JSON.parse(published.stdout)).image.digest).toBe(image.id)

    // The agents must get the image from the oracle: the daemon no longer has it.
    await env.docker.getImage(image.id).remove({ force: true })
    expect(await imageExists(env.docker, image.id)).toBe(false)

    oracle = await spawnOracle({ dataDir: oracleDir, wsPort: await freePort(), p2pPort: await freePort() })
    agents = await Promise.all(AGENT_NAMES.map(startAgent))
    client = new GalacticClient({ url: oracle.ready.ws })
  }, 300_000)

  afterAll(async () => {
    client?.close()
    await Promise.all([...agents.map((a) => a.stop()), oracle?.stop()])
    if (env !== undefined) {
      const left = await env.docker.listContainers({ all: true, filters: { label: agents.map((a) => `galactic.agent=${a.ready.name}`) } })
      await env.stop()
      expect(left).toEqual([])
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('lists what was published', async () => {
    const listed = await galactic('plugin', 'list', '--data-dir', oracleDir, '--json')
    expect(listed.code, listed.stderr).toBe(0)
    const catalog = Catalog.parse(JSON.parse(listed.stdout))
    expect(catalog.plugins.map((p) => [p.name, p.version, p.image.digest, p.resources.memoryMiB])).toEqual([['sha256-chain', '1.0.0', imageId, 256]])
    // 100+ MiB of image: more than one blob-sized chunk.
    expect(catalog.plugins[0]?.image.archive?.chunks.length).toBeGreaterThan(1)
  })

  it('agents with --catalog load the image from the oracle and run a ZKM graph with it, in both plugin modes', async () => {
    expect(await imageExists(env.docker, imageId)).toBe(true)
    const provers = await client.provers()
    for (const name of AGENT_NAMES) {
      expect(provers.find((p) => p.proverId === name)?.device.plugins).toEqual([plugin])
    }
    // At least one agent loaded it from the oracle's archive (the other may have found it loaded already).
    const loaded = agents.flatMap((a) => logLines(a, 'sha256-chain@1.0.0', 'image loaded from the oracle'))
    expect(loaded.length).toBeGreaterThan(0)
    expect(loaded[0]).toMatchObject({ digest: imageId })
    // Both plugin modes: a fresh container per task, and one resident container per agent.
    for (const pluginMode of ['efficiency', 'performance'] as const) {
      const seed = `catalog-${pluginMode}`
      const graph = buildZkmGraph({ requester: 'e2e', nonce: `catalog-${pluginMode}`, segments: 4, plugin, params: { seed, segmentSteps: 5_000 }, pluginMode })
      const { graphId } = await client.submit(graph)
      const status = await client.wait(graphId)
      expect(status.state, JSON.stringify(status.ops.map((o) => [o.id, o.state, o.error]))).toBe('succeeded')
      expect(new Set(status.ops.flatMap((o) => o.deviceIds ?? [])).size).toBeGreaterThan(0)
      const { outputs } = await client.result(graphId)
      expect(verifySnark(JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8')), seed, 4 * 5_000)).toBe(true)
    }
  })

  it('refuses at publish an archive whose image is not the manifest digest', async () => {
    const wrong = join(dir, 'wrong-digest.json')
    const other = `sha256:${'ab'.repeat(32)}`
    const local = PluginManifest.parse(JSON.parse(readFileSync(manifestPath, 'utf8')))
    writeFileSync(wrong, JSON.stringify({ ...local, version: '1.0.1', runtime: { type: 'docker', image: 'galactic-test/x:1', digest: other } }))
    const before = readFileSync(join(oracleDir, 'catalog.json'), 'utf8')
    const refused = await galactic('plugin', 'publish', '--data-dir', oracleDir, '--manifest', wrong, '--archive', archive, '--json')
    expect(refused.code).toBe(1)
    const error = (JSON.parse(refused.stdout) as { error: { code: string; details: { problem: string; expected: string; found: string[] } } }).error
    expect(error.code).toBe('INVALID_INPUT')
    expect(error.details).toMatchObject({ problem: 'digest-mismatch', expected: other, found: [imageId] })
    expect(readFileSync(join(oracleDir, 'catalog.json'), 'utf8')).toBe(before)
  })

  it('a new agent does not offer a plugin whose archive was tampered with, nor one whose image is not its digest', async () => {
    // Two tiny images, published while the oracle runs (it re-reads catalog.json), then removed from the daemon.
    const tamperedId = await tinyImage(env.docker, dir, 'galactic-test/tampered:1.0.0', 'tampered')
    const mismatchId = await tinyImage(env.docker, dir, 'galactic-test/mismatch:1.0.0', 'mismatch')
    const entries: Record<string, CatalogEntry> = {}
    for (const [name, tag, id] of [['tampered', 'galactic-test/tampered:1.0.0', tamperedId], ['mismatch', 'galactic-test/mismatch:1.0.0', mismatchId]] as const) {
      const file = join(dir, `${name}.tar`)
      await saveImage(env.docker, tag, file)
      const manifest = join(dir, `${name}.json`)
      writeFileSync(manifest, JSON.stringify({ name, version: '1.0.0', ops: ['noop'], runtime: { type: 'docker', image: tag, digest: id } }))
      const published = await galactic('plugin', 'publish', '--data-dir', oracleDir, '--manifest', manifest, '--archive', file, '--json')
      expect(published.code, published.stdout + published.stderr).toBe(0)
      entries[name] = CatalogEntry.parse(JSON.parse(published.stdout))
      await env.docker.getImage(id).remove({ force: true })
    }
    // Corrupt the tampered archive in the oracle's blob store; say the other one is an image it is not.
    const chunk = entries['tampered']!.image.archive!.chunks[0]!
    const blob = join(oracleDir, 'blobs', chunk.hash.slice('sha256:'.length))
    const bytes = readFileSync(blob)
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
    writeFileSync(blob, bytes)
    const catalogPath = join(oracleDir, 'catalog.json')
    const catalog = Catalog.parse(JSON.parse(readFileSync(catalogPath, 'utf8')))
    const claimed = `sha256:${'cd'.repeat(32)}`
    for (const p of catalog.plugins) if (p.name === 'mismatch') p.image.digest = claimed
    writeFileSync(catalogPath, JSON.stringify(catalog))

    const agent = await startAgent('catalog-prover-3')
    agents.push(agent)
    const provers = await client.provers()
    expect(provers.find((p) => p.proverId === 'catalog-prover-3')?.device.plugins).toEqual([plugin])
    // The image that was not its digest was loaded, then removed again.
    expect(await imageExists(env.docker, mismatchId)).toBe(false)
    expect(await imageExists(env.docker, tamperedId)).toBe(false)
    // Why: the tampered chunk failed its hash check at fetch; the other image was not its digest.
    expect(logLines(agent, 'tampered@1.0.0', 'catalog plugin not offered')).toEqual([expect.objectContaining({ code: 'PROTOCOL_ERROR' })])
    expect(logLines(agent, 'mismatch@1.0.0', 'catalog plugin not offered')).toEqual([
      expect.objectContaining({ code: 'PLUGIN_NOT_FOUND', expectedDigest: claimed, loadedDigests: [mismatchId], removed: [mismatchId] }),
    ])
  })
})
