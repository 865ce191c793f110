import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LineReader, PluginResponse, contentHash, type PluginParams, type PluginResult } from '@galactic/schemas'
import {
  KeyCache,
  OP_NAMES,
  PROVER_ENTRY,
  Prover,
  runOp,
  verifyFinal,
  verifyOp,
  type ChainProof,
  type SnarkOutput,
  type SplitOutput,
} from '../src/index.js'
import { rejection } from '../../../test/support/rejection.js'
import { until } from '../../../test/support/until.js'
import { flip } from './fixture.js'
import { ensureKeys } from './keys.js'

/**
 * Real recursive proofs. Every proof costs tens of seconds on two cores, so one run
 * (split -> 2 leaves -> 1 merge -> snark) is made once and shared; the other tests only verify,
 * or make proofs that fail fast.
 */

type Input = PluginParams<'start'>['inputs'][number]
type Output = PluginResult<'start'>['outputs'][number]

const PLUGIN_DIR = fileURLToPath(new URL('..', import.meta.url))
const keys = new KeyCache()
const prover = new Prover({ keys })
const ctx = { prover }

beforeAll(async () => {
  if (!existsSync(PROVER_ENTRY)) throw new Error(`${PROVER_ENTRY} is missing: build with npx tsc -b`)
  await ensureKeys()
}, 900_000)

afterAll(async () => {
  await prover.close()
})

function asInput(opId: string, output: Output): Input {
  return { opId, name: output.name, hash: contentHash(Buffer.from(output.data, 'base64')), data: output.data }
}
function decode<T>(output: Output): T {
  return JSON.parse(Buffer.from(output.data, 'base64').toString('utf8')) as T
}
function json(value: unknown, name = 'proof'): Output {
  return { name, data: Buffer.from(JSON.stringify(value), 'utf8').toString('base64') }
}

const shared = { seed: 'abc', segmentSize: 16, segments: 2 } as const
const run = {} as { splitIn: Input; p0: Output; p1: Output; agg: Output; snark: Output }

