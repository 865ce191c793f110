import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeyCache, type SplitOutput } from '@galactic/plugin-o1js-chain'
import { DockerRuntime, type DockerPluginInstance } from '@galactic/plugin-runtime'
import type { PluginManifest, PluginResult } from '@galactic/schemas'
import { flip, o1jsChainPlugin } from '../../plugins/o1js-chain/test/fixture.js'
import { TestImages, containerExists } from '../../plugin-runtime/test/docker-target.js'
import { dockerForTests, dockerTestsRequired, dockerTestsUnavailable, type DockerForTests } from '../docker/index.js'

type Output = PluginResult<'start'>['outputs'][number]

const unavailable = dockerTestsUnavailable()
const skip = !dockerTestsRequired() && unavailable !== undefined
const title = skip
  ? `o1js-chain as a Docker image (skipped: ${unavailable}; GALACTIC_DOCKER_TESTS=1 makes this fail instead)`
  : 'o1js-chain as a Docker image'

function decode<T>(output: Output | undefined): T {
  return JSON.parse(Buffer.from(output?.data ?? '', 'base64').toString('utf8')) as T
}


/**
 * o1js-chain's image (built here: dist, o1js with its native add-on, the 366 MB key cache; about
 * 620 MB) runs a real leaf proof and its verification in one sandboxed container. The narrowest
 * test that shows the image works: a whole graph in containers would cost minutes more (a leaf is
 * 10-25 s, a merge 30-50 s, and vfs copies the image for every container), and the process plugin
 * runs the whole pipeline in test/e2e/o1js.test.ts. Keys: `npm run setup -w @galactic/plugin-o1js-chain`.
 */
describe.skipIf(skip)(title, () => {
  let env: DockerForTests
  let images: TestImages
  let installed: { manifest: PluginManifest; dir: string }

  beforeAll(async () => {
    new KeyCache().check() // a clear error naming the setup command if the keys were not made
    env = await dockerForTests()
    images = new TestImages(env.docker)
    const t0 = performance.now()
    installed = await images.plugin(o1jsChainPlugin)
    const digest = installed.manifest.runtime.type === 'docker' ? installed.manifest.runtime.digest : undefined
    const { Size } = await env.docker.getImage(digest ?? '').inspect()
    console.info(`o1js-chain image: built in ${Math.round(performance.now() - t0)} ms, ${Math.round(Size / 1e6)} MB`)
  }, 300_000)

  afterAll(async () => {
    images?.close()
    await env?.stop()
  })

  it('a split, a real leaf proof and their verification run in the container, on the native backend', { timeout: 600_000 }, async () => {
    const logs: string[] = []
    const runtime = new DockerRuntime({ agentId: 'o1js-docker' }, { docker: env.docker, log: (line) => logs.push(line) })
    const ms: Record<string, number> = {}
    const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
      const t0 = performance.now()
      const result = await work()
      ms[what] = Math.round(performance.now() - t0)
      return result
    }
    const instance = (await timed('launch (describe container, then the instance)', () => runtime.launch(installed.manifest, installed.dir))) as DockerPluginInstance
    try {
      // The plugin's own resources: 2 cores, 3 GiB (a leaf peaks at 1.4 GB).
      const { HostConfig } = await env.docker.getContainer(instance.containerId).inspect()
      expect(HostConfig).toMatchObject({ NanoCpus: 2e9, Memory: 3072 * 1024 * 1024, ReadonlyRootfs: true, NetworkMode: 'none' })
      await instance.init({})

      const quick = { op: o1jsChainPlugin.quick.op, params: o1jsChainPlugin.quick.params, inputs: [] }
      const split = await timed('split', () => instance.start({ taskId: 'quick', ...quick }))
      expect(decode<SplitOutput>(split.outputs[0]).segments).toHaveLength(2)
      expect(await instance.verify({ ...quick, outputs: split.outputs })).toEqual({ valid: true })
      expect((await instance.verify({ ...quick, outputs: o1jsChainPlugin.tamper(split.outputs) })).valid).toBe(false)

      // The fixture's long task, run to its end: a leaf proof of segment 3 (prover process: compile from the cache, prove).
      const { op, params, inputs = [] } = o1jsChainPlugin.long
      const proved = await timed('prove (leaf)', () => instance.start({ taskId: 'leaf', op, params, inputs }))
      const proof = decode<{ kind: string; firstSegment: number; steps: number; proof: { proof: string } }>(proved.outputs[0])
      expect(proof).toMatchObject({ kind: 'proof', firstSegment: 3, steps: 16 })
      expect(await timed('verify (first in the process)', () => instance.verify({ op, params, inputs, outputs: proved.outputs }))).toEqual({ valid: true })
      const flipped = [{ name: 'proof', data: Buffer.from(JSON.stringify({ ...proof, proof: { ...proof.proof, proof: flip(proof.proof.proof) } })).toString('base64') }]
      const refused = await timed('verify (a later one)', () => instance.verify({ op, params, inputs, outputs: flipped }))
      expect(refused).toEqual({ valid: false, reason: expect.stringMatching(/does not verify/) })
      // The native add-on loaded in the image (the wasm backend would prove 3 times slower).
      expect(logs.some((line) => /prover process \d+ ready \(native backend/.test(line)), logs.join('\n')).toBe(true)
    } finally {
      await instance.close()
      console.info('o1js-chain in a container (ms):', ms)
    }
    expect(await containerExists(env.docker, instance.containerId)).toBe(false)
  })
})
