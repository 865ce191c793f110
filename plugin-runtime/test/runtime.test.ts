import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  GalacticError,
  buildZkmGraph,
  contentHash,
  type PluginManifest,
  type PluginMode,
  type PluginParams,
  type PluginRef,
  type PluginResult,
} from '@galactic/schemas'
import { verifySnark } from '../../plugins/sha256-chain/src/index.js'
import {
  PluginHost,
  ProcessRuntime,
  loadPluginManifest,
  loadPluginPackage,
  type PluginLaunchOptions,
  type PluginRuntime,
  type ProcessPluginInstance,
} from '../src/index.js'
import { rejection } from '../../test/support/rejection.js'

const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/sha256-chain/', import.meta.url))
const MANIFEST_PATH = join(PLUGIN_DIR, 'galactic-plugin.json')
const REF: PluginRef = { name: 'sha256-chain', version: '1.0.0' }

type Output = PluginResult<'start'>['outputs'][number]
type Input = PluginParams<'start'>['inputs'][number]

/** A ProcessRuntime that remembers every instance it launched (and the launch options). */
class RecordingRuntime implements PluginRuntime {
  readonly kind = 'process'
  readonly instances: ProcessPluginInstance[] = []
  readonly options: Array<PluginLaunchOptions | undefined> = []
  readonly inner: ProcessRuntime
  readonly stderr: string[] = []
  constructor(closeGraceMs = 2000) {
    this.inner = new ProcessRuntime({ closeGraceMs }, { log: (line) => this.stderr.push(line) })
  }
  async launch(manifest: PluginManifest, dir: string, signal?: AbortSignal, options?: PluginLaunchOptions): Promise<ProcessPluginInstance> {
    this.options.push(options)
    const instance = await this.inner.launch(manifest, dir, signal, options)
    this.instances.push(instance)
    return instance
  }
  pids(): number[] {
    return this.instances.map((i) => i.pid ?? -1)
  }
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function asInput(opId: string, output: Output): Input {
  return { opId, name: output.name, hash: contentHash(Buffer.from(output.data, 'base64')), data: output.data }
}

function decode(output: Output | undefined): unknown {
  return JSON.parse(Buffer.from(output?.data ?? '', 'base64').toString('utf8'))
}

/** Runs the ZKM graph for the sha256-chain plugin through the host, op by op, each wave concurrently. */
async function runZkm(host: PluginHost, mode: PluginMode, seed: string, segments: number, segmentSteps: number): Promise<unknown> {
  const graph = buildZkmGraph({ requester: 'test', nonce: mode, segments, plugin: REF, params: { seed, segmentSteps } })
  const outputs = new Map<string, Output[]>()
  let remaining = graph.ops
  while (remaining.length > 0) {
    const ready = remaining.filter((op) => (op.inputs ?? []).every((id) => outputs.has(id)))
    expect(ready.length).toBeGreaterThan(0)
    await Promise.all(
      ready.map(async (op) => {
        const inputs = (op.inputs ?? []).flatMap((id) => (outputs.get(id) ?? []).map((o) => asInput(id, o)))
        const result = await host.run(REF, mode, { taskId: `${mode}/${op.id}`, op: op.name, params: op.params ?? {}, inputs })
        outputs.set(op.id, result.outputs)
      }),
    )
    remaining = remaining.filter((op) => !ready.includes(op))
  }
  return decode(outputs.get('snark')?.[0])
}

let tmp = ''

/** Writes a throwaway plugin (`main.mjs` + manifest) that answers init and stop, and runs `onStart` for a start request `req`. */
function fakePlugin(name: string, onStart: string): { manifest: PluginManifest; dir: string } {
  const dir = join(tmp, name)
  mkdirSync(dir, { recursive: true })
  const manifest: PluginManifest = { name, version: '0.0.1', ops: ['work'], runtime: { type: 'process', command: ['node', 'main.mjs'] } }
  writeFileSync(join(dir, 'galactic-plugin.json'), JSON.stringify(manifest))
  writeFileSync(
    join(dir, 'main.mjs'),
    `import { createInterface } from 'node:readline'
const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...m }) + '\\n')
createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line)
  if (req.method === 'init') return send({ id: req.id, result: { name: ${JSON.stringify(name)}, version: '0.0.1', ops: ['work'] } })
  if (req.method === 'stop') { send({ id: req.id, result: {} }); if (!req.params.taskId) process.exit(0); return }
  ${onStart}
})
`,
  )
  return loadPluginManifest(join(dir, 'galactic-plugin.json'))
}

const WORK: PluginParams<'start'> = { taskId: 't1', op: 'work', params: {}, inputs: [] }

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'galactic-runtime-test-'))
})
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