describe('real recursive proofs: split -> prove x2 -> aggregate (merge) -> snark', () => {
  beforeAll(async () => {
    run.splitIn = asInput('split', (await runOp({ op: 'split', params: shared, inputs: [] }, ctx)).outputs[0] as Output)
    run.p0 = (await runOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [run.splitIn] }, ctx)).outputs[0] as Output
    run.p1 = (await runOp({ op: 'prove', params: { ...shared, segment: 1 }, inputs: [run.splitIn] }, ctx)).outputs[0] as Output
    run.agg = (await runOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-0', run.p0), asInput('prove-1', run.p1)] }, ctx)).outputs[0] as Output
    run.snark = (await runOp({ op: 'snark', params: shared, inputs: [asInput('agg-0-0', run.agg)] }, ctx)).outputs[0] as Output
  }, 900_000)

  it('leaf proofs claim their segments; the merge proof claims both and is one proof of the same size', { timeout: 180_000 }, async () => {
    const plan = decode<SplitOutput>({ name: 'segments', data: run.splitIn.data })
    const [p0, p1, agg] = [decode<ChainProof>(run.p0), decode<ChainProof>(run.p1), decode<ChainProof>(run.agg)]
    expect(p0).toMatchObject({ firstSegment: 0, lastSegment: 0, offset: 0, steps: 16, start: plan.segments[0]?.start, end: plan.segments[0]?.end })
    expect(p1).toMatchObject({ firstSegment: 1, lastSegment: 1, offset: 16, steps: 16, start: plan.segments[1]?.start, end: plan.segments[1]?.end })
    expect(agg).toMatchObject({ firstSegment: 0, lastSegment: 1, offset: 0, steps: 32, start: p0.start, end: p1.end })
    expect(agg.proof.publicOutput).toEqual([p0.start, '0', '32', p1.end])
    expect(agg.verificationKeyHash).toBe(keys.verificationKey().hash)
    // Recursive: the merge proof does not embed its children; it is a proof like a leaf's.
    expect(agg.proof.maxProofsVerified).toBe(p0.proof.maxProofsVerified)
    expect(Math.abs(agg.proof.proof.length - p0.proof.proof.length)).toBeLessThan(p0.proof.proof.length / 10)
    expect(JSON.stringify(agg)).not.toContain(p0.proof.proof)

    // The oracle's checks accept every honest result.
    expect(await verifyOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [run.splitIn], outputs: [run.p0] }, { keys })).toEqual({ valid: true })
    expect(await verifyOp({ op: 'prove', params: { ...shared, segment: 1 }, inputs: [run.splitIn], outputs: [run.p1] }, { keys })).toEqual({ valid: true })
    const aggInputs = [asInput('prove-0', run.p0), asInput('prove-1', run.p1)]
    expect(await verifyOp({ op: 'aggregate', params: shared, inputs: aggInputs, outputs: [run.agg] }, { keys })).toEqual({ valid: true })
    expect(await verifyOp({ op: 'snark', params: shared, inputs: [asInput('agg-0-0', run.agg)], outputs: [run.snark] }, { keys })).toEqual({ valid: true })

    const snark = decode<SnarkOutput>(run.snark)
    expect(snark).toMatchObject({ kind: 'snark', seed: 'abc', segments: 2, steps: 32, start: p0.start, end: p1.end })
    expect(snark.proof).toEqual(agg.proof)
    expect(await verifyFinal(snark, { seed: 'abc', segments: 2, keys })).toEqual({ valid: true })
  })

  it('a merge with broken continuity is refused: by the op, by the circuit itself, and by verify', { timeout: 300_000 }, async () => {
    // The op checks the claims first.
    for (const [a, b] of [
      [run.p1, run.p0],
      [run.p0, run.p0],
    ] as const) {
      const err = await rejection(runOp({ op: 'aggregate', params: shared, inputs: [asInput('a', a), asInput('b', b)] }, ctx))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.message).toMatch(/continue/)
    }
    // The circuit refuses it too: a prover asked to merge proofs in the wrong order cannot.
    const [p0, p1] = [decode<ChainProof>(run.p0), decode<ChainProof>(run.p1)]
    const refused = await rejection(prover.merge(p1.proof, p0.proof))
    expect(refused.code).toBe('TASK_INVALID')
    expect(refused.message).toMatch(/circuit refused the merge/)
    // A claim that is not its proof's public output is refused before proving.
    const lying = { ...p1, start: '5' }
    expect((await rejection(runOp({ op: 'aggregate', params: shared, inputs: [asInput('a', run.p0), asInput('b', json(lying))] }, ctx))).message).toMatch(/right proof refused/)
    // verify: an honest merge output presented for inputs that do not continue each other.
    const swapped = [asInput('prove-1', run.p1), asInput('prove-0', run.p0)]
    const v = await verifyOp({ op: 'aggregate', params: shared, inputs: swapped, outputs: [run.agg] }, { keys })
    expect(v).toEqual({ valid: false, reason: expect.stringMatching(/do not continue/) })
  })

  it('verify rejects tampered proofs and claims; merge refuses a child proof that does not verify', { timeout: 300_000 }, async () => {
    const p0 = decode<ChainProof>(run.p0)
    const prove0 = (output: Output) => verifyOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [run.splitIn], outputs: [output] }, { keys })
    // Proof bytes changed.
    const flipped = { ...p0, proof: { ...p0.proof, proof: flip(p0.proof.proof) } }
    expect(await prove0(json(flipped))).toEqual({ valid: false, reason: expect.stringMatching(/does not verify/) })
    // Public output changed.
    const other = { ...p0.proof, publicOutput: [p0.start, '0', '16', '12345'] as [string, string, string, string] }
    expect((await prove0(json({ ...p0, proof: other }))).valid).toBe(false)
    // The other segment's proof presented as this one's.
    expect((await prove0(run.p1)).valid).toBe(false)
    // The leaf's proof presented as the merge's, with the merge's claim.
    const agg = decode<ChainProof>(run.agg)
    const aggInputs = [asInput('prove-0', run.p0), asInput('prove-1', run.p1)]
    expect((await verifyOp({ op: 'aggregate', params: shared, inputs: aggInputs, outputs: [json({ ...agg, proof: p0.proof })] }, { keys })).valid).toBe(false)
    expect((await verifyOp({ op: 'aggregate', params: shared, inputs: aggInputs, outputs: [json({ ...agg, proof: { ...agg.proof, proof: flip(agg.proof.proof) } })] }, { keys })).valid).toBe(false)
    // Snark: another seed, a tampered end, or not the input's proof.
    const snark = decode<SnarkOutput>(run.snark)
    expect((await verifyFinal(snark, { seed: 'abd', keys })).valid).toBe(false)
    expect((await verifyFinal({ ...snark, end: '12345' }, { keys })).valid).toBe(false)
    expect((await verifyFinal({ ...snark, proof: { ...snark.proof, proof: flip(snark.proof.proof) } }, { keys })).valid).toBe(false)
    expect((await verifyFinal({ kind: 'snark' }, { keys })).valid).toBe(false)
    const v = await verifyOp({ op: 'snark', params: shared, inputs: [asInput('prove-0', run.p0)], outputs: [run.snark] }, { keys })
    expect(v).toEqual({ valid: false, reason: expect.stringMatching(/not the input root proof/) })
    // A snark of part of the run is refused.
    expect((await rejection(runOp({ op: 'snark', params: shared, inputs: [asInput('prove-0', run.p0)] }, ctx))).message).toMatch(/covers 1 segment/)
    // The prover process verifies a merge's children before proving.
    const err = await rejection(runOp({ op: 'aggregate', params: shared, inputs: [asInput('a', json(flipped)), asInput('b', run.p1)] }, ctx))
    expect(err.code).toBe('TASK_INVALID')
    expect(err.message).toMatch(/left proof (does not verify|is malformed)/)
  })
})

