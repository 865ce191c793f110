import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildZkmGraph, contentHash, type PluginManifest, type PluginParams, type PluginResult } from '@galactic/schemas'
import { verifySnark } from '../../plugins/sha256-chain/src/index.js'
import { dockerForTests, dockerTestsRequired, dockerTestsUnavailable, type DockerForTests } from '../../test/docker/index.js'
import { AGENT_LABEL, DockerPluginInstance, DockerRuntime, PLUGIN_LABEL, PluginHost, ProcessRuntime } from '../src/index.js'
import { pluginCompliance, scriptPlugin } from './compliance.js'
import { groth16ChainPlugin, sha256ChainPlugin } from './compliance-plugins.js'
import { TestImages, containerExists, dockerTarget } from './docker-target.js'
import { processTarget } from './process-target.js'
import { rejection } from '../../test/support/rejection.js'

/**
 * DockerRuntime against a real Docker daemon: GALACTIC_DOCKER_SOCKET's, or a private dockerd this
 * file starts (needs dockerd on PATH and root). With CI=true or GALACTIC_DOCKER_TESTS=1 these
 * tests must run (and fail without Docker); otherwise they are skipped, saying why, when this
 * machine has no Docker.
 */
const unavailable = dockerTestsUnavailable()
const skip = !dockerTestsRequired() && unavailable !== undefined
const title = skip ? `DockerRuntime (skipped: ${unavailable}; GALACTIC_DOCKER_TESTS=1 makes this fail instead)` : 'DockerRuntime'

type Output = PluginResult<'start'>['outputs'][number]
type Input = PluginParams<'start'>['inputs'][number]

function decode(output: Output | undefined): unknown {
  return JSON.parse(Buffer.from(output?.data ?? '', 'base64').toString('utf8'))
}

/** A plugin whose one op `work` does what its params say: report on its sandbox, eat memory, or echo. */
const SANDBOX_PROBE = scriptPlugin(
  'sandbox-probe',
  `const reply = (value) => send({ id: req.id, result: { outputs: [{ name: 'out', data: Buffer.from(JSON.stringify(value)).toString('base64') }] } })
  const what = req.params.params.what
  if (what === 'probe') {
    const fs = await import('node:fs'), os = await import('node:os')
    const canWrite = (path) => { try { fs.writeFileSync(path, 'x'); fs.rmSync(path); return true } catch (e) { return e.code } }
    return reply({ uid: process.getuid(), gid: process.getgid(), root: canWrite('/probe'), app: canWrite('/app/probe'), tmp: canWrite('/tmp/probe'),
      interfaces: Object.keys(os.networkInterfaces()) })
  }
  if (what === 'eat') { const hold = []; setInterval(() => { for (let i = 0; i < 16; i++) hold.push(Buffer.alloc(1 << 20, 1)) }, 5); return }
  reply({ echo: req.params.params })`,
).replace(`createInterface({ input: process.stdin }).on('line', (line) => {`, `createInterface({ input: process.stdin }).on('line', async (line) => {`)

const AGENT = 'docker-runtime-test'