describe('ProcessRuntime with the sha256-chain plugin', () => {
  it('launches it, init answers the manifest name and version, close ends the process', async () => {
    const { manifest, dir } = loadPluginManifest(MANIFEST_PATH)
    const runtime = new RecordingRuntime()
    const instance = await runtime.launch(manifest, dir)
    expect(alive(instance.pid)).toBe(true)
    expect(instance.closed).toBe(false)
    const info = await instance.init({})
    expect(info).toEqual({ name: manifest.name, version: manifest.version, ops: manifest.ops })
    const split = await instance.start({ taskId: 's', op: 'split', params: { seed: 'q', segments: 2, segmentSteps: 10 }, inputs: [] })
    expect(split.outputs.map((o) => o.name)).toEqual(['segments'])
    const bad = await rejection(instance.start({ taskId: 'b', op: 'split', params: { seed: 'q', segments: 2 }, inputs: [] }))
    expect(bad.code).toBe('TASK_INVALID')
    expect(bad.issues.map((i) => i.path)).toEqual(['segmentSteps'])
    await instance.close()
    expect(instance.closed).toBe(true)
    expect(alive(instance.pid)).toBe(false)
    await instance.close() // idempotent
    expect((await rejection(instance.start({ ...WORK, op: 'split' }))).code).toBe('TASK_CANCELLED')
  })

  it('abort of a long task sends stop, rejects TASK_CANCELLED quickly, and the plugin keeps serving', async () => {
    const { manifest, dir } = loadPluginManifest(MANIFEST_PATH)
    // A kill grace longer than the test's timeout: close() can only finish through stop{}.
    const instance = await new RecordingRuntime(120_000).launch(manifest, dir)
    await instance.init({})
    const controller = new AbortController()
    const long = instance.start({ taskId: 'long', op: 'split', params: { seed: 'x', segments: 4096, segmentSteps: 10_000_000 }, inputs: [] }, controller.signal)
    await new Promise((resolve) => setTimeout(resolve, 200))
    controller.abort()
    expect((await rejection(long)).code).toBe('TASK_CANCELLED')
    // The same process still answers, so the stop reached the task rather than killing the plugin.
    const quick = await instance.start({ taskId: 'quick', op: 'split', params: { seed: 'x', segments: 1, segmentSteps: 5 }, inputs: [] })
    expect(quick.outputs).toHaveLength(1)
    await instance.close()
    expect(alive(instance.pid)).toBe(false)
  })

  it('a command that cannot start -> PLUGIN_FAILED', async () => {
    const manifest: PluginManifest = { name: 'missing', version: '1.0.0', ops: ['x'], runtime: { type: 'process', command: ['./no-such-binary'] } }
    const err = await rejection(new ProcessRuntime().launch(manifest, tmp))
    expect(err.code).toBe('PLUGIN_FAILED')
  })
})