describe('the prover process', () => {
  /** Whether the process runs: not gone, and not a zombie its new parent has yet to reap. */
  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0)
    } catch {
      return false
    }
    try {
      // /proc/<pid>/stat: "pid (comm) state ...": Z is a zombie.
      return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z'
    } catch {
      return process.platform !== 'linux'
    }
  }

  it('cancelling a proof kills its prover process; the next proof would start a new one', async () => {
    const own = new Prover({ keys })
    try {
      const controller = new AbortController()
      const proving = rejection(own.leaf('1', 0, controller.signal))
      const pid = await until('the prover process', async () => own.pid)
      controller.abort(new Error('cancelled'))
      await expect(proving).rejects.toThrow('cancelled')
      await until('the prover process to end', async () => (alive(pid) ? undefined : true), 10_000)
      expect(own.pid).toBeUndefined()
    } finally {
      await own.close()
    }
  })

  it('a prover process grown past its memory limit is ended after its proof', { timeout: 180_000 }, async () => {
    const own = new Prover({ keys, recycleAboveMiB: 1 })
    try {
      const proving = own.leaf('7', 0)
      const pid = await until('the prover process', async () => own.pid)
      const { proof, stats } = await proving
      expect(proof.publicOutput.slice(0, 3)).toEqual(['7', '0', '16'])
      expect(stats.rssMiB).toBeGreaterThan(1)
      expect(own.pid).toBeUndefined()
      await until('the prover process to end', async () => (alive(pid) ? undefined : true), 10_000)
    } finally {
      await own.close()
    }
  })

  interface Child {
    request: (method: string, params: unknown) => Promise<Record<string, unknown>>
    stderr: string[]
    pid: number
    endStdin: () => void
    kill: () => void
    exited: Promise<number | null>
  }

  function startPlugin(): Child {
    const child = spawn(process.execPath, [join(PLUGIN_DIR, 'dist', 'main.js')], { cwd: PLUGIN_DIR, stdio: ['pipe', 'pipe', 'pipe'] })
    const stderr: string[] = []
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(...chunk.split('\n')))
    const pending = new Map<number, (message: Record<string, unknown>) => void>()
    const reader = new LineReader(
      1 << 24,
      (line) => {
        const message = JSON.parse(line) as Record<string, unknown>
        expect(PluginResponse.safeParse(message).success).toBe(true)
        pending.get(message['id'] as number)?.(message)
      },
      () => {
        throw new Error('response line too long')
      },
    )
    child.stdout.on('data', (chunk: Buffer) => reader.push(chunk))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    let id = 0
    return {
      request: (method, params) =>
        new Promise((resolve) => {
          pending.set(++id, resolve)
          child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`)
        }),
      stderr,
      pid: child.pid ?? 0,
      endStdin: () => child.stdin.end(),
      kill: () => child.kill('SIGKILL'),
      exited,
    }
  }

  /** The pid of the prover process the plugin says it started after `skip` earlier ones. */
  const proverPid = (p: Child, skip = 0): Promise<number> =>
    until('the prover process to start', async () => {
      const pids = p.stderr.map((l) => /prover process (\d+) started/.exec(l)?.[1]).filter((x) => x !== undefined)
      return pids[skip] === undefined ? undefined : Number(pids[skip])
    })

  it('over stdio: a prove stopped by the agent answers TASK_CANCELLED and its prover is gone; stdin closing ends the plugin', { timeout: 60_000 }, async () => {
    const p = startPlugin()
    expect(await p.request('describe', {})).toMatchObject({ result: { name: 'o1js-chain', version: '1.0.0' } })
    expect(await p.request('init', { protocolVersion: 1, config: {} })).toMatchObject({ result: { name: 'o1js-chain', ops: [...OP_NAMES] } })
    const split = (await p.request('start', { taskId: 's', op: 'split', params: shared, inputs: [] })) as { result: PluginResult<'start'> }
    const splitIn = asInput('split', split.result.outputs[0] as Output)
    const proving = p.request('start', { taskId: 'p', op: 'prove', params: { ...shared, segment: 1 }, inputs: [splitIn] })
    const pid = await proverPid(p)
    expect(await p.request('stop', { taskId: 'p' })).toMatchObject({ result: {} })
    expect(await proving).toMatchObject({ error: { code: 'TASK_CANCELLED' } })
    await until('the prover process to end', async () => (alive(pid) ? undefined : true), 10_000)
    p.endStdin()
    expect(await p.exited).toBe(0)
  })

  it('a plugin process killed while its prover works takes the prover with it', { timeout: 60_000 }, async () => {
    const p = startPlugin()
    await p.request('init', { protocolVersion: 1, config: {} })
    const split = (await p.request('start', { taskId: 's', op: 'split', params: shared, inputs: [] })) as { result: PluginResult<'start'> }
    void p.request('start', { taskId: 'p', op: 'prove', params: { ...shared, segment: 0 }, inputs: [asInput('split', split.result.outputs[0] as Output)] })
    const pid = await proverPid(p)
    p.kill()
    await p.exited
    // The prover's watchdog thread sees its parent gone within a quarter second, even mid-proof.
    await until('the orphaned prover process to end', async () => (alive(pid) ? undefined : true), 10_000)
  })
})