describe.skipIf(skip)(title, () => {
  let env: DockerForTests
  let images: TestImages
  const t0 = performance.now()

  beforeAll(async () => {
    env = await dockerForTests()
    images = new TestImages(env.docker)
    await images.plugin(sha256ChainPlugin)
    console.info(`docker tests: daemon ready and images built in ${Math.round(performance.now() - t0)} ms`, Object.fromEntries(images.buildMs))
  }, 240_000)

  afterAll(async () => {
    if (env === undefined) return
    try {
      for (const agent of [AGENT, 'compliance-docker', 'stale-agent', 'other-agent']) {
        const left = await env.docker.listContainers({ all: true, filters: { label: [`${AGENT_LABEL}=${agent}`] } })
        expect(left.map((c) => c.Id)).toEqual([])
      }
    } finally {
      images?.close()
      console.info(`docker tests: ${Math.round(performance.now() - t0)} ms in all; builds`, Object.fromEntries(images?.buildMs ?? []))
      await env.stop()
    }
  }, 60_000)

  pluginCompliance('sha256-chain on the docker runtime', (options) => dockerTarget(() => images, 'compliance-docker', options), sha256ChainPlugin)
  // Real Groth16 proofs in the container: the image holds the plugin's circuits and keys (artifacts/:
  // without them, building it fails here, saying to run the plugin's setup).
  pluginCompliance('groth16-chain on the docker runtime', (options) => dockerTarget(() => images, 'compliance-docker', options), groth16ChainPlugin)

  describe('sandbox', () => {
    it('runs the container with no network, a read-only root, a tmpfs /tmp, nobody, no capabilities, limits from describe, and labels', async () => {
      const { manifest, dir } = await images.plugin(sha256ChainPlugin)
      const runtime = new DockerRuntime({ agentId: AGENT }, { docker: env.docker })
      const instance = await runtime.launch(manifest, dir)
      try {
        const info = await env.docker.getContainer(instance.containerId).inspect()
        expect(info.Config.User).toBe('65534:65534')
        expect(info.Config.Labels).toMatchObject({ [AGENT_LABEL]: AGENT, [PLUGIN_LABEL]: 'sha256-chain@1.0.0' })
        expect(info.Image).toBe(manifest.runtime.type === 'docker' ? manifest.runtime.digest : undefined)
        const host = info.HostConfig
        expect(host.NetworkMode).toBe('none')
        expect(host.ReadonlyRootfs).toBe(true)
        expect(host.CapDrop).toEqual(['ALL'])
        expect(host.SecurityOpt).toEqual(['no-new-privileges'])
        expect(Object.keys(host.Tmpfs ?? {})).toEqual(['/tmp'])
        // sha256-chain's describe asks for 1 core and 128 MiB.
        expect(host.Memory).toBe(128 * 1024 * 1024)
        expect(host.MemorySwap).toBe(128 * 1024 * 1024)
        expect(host.NanoCpus).toBe(1e9)
        expect(host.PidsLimit).toBe(256)
        expect(instance.resources).toEqual({ cpuCores: 1, memoryMiB: 128 })
      } finally {
        await instance.close()
      }
      expect(await containerExists(env.docker, instance.containerId)).toBe(false)
    })

    it('inside: runs as 65534, cannot write outside /tmp, sees only the loopback interface', async () => {
      const probe = await images.script('sandbox-probe', SANDBOX_PROBE)
      const runtime = new DockerRuntime({ agentId: AGENT }, { docker: env.docker })
      const instance = await runtime.launch(probe.manifest, probe.dir)
      try {
        await instance.init({})
        const { outputs } = await instance.start({ taskId: 'p', op: 'work', params: { what: 'probe' }, inputs: [] })
        expect(decode(outputs[0])).toEqual({ uid: 65534, gid: 65534, root: 'EROFS', app: 'EROFS', tmp: true, interfaces: ['lo'] })
      } finally {
        await instance.close()
      }
    })

    it('resources in the launch options win over describe', async () => {
      const probe = await images.script('sandbox-probe', SANDBOX_PROBE)
      const runtime = new DockerRuntime({ agentId: AGENT }, { docker: env.docker })
      const instance = await runtime.launch(probe.manifest, probe.dir, undefined, { resources: { cpuCores: 0.5, memoryMiB: 96 } })
      try {
        const { HostConfig } = await env.docker.getContainer(instance.containerId).inspect()
        expect(HostConfig.NanoCpus).toBe(5e8)
        expect(HostConfig.Memory).toBe(96 * 1024 * 1024)
      } finally {
        await instance.close()
      }
    })

    it('a plugin over its memory limit is killed: PLUGIN_FAILED saying out of memory, container removed', async () => {
      const probe = await images.script('sandbox-probe', SANDBOX_PROBE)
      const runtime = new DockerRuntime({ agentId: AGENT }, { docker: env.docker })
      const instance = await runtime.launch(probe.manifest, probe.dir, undefined, { resources: { memoryMiB: 64 } })
      await instance.init({})
      const err = await rejection(instance.start({ taskId: 'eat', op: 'work', params: { what: 'eat' }, inputs: [] }))
      expect(err.code).toBe('PLUGIN_FAILED')
      expect(err.details).toMatchObject({ oomKilled: true, exitCode: 137, containerId: instance.containerId })
      expect(err.message).toContain('out of memory')
      await instance.close()
      expect(await containerExists(env.docker, instance.containerId)).toBe(false)
    })
  })

  describe('manifests and images', () => {
    it('an image whose digest differs from the manifest is refused with PLUGIN_NOT_FOUND, and no container is made', async () => {
      const { manifest, dir } = await images.plugin(sha256ChainPlugin)
      if (manifest.runtime.type !== 'docker') throw new Error('expected a docker manifest')
      const wrong = `sha256:${'0'.repeat(64)}`
      const bad: PluginManifest = { ...manifest, runtime: { ...manifest.runtime, digest: wrong } }
      const runtime = new DockerRuntime({ agentId: 'other-agent' }, { docker: env.docker })
      const err = await rejection(runtime.launch(bad, dir))
      expect(err.code).toBe('PLUGIN_NOT_FOUND')
      expect(err.details).toMatchObject({ expectedDigest: wrong, imageId: manifest.runtime.digest })
      expect(await env.docker.listContainers({ all: true, filters: { label: [`${AGENT_LABEL}=other-agent`] } })).toEqual([])
    })

    it('a missing image -> PLUGIN_NOT_FOUND (never pulled); a manifest of the other runtime type -> INVALID_INPUT, both ways', async () => {
      const { manifest, dir } = await images.plugin(sha256ChainPlugin)
      const docker = new DockerRuntime({ agentId: 'other-agent' }, { docker: env.docker })
      const missing: PluginManifest = { ...manifest, runtime: { type: 'docker', image: 'galactic-test/no-such-image:1' } }
      expect((await rejection(docker.launch(missing, dir))).code).toBe('PLUGIN_NOT_FOUND')
      expect((await rejection(docker.launch(sha256ChainPlugin.manifest, sha256ChainPlugin.dir))).code).toBe('INVALID_INPUT')
      expect((await rejection(new ProcessRuntime().launch(manifest, dir))).code).toBe('INVALID_INPUT')
    })
  })

  it('cleanupStale removes the containers an earlier run of this agent left, and no others', async () => {
    const base = await images.base()
    const make = async (agent: string): Promise<string> => {
      const c = await env.docker.createContainer({
        Image: base.id,
        Cmd: ['/usr/local/bin/node', '-e', 'setInterval(() => {}, 1000)'],
        Labels: { [AGENT_LABEL]: agent, [PLUGIN_LABEL]: 'left@1.0.0' },
        HostConfig: { NetworkMode: 'none' },
      })
      await c.start()
      return c.id
    }
    const stale = [await make('stale-agent'), await make('stale-agent')]
    const other = await make('other-agent')
    const runtime = new DockerRuntime({ agentId: 'stale-agent' }, { docker: env.docker })
    // A container this runtime runs now is not stale.
    const { manifest, dir } = await images.plugin(sha256ChainPlugin)
    const live = await runtime.launch(manifest, dir)
    try {
      expect(await runtime.cleanupStale()).toBe(2)
      for (const id of stale) expect(await containerExists(env.docker, id)).toBe(false)
      expect(await containerExists(env.docker, other)).toBe(true)
      expect(await containerExists(env.docker, live.containerId)).toBe(true)
      await live.init({})
    } finally {
      await live.close()
      await env.docker.getContainer(other).remove({ force: true })
    }
  })

  describe('PluginHost with both runtimes', () => {
    /** Runs the ZKM graph of sha256-chain through the host, wave by wave. */
    async function runZkm(host: PluginHost, mode: 'efficiency' | 'performance', seed: string, segments: number, segmentSteps: number): Promise<unknown> {
      const ref = { name: 'sha256-chain', version: '1.0.0' }
      const graph = buildZkmGraph({ requester: 'test', nonce: `${mode}-${seed}`, segments, plugin: ref, params: { seed, segmentSteps } })
      const outputs = new Map<string, Output[]>()
      let remaining = graph.ops
      while (remaining.length > 0) {
        const ready = remaining.filter((op) => (op.inputs ?? []).every((id) => outputs.has(id)))
        expect(ready.length).toBeGreaterThan(0)
        await Promise.all(
          ready.map(async (op) => {
            const inputs: Input[] = (op.inputs ?? []).flatMap((id) =>
              (outputs.get(id) ?? []).map((o) => ({ opId: id, name: o.name, hash: contentHash(Buffer.from(o.data, 'base64')), data: o.data })),
            )
            const result = await host.run(ref, mode, { taskId: `${mode}/${op.id}`, op: op.name, params: op.params ?? {}, inputs })
            outputs.set(op.id, result.outputs)
          }),
        )
        remaining = remaining.filter((op) => !ready.includes(op))
      }
      return decode(outputs.get('snark')?.[0])
    }

    it('runs sha256-chain in containers (efficiency: one per task, performance: one resident) next to a process plugin', async () => {
      const sha = await images.plugin(sha256ChainPlugin)
      const docker = new DockerRuntime({ agentId: AGENT }, { docker: env.docker })
      const launched: DockerPluginInstance[] = []
      const recording = {
        kind: 'docker',
        launch: async (...args: Parameters<DockerRuntime['launch']>) => {
          const instance = await docker.launch(...args)
          launched.push(instance)
          return instance
        },
      }
      const scripts = processTarget({ maxMessageBytes: 1 << 20, closeGraceMs: 1000 })
      const echo = await scripts.prepareScript('sandbox-probe', SANDBOX_PROBE)
      const host = new PluginHost({ plugins: [sha, echo] }, { runtimes: { process: new ProcessRuntime(), docker: recording } })
      try {
        const eff = await runZkm(host, 'efficiency', 'docker eff', 2, 500)
        expect(verifySnark(eff, 'docker eff', 1000)).toBe(true)
        // split + 2 prove + 1 aggregate + snark, each in its own container, all removed.
        expect(launched).toHaveLength(5)
        expect(new Set(launched.map((i) => i.containerId)).size).toBe(5)
        for (const i of launched) expect(await containerExists(env.docker, i.containerId)).toBe(false)
        const perf = await runZkm(host, 'performance', 'docker perf', 3, 500)
        expect(verifySnark(perf, 'docker perf', 1500)).toBe(true)
        expect(launched).toHaveLength(6)
        const resident = launched[5] as DockerPluginInstance
        expect(await containerExists(env.docker, resident.containerId)).toBe(true)
        // verify through the host, on the resident container.
        const task = { op: 'split', params: { seed: 'v', segments: 1, segmentSteps: 10 }, inputs: [] }
        const { outputs } = await host.run(sha.manifest, 'performance', { taskId: 'v', ...task })
        expect(await host.verify(sha.manifest, 'performance', { ...task, outputs })).toEqual({ valid: true })
        // The process plugin runs as a process next to them.
        const echoed = await host.run(echo.manifest, 'efficiency', { taskId: 'e', op: 'work', params: { what: 'hi' }, inputs: [] })
        expect(decode(echoed.outputs[0])).toEqual({ echo: { what: 'hi' } })
        expect(launched).toHaveLength(6)
        await host.close()
        expect(await containerExists(env.docker, resident.containerId)).toBe(false)
      } finally {
        await host.close()
        await scripts.close?.()
      }
    })
  })
})