describe('PluginHost with the sha256-chain plugin', () => {
  it('runs split -> prove -> aggregate -> snark in performance mode on one resident process', async () => {
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime })
    try {
      const snark = await runZkm(host, 'performance', 'perf seed', 5, 2000)
      expect(verifySnark(snark, 'perf seed', 10_000)).toBe(true)
      expect(runtime.instances).toHaveLength(1)
      expect(host.launches).toBe(1)
      const pid = runtime.instances[0]?.pid
      expect(alive(pid)).toBe(true)
      // Another graph reuses the same process.
      const again = await runZkm(host, 'performance', 'second', 2, 100)
      expect(verifySnark(again, 'second', 200)).toBe(true)
      expect(runtime.pids()).toEqual([pid])
      await host.close()
      expect(alive(pid)).toBe(false)
      expect((await rejection(host.run(REF, 'performance', { ...WORK, op: 'split' }))).code).toBe('TASK_CANCELLED')
    } finally {
      await host.close()
    }
  })

  it('runs the same graph in efficiency mode with one fresh process per task', async () => {
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime })
    try {
      const snark = await runZkm(host, 'efficiency', 'eff seed', 3, 1000)
      expect(verifySnark(snark, 'eff seed', 3000)).toBe(true)
      // split + 3 prove + 2 aggregate + snark
      expect(runtime.instances).toHaveLength(7)
      expect(new Set(runtime.pids()).size).toBe(7)
      for (const instance of runtime.instances) {
        expect(instance.closed).toBe(true)
        expect(alive(instance.pid)).toBe(false)
      }
    } finally {
      await host.close()
    }
  })

  it('relaunches a resident instance that died', async () => {
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime })
    try {
      const split = { taskId: 'a', op: 'split', params: { seed: 'r', segments: 1, segmentSteps: 10 }, inputs: [] }
      await host.run(REF, 'performance', split)
      const first = runtime.instances[0]
      process.kill(first?.pid ?? 0, 'SIGKILL')
      await first?.exited
      expect(first?.closed).toBe(true)
      const result = await host.run(REF, 'performance', { ...split, taskId: 'b' })
      expect(result.outputs).toHaveLength(1)
      expect(runtime.instances).toHaveLength(2)
      expect(runtime.instances[1]?.pid).not.toBe(first?.pid)
    } finally {
      await host.close()
    }
    expect(runtime.instances.every((i) => !alive(i.pid))).toBe(true)
  })

  it.each(['performance', 'efficiency'] as const)('%s: abort of a long task -> TASK_CANCELLED quickly; no process left after close', async (mode) => {
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime })
    const controller = new AbortController()
    const run = host.run(REF, mode, { taskId: 'long', op: 'split', params: { seed: 'x', segments: 4096, segmentSteps: 10_000_000 }, inputs: [] }, controller.signal)
    await new Promise((resolve) => setTimeout(resolve, 400))
    controller.abort()
    // A 40-billion-step split cannot finish within the test's timeout: only the cancellation ends it.
    expect((await rejection(run)).code).toBe('TASK_CANCELLED')
    expect(runtime.instances).toHaveLength(1)
    await host.close()
    expect(alive(runtime.instances[0]?.pid)).toBe(false)
  })

  it('closing the host cancels running tasks', async () => {
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime: new RecordingRuntime() })
    const run = rejection(host.run(REF, 'performance', { taskId: 'long', op: 'split', params: { seed: 'x', segments: 4096, segmentSteps: 10_000_000 }, inputs: [] }))
    await new Promise((resolve) => setTimeout(resolve, 300))
    await host.close()
    expect((await run).code).toBe('TASK_CANCELLED')
  })

  it('unknown plugin -> PLUGIN_NOT_FOUND; op not in the manifest -> TASK_INVALID; bad params -> TASK_INVALID from the plugin', async () => {
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime })
    try {
      expect(host.offered()).toEqual([REF])
      expect((await rejection(host.run({ name: 'sha256-chain', version: '9.9.9' }, 'performance', WORK))).code).toBe('PLUGIN_NOT_FOUND')
      expect((await rejection(host.run({ name: 'nope', version: '1.0.0' }, 'efficiency', WORK))).code).toBe('PLUGIN_NOT_FOUND')
      expect((await rejection(host.run(REF, 'efficiency', { ...WORK, op: 'verify' }))).code).toBe('TASK_INVALID')
      expect(runtime.instances).toHaveLength(0)
      const err = await rejection(host.run(REF, 'efficiency', { ...WORK, op: 'split', params: { seed: 'a', segments: 0, segmentSteps: 1 } }))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.issues.map((i) => i.path)).toEqual(['segments'])
    } finally {
      await host.close()
    }
  })

  it('verify through the host: valid for real outputs, invalid for tampered ones, in both modes', async () => {
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime: new RecordingRuntime() })
    try {
      const task = { op: 'split', params: { seed: 'v', segments: 2, segmentSteps: 50 }, inputs: [] }
      const { outputs } = await host.run(REF, 'performance', { taskId: 'v', ...task })
      const split = decode(outputs[0]) as { end: string }
      const forged = [{ name: 'segments', data: Buffer.from(JSON.stringify({ ...split, end: '0'.repeat(64) })).toString('base64') }]
      for (const mode of ['performance', 'efficiency'] as const) {
        expect(await host.verify(REF, mode, { ...task, outputs })).toEqual({ valid: true })
        const bad = await host.verify(REF, mode, { ...task, outputs: forged })
        expect(bad.valid).toBe(false)
        expect(bad.reason).toContain('end')
      }
      expect((await rejection(host.verify(REF, 'performance', { ...task, op: 'nope', outputs }))).code).toBe('TASK_INVALID')
    } finally {
      await host.close()
    }
  })

  it('passes launch options (task resources) to the runtime in efficiency mode only', async () => {
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [loadPluginManifest(MANIFEST_PATH)] }, { runtime })
    try {
      const split = { taskId: 'a', op: 'split', params: { seed: 'r', segments: 1, segmentSteps: 10 }, inputs: [] }
      await host.run(REF, 'efficiency', split, undefined, { resources: { memoryMiB: 256, cpuCores: 2 } })
      await host.run(REF, 'performance', split, undefined, { resources: { memoryMiB: 512 } })
      expect(runtime.options).toEqual([{ resources: { memoryMiB: 256, cpuCores: 2 } }, undefined])
    } finally {
      await host.close()
    }
  })

  it('picks the runtime by manifest type; a plugin whose type has no runtime is refused (INVALID_INPUT)', async () => {
    const plugin = loadPluginManifest(MANIFEST_PATH)
    const dockerManifest: PluginManifest = { ...plugin.manifest, name: 'in-docker', runtime: { type: 'docker', image: 'galactic/none:1' } }
    const dockerPlugin = { manifest: dockerManifest, dir: plugin.dir }
    expect(() => new PluginHost({ plugins: [plugin, dockerPlugin] }, { runtimes: { process: new ProcessRuntime() } })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('docker runtime') }),
    )
    expect(() => new PluginHost({ plugins: [plugin] }, {})).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
    // A docker plugin given to a host whose only runtime is a process one: launch refuses it.
    const single = new PluginHost({ plugins: [dockerPlugin] }, { runtime: new ProcessRuntime() })
    try {
      expect((await rejection(single.run(dockerManifest, 'efficiency', { ...WORK, op: 'split' }))).code).toBe('INVALID_INPUT')
    } finally {
      await single.close()
    }
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [plugin] }, { runtimes: { process: runtime } })
    try {
      const result = await host.run(REF, 'efficiency', { taskId: 'a', op: 'split', params: { seed: 'r', segments: 1, segmentSteps: 10 }, inputs: [] })
      expect(result.outputs).toHaveLength(1)
      expect(runtime.instances).toHaveLength(1)
    } finally {
      await host.close()
    }
  })

  it('refuses the same plugin twice', () => {
    const plugin = loadPluginManifest(MANIFEST_PATH)
    expect(() => new PluginHost({ plugins: [plugin, plugin] }, { runtime: new RecordingRuntime() })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
  })
})

