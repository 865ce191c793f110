import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  PLUGIN_PROTOCOL_VERSION,
  type PluginManifest,
  type PluginParams,
  type PluginResult,
} from '@galactic/schemas'
import { PluginHost, type JsonValue, type PluginInstance, type PluginLaunchOptions, type PluginRuntime } from '../src/index.js'
import { rejection } from '../../test/support/rejection.js'

/**
 * The plugin compliance suite: what every plugin runtime and every plugin must do, as vitest
 * tests. Run it once per (runtime, plugin) pair:
 *
 *   pluginCompliance('sha256-chain on process', processTarget, sha256ChainPlugin)
 *
 * A runtime brings a {@link ComplianceTarget} factory (how to package a plugin for it, crash an
 * instance, and tell whether an instance is gone); a plugin brings a {@link CompliancePlugin}
 * fixture (a quick task, a long one, one with a large output, and how to tamper with outputs).
 * See docs/plugin-protocol.md, "Compliance suite".
 */

/** A task of the fixture plugin, without its task id. */
export interface ComplianceTask {
  op: string
  params: JsonValue
  inputs?: PluginParams<'start'>['inputs']
}

type Outputs = PluginResult<'start'>['outputs']

/** What the suite needs to know about a plugin. */
export interface CompliancePlugin {
  /** The plugin's process manifest and its folder (as `loadPluginManifest` returns them). */
  manifest: PluginManifest
  dir: string
  /** A task that succeeds within a second, with at least one output. */
  quick: ComplianceTask
  /**
   * A task still running when the suite stops or crashes it (300 ms after its instance launched,
   * init included): a minute or more where the plugin has such a task, seconds at the least.
   */
  long: ComplianceTask
  /** A task that succeeds with a reply line over the line limit ({@link CompliancePlugin.maxMessageBytes}). */
  large: ComplianceTask
  /** Returns `quick`'s outputs changed so that `verify` must answer `valid: false`. */
  tamper: (outputs: Outputs) => Outputs
  /**
   * The line limit the runtime runs this plugin with: every request of the suite must be under
   * it, `large`'s reply over it. @default {@link COMPLIANCE_MAX_MESSAGE_BYTES}
   */
  maxMessageBytes?: number
}

/** Options the suite asks a runtime for. */
export interface ComplianceRuntimeOptions {
  /** Longest protocol line: small, so that `large` goes over it. */
  maxMessageBytes: number
  /** Grace between asking an instance to stop and killing it. */
  closeGraceMs: number
}

/** A runtime under test, with what the suite needs to observe it. */
export interface ComplianceTarget {
  runtime: PluginRuntime
  /** Turns a plugin package into a manifest this runtime launches (docker: builds its image). */
  prepare(plugin: { manifest: PluginManifest; dir: string }): Promise<{ manifest: PluginManifest; dir: string }>
  /**
   * A throwaway plugin whose process is `node dist/main.js` with this ES module source, as a
   * manifest of this runtime (for plugins that misbehave on purpose).
   */
  prepareScript(name: string, source: string): Promise<{ manifest: PluginManifest; dir: string }>
  /** Kills an instance from outside, as a crash (or the OOM killer) would. */
  crash(instance: PluginInstance): Promise<void>
  /** Whether anything of the instance (process, container) is still there. */
  exists(instance: PluginInstance): Promise<boolean>
  /** Frees what the target holds (not the runtime's instances: the suite closes those). */
  close?(): Promise<void>
}

/** The line limit the suite runs runtimes with, unless the plugin's fixture names another. */
export const COMPLIANCE_MAX_MESSAGE_BYTES = 64 * 1024
/** The close grace the suite runs runtimes with. */
export const COMPLIANCE_CLOSE_GRACE_MS = 1000