describe('misbehaving plugins', () => {
  it('a plugin that exits 3 on start -> PLUGIN_FAILED with the exit code and its last stderr lines', async () => {
    const plugin = fakePlugin('crasher', `process.stderr.write('about to crash\\n'); process.exit(3)`)
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [plugin] }, { runtime })
    try {
      for (const mode of ['efficiency', 'performance'] as const) {
        const err = await rejection(host.run(plugin.manifest, mode, WORK))
        expect(err.code).toBe('PLUGIN_FAILED')
        expect(err.details?.['exitCode']).toBe(3)
        expect(err.message).toContain('code 3')
        expect(err.details?.['stderr']).toEqual(['about to crash'])
      }
      expect(runtime.stderr.some((line) => line.includes('crasher@0.0.1') && line.endsWith('about to crash'))).toBe(true)
    } finally {
      await host.close()
    }
  })

  it('a plugin writing garbage to stdout -> PLUGIN_FAILED, and it is killed', async () => {
    const plugin = fakePlugin('garbage', `process.stdout.write('hello, this is not JSON\\n')`)
    const runtime = new RecordingRuntime()
    const host = new PluginHost({ plugins: [plugin] }, { runtime })
    try {
      const err = await rejection(host.run(plugin.manifest, 'performance', WORK))
      expect(err.code).toBe('PLUGIN_FAILED')
      expect(err.message).toContain('not JSON')
      await runtime.instances[0]?.exited
      expect(alive(runtime.instances[0]?.pid)).toBe(false)
    } finally {
      await host.close()
    }
  })

  it('a reply that fails its schema -> PLUGIN_FAILED', async () => {
    const plugin = fakePlugin('badresult', `send({ id: req.id, result: { outputs: 'nope' } })`)
    const host = new PluginHost({ plugins: [plugin] }, { runtime: new RecordingRuntime() })
    try {
      const err = await rejection(host.run(plugin.manifest, 'efficiency', WORK))
      expect(err.code).toBe('PLUGIN_FAILED')
      expect(err.issues[0]?.path).toBe('result.outputs')
    } finally {
      await host.close()
    }
  })

  it('an error result other than TASK_INVALID/TASK_CANCELLED -> PLUGIN_FAILED carrying it', async () => {
    const plugin = fakePlugin('erring', `send({ id: req.id, error: { code: 'INTERNAL', message: 'out of memory' } })`)
    const host = new PluginHost({ plugins: [plugin] }, { runtime: new RecordingRuntime() })
    try {
      const err = await rejection(host.run(plugin.manifest, 'efficiency', WORK))
      expect(err.code).toBe('PLUGIN_FAILED')
      expect(err.details?.['pluginError']).toEqual({ code: 'INTERNAL', message: 'out of memory' })
    } finally {
      await host.close()
    }
  })

  it('a plugin that ignores stop and stdin is killed after the grace period', async () => {
    const plugin = fakePlugin('stubborn', `/* never answers */`)
    writeFileSync(
      join(plugin.dir, 'main.mjs'),
      `process.on('SIGTERM', () => {}); process.stdin.on('data', () => {}); process.stdin.on('end', () => {}); setInterval(() => {}, 1000)\n`,
    )
    const runtime = new RecordingRuntime(300)
    const instance = await runtime.launch(plugin.manifest, plugin.dir)
    // describe needs no init: a call the plugin never answers.
    const pending = instance.describe()
    const t0 = performance.now()
    await instance.close()
    const took = performance.now() - t0
    expect(took).toBeGreaterThanOrEqual(250) // it waited the grace period before killing
    expect(alive(instance.pid)).toBe(false)
    expect((await rejection(pending)).code).toBe('TASK_CANCELLED')
  })
})

describe('manifests', () => {
  it('loads the sha256-chain manifest, directly and through its package.json', () => {
    const direct = loadPluginManifest(MANIFEST_PATH)
    expect(direct.manifest).toMatchObject({ name: 'sha256-chain', version: '1.0.0', ops: ['split', 'prove', 'aggregate', 'snark'] })
    expect(direct.dir).toBe(PLUGIN_DIR.replace(/\/$/, ''))
    expect(loadPluginPackage(PLUGIN_DIR)).toEqual(direct)
  })

  it('errors name the file and the field', () => {
    const file = join(tmp, 'bad-manifest.json')
    writeFileSync(file, JSON.stringify({ name: 'Bad Name', version: '1.0.0', ops: ['x'], runtime: { type: 'process', command: ['x'] } }))
    const err = (() => {
      try {
        loadPluginManifest(file)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(err).toBeInstanceOf(GalacticError)
    expect((err as GalacticError).code).toBe('INVALID_INPUT')
    expect((err as GalacticError).message).toContain(file)
    expect((err as GalacticError).issues.map((i) => i.path)).toEqual(['name'])
    writeFileSync(file, '{ not json')
    expect(() => loadPluginManifest(file)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(file) }))
    const missing = join(tmp, 'missing.json')
    expect(() => loadPluginManifest(missing)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(missing) }))
  })
})