/** A runtime that remembers every instance it launched, so the suite can check they are gone. */
class Recording implements PluginRuntime {
  readonly instances: PluginInstance[] = []
  constructor(readonly inner: PluginRuntime) {}
  get kind(): string {
    return this.inner.kind
  }
  async launch(manifest: PluginManifest, dir: string, signal?: AbortSignal, options?: PluginLaunchOptions): Promise<PluginInstance> {
    const instance = await this.inner.launch(manifest, dir, signal, options)
    this.instances.push(instance)
    return instance
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves once `condition()` holds; rejects after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

const ANSWER_STOP = `if (req.method === 'stop') { send({ id: req.id, result: {} }); if (!req.params.taskId) process.exit(0); return }`

/** A plugin script that answers describe and init; `onStop` and `onStart` handle those requests `req`. */
export function scriptPlugin(name: string, onStart: string, onStop = ANSWER_STOP, extra = ''): string {
  return `import { createInterface } from 'node:readline'
const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...m }) + '\\n')
${extra}
createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line)
  if (req.method === 'describe') return send({ id: req.id, result: { name: ${JSON.stringify(name)}, version: '0.0.1', protocolVersion: 1, ops: [{ name: 'work' }], resources: { cpuCores: 0.5, memoryMiB: 64 } } })
  if (req.method === 'init') return send({ id: req.id, result: { name: ${JSON.stringify(name)}, version: '0.0.1', ops: ['work'] } })
  ${onStop}
  ${onStart}
})
`
}

/** Writes garbage to stdout when asked to start. */
const GARBAGE = scriptPlugin('compliance-garbage', `process.stdout.write('hello, this is not JSON\\n')`)
/** Never answers a start, ignores stop, stdin closing and SIGTERM: only a kill ends it. */
const STUCK = scriptPlugin(
  'compliance-stuck',
  '/* stuck in the task: no answer */',
  `if (req.method === 'stop') return`,
  `process.on('SIGTERM', () => {}); process.stdin.on('end', () => {}); setInterval(() => {}, 1000)`,
)

/**
 * Registers the compliance tests of one plugin on one runtime. `makeRuntime` runs in `beforeAll`
 * (so it may start daemons and build images); the suite closes every instance it launched.
 */
export function pluginCompliance(
  name: string,
  makeRuntime: (options: ComplianceRuntimeOptions) => ComplianceTarget | Promise<ComplianceTarget>,
  plugin: CompliancePlugin,
): void {
  describe(`plugin compliance: ${name}`, () => {
    let target: ComplianceTarget
    let runtime: Recording
    let installed: { manifest: PluginManifest; dir: string }
    const hosts: PluginHost[] = []
    const maxMessageBytes = plugin.maxMessageBytes ?? COMPLIANCE_MAX_MESSAGE_BYTES
    const task = (t: ComplianceTask, taskId: string): PluginParams<'start'> => ({ taskId, op: t.op, params: t.params, inputs: t.inputs ?? [] })
    const launch = async (): Promise<PluginInstance> => runtime.launch(installed.manifest, installed.dir)
    const host = (plugins = [installed]): PluginHost => {
      const h = new PluginHost({ plugins }, { runtime })
      hosts.push(h)
      return h
    }

    beforeAll(async () => {
      target = await makeRuntime({ maxMessageBytes, closeGraceMs: COMPLIANCE_CLOSE_GRACE_MS })
      runtime = new Recording(target.runtime)
      installed = await target.prepare(plugin)
    }, 240_000)

    afterAll(async () => {
      await Promise.all(hosts.map((h) => h.close()))
      await Promise.all((runtime?.instances ?? []).map((i) => i.close()))
      for (const instance of runtime?.instances ?? []) expect(await target.exists(instance)).toBe(false)
      await target?.close?.()
    }, 60_000)

    it('describe answers before init: name, version, protocol version, the ops of the manifest', async () => {
      const instance = await launch()
      try {
        const info = await instance.describe()
        expect(info.name).toBe(installed.manifest.name)
        expect(info.version).toBe(installed.manifest.version)
        expect(info.protocolVersion).toBe(PLUGIN_PROTOCOL_VERSION)
        expect(info.ops.map((o) => o.name)).toEqual(expect.arrayContaining(installed.manifest.ops))
        // describe leaves the plugin uninitialised: init still works, and describe again too.
        expect(await instance.init({})).toMatchObject({ name: installed.manifest.name, version: installed.manifest.version })
        expect((await instance.describe()).name).toBe(installed.manifest.name)
      } finally {
        await instance.close()
      }
    })

    it('init comes before start: start (or verify) before init is refused with PROTOCOL_ERROR, then works', async () => {
      const instance = await launch()
      try {
        expect((await rejection(instance.start(task(plugin.quick, 'early')))).code).toBe('PROTOCOL_ERROR')
        expect((await rejection(instance.verify({ ...task(plugin.quick, 'x'), outputs: [] }))).code).toBe('PROTOCOL_ERROR')
        expect(instance.closed).toBe(false)
        await instance.init({})
        const result = await instance.start(task(plugin.quick, 'after-init'))
        expect(result.outputs.length).toBeGreaterThan(0)
      } finally {
        await instance.close()
      }
    })

    it('start/stop order: stop of an unknown task is harmless, stop {} ends the instance, later calls are refused', async () => {
      const instance = await launch()
      await instance.init({})
      await instance.stop('no-such-task')
      expect((await instance.start(task(plugin.quick, 'q1'))).outputs.length).toBeGreaterThan(0)
      await instance.stop()
      expect(instance.closed).toBe(true)
      expect((await rejection(instance.start(task(plugin.quick, 'q2')))).code).toBe('TASK_CANCELLED')
      await instance.close()
      expect(await target.exists(instance)).toBe(false)
    })

    it('stop and close are idempotent', async () => {
      const instance = await launch()
      await instance.init({})
      await instance.stop()
      await instance.stop()
      const closing = instance.close()
      expect(instance.close()).toBe(closing)
      await closing
      await instance.close()
      await instance.stop()
      await instance.stop('t')
      expect(instance.closed).toBe(true)
      expect(await target.exists(instance)).toBe(false)
    })

    it('verify: valid for real outputs, invalid (with a reason) for tampered or missing ones', async () => {
      const instance = await launch()
      try {
        await instance.init({})
        const t = task(plugin.quick, 'v')
        const { outputs } = await instance.start(t)
        const request = { op: t.op, params: t.params, inputs: t.inputs }
        expect(await instance.verify({ ...request, outputs })).toEqual({ valid: true })
        const tampered = await instance.verify({ ...request, outputs: plugin.tamper(outputs) })
        expect(tampered.valid).toBe(false)
        expect(tampered.reason).toEqual(expect.any(String))
        const missing = await instance.verify({ ...request, outputs: outputs.slice(0, -1) })
        expect(missing.valid).toBe(false)
      } finally {
        await instance.close()
      }
    })

    it('a crash mid-task is reported as PLUGIN_FAILED and leaves nothing behind', async () => {
      const instance = await launch()
      await instance.init({})
      const running = rejection(instance.start(task(plugin.long, 'crash')))
      await sleep(300)
      await target.crash(instance)
      const err = await running
      expect(err.code).toBe('PLUGIN_FAILED')
      expect(instance.closed).toBe(true)
      await instance.close()
      expect(await target.exists(instance)).toBe(false)
    })

    it('a task timeout (abort) rejects TASK_CANCELLED; in efficiency mode the instance is gone when run() returns', async () => {
      const h = host()
      const controller = new AbortController()
      const before = runtime.instances.length
      const run = rejection(h.run(installed.manifest, 'efficiency', task(plugin.long, 'timeout'), controller.signal))
      // Abort once the task's instance runs (an abort during launch is covered by the runtime's own tests).
      await until(() => runtime.instances.length > before, 'the launch')
      await sleep(300)
      controller.abort()
      expect((await run).code).toBe('TASK_CANCELLED')
      const launched = runtime.instances.slice(before)
      expect(launched).toHaveLength(1)
      expect(launched[0]?.closed).toBe(true)
      expect(await target.exists(launched[0] as PluginInstance)).toBe(false)
    })

    it('a task timeout in performance mode cancels the task and the resident instance keeps serving', async () => {
      const h = host()
      const before = runtime.instances.length
      const controller = new AbortController()
      const run = rejection(h.run(installed.manifest, 'performance', task(plugin.long, 'timeout-perf'), controller.signal))
      await until(() => runtime.instances.length > before, 'the launch')
      await sleep(300)
      controller.abort()
      expect((await run).code).toBe('TASK_CANCELLED')
      const result = await h.run(installed.manifest, 'performance', task(plugin.quick, 'after-timeout'))
      expect(result.outputs.length).toBeGreaterThan(0)
      expect(runtime.instances.length - before).toBe(1)
      await h.close()
      expect(await target.exists(runtime.instances[before] as PluginInstance)).toBe(false)
    })

    it('an instance stuck in a task (ignoring stop) is killed on abort in efficiency mode', async () => {
      const stuck = await target.prepareScript('compliance-stuck', STUCK)
      const h = host([stuck])
      const before = runtime.instances.length
      const controller = new AbortController()
      const run = rejection(h.run(stuck.manifest, 'efficiency', { taskId: 'stuck', op: 'work', params: {}, inputs: [] }, controller.signal))
      await until(() => runtime.instances.length > before, 'the launch')
      await sleep(300)
      controller.abort()
      expect((await run).code).toBe('TASK_CANCELLED')
      const instance = runtime.instances[before] as PluginInstance
      expect(instance.closed).toBe(true)
      expect(await target.exists(instance)).toBe(false)
    })

    it('garbage on stdout is an error (PLUGIN_FAILED), not a hang, and the instance is killed', async () => {
      const garbage = await target.prepareScript('compliance-garbage', GARBAGE)
      const instance = await runtime.launch(garbage.manifest, garbage.dir)
      await instance.init({})
      const err = await rejection(instance.start({ taskId: 'g', op: 'work', params: {}, inputs: [] }))
      expect(err.code).toBe('PLUGIN_FAILED')
      expect(err.message).toContain('not JSON')
      expect(instance.closed).toBe(true)
      await instance.close()
      expect(await target.exists(instance)).toBe(false)
    })

    it('an output over the line limit is refused with PLUGIN_FAILED (details.reason PAYLOAD_TOO_LARGE) and the instance is killed', async () => {
      const instance = await launch()
      await instance.init({})
      const err = await rejection(instance.start(task(plugin.large, 'large')))
      expect(err.code).toBe('PLUGIN_FAILED')
      expect(err.details?.['reason']).toBe('PAYLOAD_TOO_LARGE')
      expect(err.details?.['limitBytes']).toBe(maxMessageBytes)
      expect(instance.closed).toBe(true)
      await instance.close()
      expect(await target.exists(instance)).toBe(false)
    })
  })
}
