import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LineReader, PluginResponse, type PluginParams, type PluginResult } from '@galactic/schemas'
import {
  Artifacts,
  DESCRIPTION,
  OP_NAMES,
  PLUGIN_NAME,
  PLUGIN_VERSION,
  PluginServer,
  SETUP_COMMAND,
  asInput,
  decodeOutput,
  releaseProver,
  runOp,
  runPipeline,
  verifyFinal,
  verifyOp,
  type Proof,
  type SegmentProof,
  type SnarkOutput,
  type SplitOutput,
} from '../src/index.js'
import { rejection } from '../../../test/support/rejection.js'

type Input = PluginParams<'start'>['inputs'][number]
type Output = PluginResult<'start'>['outputs'][number]

const PLUGIN_DIR = fileURLToPath(new URL('..', import.meta.url))
const artifacts = new Artifacts()

// Real proofs need the circuits: build them once if this checkout has none (a minute or two).
beforeAll(async () => {
  if (artifacts.has('segment_16') && artifacts.has(`commit_64`)) return
  await promisify(execFile)(process.execPath, ['scripts/setup.mjs', '--quiet'], { cwd: PLUGIN_DIR, timeout: 590_000 })
}, 600_000)

afterAll(async () => {
  await releaseProver()
})

function json(value: unknown, name = 'proof'): Output {
  return { name, data: Buffer.from(JSON.stringify(value), 'utf8').toString('base64') }
}

/** A decimal field element with its last digit changed (still a valid element). */
function bump(x: string): string {
  const d = Number(x.at(-1))
  return `${x.slice(0, -1)}${(d + 1) % 10}`
}

const shared = { seed: 'abc', segmentSize: 16, segments: 3 } as const
const ctx = { artifacts }

// One real run, op by op, shared by the tests below: split -> prove x3 -> agg(0,1) -> agg(agg, 2) -> snark.
const run = {} as {
  splitOut: Output
  proofs: Output[]
  agg: Output
  root: Output
  snark: Output
  splitIn: Input
}

describe('a real run: split -> prove x3 -> aggregate x2 -> snark', () => {
  beforeAll(async () => {
    run.splitOut = (await runOp({ op: 'split', params: shared, inputs: [] }, ctx)).outputs[0] as Output
    run.splitIn = asInput('split', run.splitOut)
    run.proofs = []
    for (const segment of [0, 1, 2]) {
      run.proofs.push((await runOp({ op: 'prove', params: { ...shared, segment }, inputs: [run.splitIn] }, ctx)).outputs[0] as Output)
    }
    const [p0, p1, p2] = run.proofs as [Output, Output, Output]
    run.agg = (await runOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-0', p0), asInput('prove-1', p1)] }, ctx)).outputs[0] as Output
    run.root = (await runOp({ op: 'aggregate', params: shared, inputs: [asInput('agg-0-0', run.agg), asInput('prove-2', p2)] }, ctx)).outputs[0] as Output
    run.snark = (await runOp({ op: 'snark', params: shared, inputs: [asInput('agg-1-0', run.root)] }, ctx)).outputs[0] as Output
  }, 300_000)

  it('each op output has the documented shape', () => {
    const plan = decodeOutput(run.splitOut) as SplitOutput
    expect(run.splitOut.name).toBe('segments')
    expect(plan.segments).toHaveLength(3)
    const p1 = decodeOutput(run.proofs[1] as Output) as SegmentProof
    expect(p1).toMatchObject({ kind: 'segment', segment: 1, offset: 16, start: plan.segments[1]?.start, end: plan.segments[1]?.end })
    expect(p1.publicSignals).toEqual([p1.start, '16', p1.end])
    const root = decodeOutput(run.root) as Proof
    expect(root).toMatchObject({ kind: 'aggregate', firstSegment: 0, lastSegment: 2, offset: 0, steps: 48, start: plan.segments[0]?.start, end: plan.segments[2]?.end })
    const snark = decodeOutput(run.snark) as SnarkOutput
    expect(run.snark.name).toBe('snark')
    expect(snark).toMatchObject({ kind: 'snark', seed: 'abc', segments: 3, steps: 48, start: plan.segments[0]?.start, end: plan.segments[2]?.end })
    expect(snark.boundaries).toEqual([...plan.segments.map((s) => s.start), plan.segments[2]?.end])
    expect(snark.publicSignals).toEqual([snark.start, snark.end, snark.commitment, '3'])
  })

  it('verify says true for every op of the run', { timeout: 120_000 }, async () => {
    const [p0, p1, p2] = run.proofs as [Output, Output, Output]
    const checks: Array<Parameters<typeof verifyOp>[0]> = [
      { op: 'split', params: shared, inputs: [], outputs: [run.splitOut] },
      { op: 'prove', params: { ...shared, segment: 0 }, inputs: [run.splitIn], outputs: [p0] },
      { op: 'prove', params: { ...shared, segment: 2 }, inputs: [run.splitIn], outputs: [p2] },
      { op: 'aggregate', params: shared, inputs: [asInput('prove-0', p0), asInput('prove-1', p1)], outputs: [run.agg] },
      { op: 'aggregate', params: shared, inputs: [asInput('agg-0-0', run.agg), asInput('prove-2', p2)], outputs: [run.root] },
      { op: 'snark', params: shared, inputs: [asInput('agg-1-0', run.root)], outputs: [run.snark] },
    ]
    for (const task of checks) expect({ op: task.op, ...(await verifyOp(task, ctx)) }).toEqual({ op: task.op, valid: true })
    expect(await verifyFinal(decodeOutput(run.snark), { seed: 'abc', segments: 3, artifacts })).toEqual({ valid: true })
  })

  it('a tampered proof byte is refused by verify, aggregate, snark and verifyFinal', { timeout: 120_000 }, async () => {
    const p0 = decodeOutput(run.proofs[0] as Output) as SegmentProof
    const bad = structuredClone(p0)
    bad.proof.pi_a[0] = bump(bad.proof.pi_a[0])
    const badOut = json(bad)
    const v = await verifyOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [run.splitIn], outputs: [badOut] }, ctx)
    expect(v.valid).toBe(false)
    expect(v.reason).toMatch(/Groth16/)
    const bad2 = structuredClone(p0)
    bad2.proof.pi_c[1] = bump(bad2.proof.pi_c[1])
    expect((await verifyOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [run.splitIn], outputs: [json(bad2)] }, ctx)).valid).toBe(false)

    const err = await rejection(runOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-0', badOut), asInput('prove-1', run.proofs[1] as Output)] }, ctx))
    expect(err.code).toBe('TASK_INVALID')
    expect(err.message).toMatch(/left/)

    // The same tampered leaf deep inside the snark's embedded root.
    const snark = decodeOutput(run.snark) as SnarkOutput
    const forged = structuredClone(snark)
    const leaf = (forged.root as Extract<Proof, { kind: 'aggregate' }>).children[0]
    if (leaf.kind !== 'aggregate') throw new Error('expected an aggregate child')
    leaf.children[0] = bad
    const r = await verifyFinal(forged, { artifacts })
    expect(r.valid).toBe(false)
    expect(r.reason).toMatch(/segment 0: Groth16/)

    // A tampered snark proof.
    const forgedSnark = structuredClone(snark)
    forgedSnark.proof.pi_b[0][0] = bump(forgedSnark.proof.pi_b[0][0])
    const s = await verifyOp({ op: 'snark', params: shared, inputs: [asInput('agg-1-0', run.root)], outputs: [json(forgedSnark, 'snark')] }, ctx)
    expect(s).toEqual({ valid: false, reason: expect.stringMatching(/snark Groth16/) })
  })

  it('a wrong end state is refused: by verify, by prove and by the snark checks', { timeout: 120_000 }, async () => {
    const p1 = decodeOutput(run.proofs[1] as Output) as SegmentProof
    const plan = decodeOutput(run.splitOut) as SplitOutput
    // End and public signal changed together: the Groth16 check fails.
    const wrongEnd = { ...structuredClone(p1), end: bump(p1.end) }
    wrongEnd.publicSignals[2] = wrongEnd.end
    // Against a split that agrees with the forged end, so only the proof can catch it.
    const forgedPlan = structuredClone(plan)
    const seg1 = forgedPlan.segments[1] as SplitOutput['segments'][number]
    seg1.end = wrongEnd.end
    const forgedSplitIn = asInput('split', json(forgedPlan, 'segments'))
    const v = await verifyOp({ op: 'prove', params: { ...shared, segment: 1 }, inputs: [forgedSplitIn], outputs: [json(wrongEnd)] }, ctx)
    expect(v).toEqual({ valid: false, reason: expect.stringMatching(/Groth16/) })
    // Against the true split, the claim does not match the split either.
    expect((await verifyOp({ op: 'prove', params: { ...shared, segment: 1 }, inputs: [run.splitIn], outputs: [json(wrongEnd)] }, ctx)).valid).toBe(false)
    // The end alone changed: the public signals no longer match.
    expect((await verifyOp({ op: 'prove', params: { ...shared, segment: 1 }, inputs: [forgedSplitIn], outputs: [json({ ...p1, end: wrongEnd.end })] }, ctx)).valid).toBe(false)
    // A split with a wrong end: verify refuses it and prove will not prove it.
    expect((await verifyOp({ op: 'split', params: shared, inputs: [], outputs: [json(forgedPlan, 'segments')] }, ctx)).valid).toBe(false)
    const err = await rejection(runOp({ op: 'prove', params: { ...shared, segment: 1 }, inputs: [forgedSplitIn] }, ctx))
    expect(err.code).toBe('TASK_INVALID')

    // A snark whose end (and public signal) was changed.
    const snark = decodeOutput(run.snark) as SnarkOutput
    const forged = structuredClone(snark)
    forged.end = bump(forged.end)
    forged.boundaries[3] = forged.end
    forged.publicSignals[1] = forged.end
    expect((await verifyFinal(forged, { artifacts })).valid).toBe(false)
  })

  it('broken continuity is refused by aggregate and by verify', { timeout: 120_000 }, async () => {
    const [p0, p1, p2] = run.proofs as [Output, Output, Output]
    for (const [a, b] of [
      [p1, p0],
      [p0, p2],
      [p0, p0],
    ] as const) {
      const err = await rejection(runOp({ op: 'aggregate', params: shared, inputs: [asInput('a', a), asInput('b', b)] }, ctx))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.message).toMatch(/continue/)
    }
    // Segment 1 of another seed: adjacent segments and offsets, but its start is not segment 0's end.
    const other = { seed: 'xyz', segmentSize: 16, segments: 3 }
    const otherSplit = asInput('split', (await runOp({ op: 'split', params: other, inputs: [] }, ctx)).outputs[0] as Output)
    const otherP1 = (await runOp({ op: 'prove', params: { ...other, segment: 1 }, inputs: [otherSplit] }, ctx)).outputs[0] as Output
    const err = await rejection(runOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-0', p0), asInput('prove-1', otherP1)] }, ctx))
    expect(err.message).toMatch(/end state/)

    // A forged aggregate output joining proofs that do not meet.
    const forged = {
      ...(decodeOutput(run.agg) as object),
      children: [decodeOutput(p0), decodeOutput(otherP1)],
    }
    const v = await verifyOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-0', p0), asInput('prove-1', otherP1)], outputs: [json(forged)] }, ctx)
    expect(v).toEqual({ valid: false, reason: expect.stringMatching(/end state/) })
    // An honest aggregate checked against other inputs.
    const w = await verifyOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-1', p1), asInput('prove-2', p2)], outputs: [run.agg] }, ctx)
    expect(w).toEqual({ valid: false, reason: expect.stringMatching(/inputs/) })
    // A snark for another seed, or covering part of the run, is refused.
    expect((await rejection(runOp({ op: 'snark', params: { ...shared, seed: 'xyz' }, inputs: [asInput('agg-1-0', run.root)] }, ctx))).code).toBe('TASK_INVALID')
    expect((await rejection(runOp({ op: 'snark', params: shared, inputs: [asInput('agg-0-0', run.agg)] }, ctx))).code).toBe('TASK_INVALID')
    expect((await verifyOp({ op: 'snark', params: { ...shared, seed: 'xyz' }, inputs: [asInput('agg-1-0', run.root)], outputs: [run.snark] }, ctx)).valid).toBe(false)
  })

  it('prove params: a segment past the split is named; a split made with other params is refused', async () => {
    const err = await rejection(runOp({ op: 'prove', params: { seed: 'abc', segmentSize: 16, segment: 3 }, inputs: [run.splitIn] }, ctx))
    expect(err.code).toBe('TASK_INVALID')
    expect(err.issues.map((i) => i.path)).toEqual(['segment'])
    expect((await rejection(runOp({ op: 'prove', params: { ...shared, seed: 'abd', segment: 0 }, inputs: [run.splitIn] }, ctx))).code).toBe('TASK_INVALID')
    const garbage: Input = { ...run.splitIn, data: Buffer.from('{not json').toString('base64') }
    expect((await rejection(runOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [garbage] }, ctx))).code).toBe('TASK_INVALID')
    expect((await verifyOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [garbage], outputs: [run.proofs[0] as Output] }, ctx)).valid).toBe(false)
  })
})

describe('runPipeline', () => {
  it('runs one segment (the snark takes a segment proof as root) and verifyFinal accepts it', { timeout: 120_000 }, async () => {
    const ops: string[] = []
    const r = await runPipeline({ seed: 'one', segments: 1, artifacts, onOp: (id) => ops.push(id) })
    expect(ops).toEqual(['split', 'prove-0', 'snark'])
    expect(r.root.kind).toBe('segment')
    expect(await verifyFinal(r.snark, { seed: 'one', artifacts })).toEqual({ valid: true })
    expect((await verifyFinal(r.snark, { seed: 'two', artifacts })).valid).toBe(false)
    expect((await verifyFinal({ kind: 'snark' }, { artifacts })).valid).toBe(false)
  })
})

describe('artifacts', () => {
  it('missing artifacts fail naming the file and the setup command', async () => {
    const none = new Artifacts(join(tmpdir(), 'galactic-groth16-none'))
    const err = await rejection(runOp({ op: 'split', params: { seed: 'a', segments: 1, segmentSize: 16 }, inputs: [] }, { artifacts: none }))
    expect(err.code).toBe('PLUGIN_FAILED')
    expect(err.details?.['missing']).toMatch(/segment_16\.wasm$/)
    expect(err.details?.['command']).toBe(SETUP_COMMAND)
    expect(err.message).toContain(SETUP_COMMAND)
  })

  it('a segment size whose circuit was not built is TASK_INVALID naming segmentSize', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'galactic-groth16-'))
    try {
      for (const name of ['segment_16', 'commit_64']) symlinkSync(join(artifacts.dir, name), join(dir, name))
      const only16 = new Artifacts(dir)
      expect(only16.sizes()).toEqual([16])
      const err = await rejection(runOp({ op: 'split', params: { seed: 'a', segments: 1, segmentSize: 64 }, inputs: [] }, { artifacts: only16 }))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.issues.map((i) => i.path)).toEqual(['segmentSize'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

interface Harness {
  server: PluginServer
  exits: number[]
  next: () => Promise<Record<string, unknown>>
  send: (id: number, method: string, params: unknown) => void
}

function harness(components: Partial<ConstructorParameters<typeof PluginServer>[0]> = {}): Harness {
  const lines: unknown[] = []
  const exits: number[] = []
  const waiters: Array<() => void> = []
  const server = new PluginServer({
    send: (line) => {
      const parsed: unknown = JSON.parse(line)
      expect(PluginResponse.safeParse(parsed).success).toBe(true)
      lines.push(parsed)
      waiters.shift()?.()
    },
    exit: (code) => exits.push(code),
    artifacts,
    ...components,
  })
  let read = 0
  const next = async (): Promise<Record<string, unknown>> => {
    if (lines.length <= read) await new Promise<void>((resolve) => waiters.push(resolve))
    return lines[read++] as Record<string, unknown>
  }
  const send = (id: number, method: string, params: unknown): void => server.handleLine(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
  return { server, exits, next, send }
}

describe('PluginServer', () => {
  it('answers describe, init, start, verify, a cancel and a full stop', { timeout: 120_000 }, async () => {
    const { server, exits, next, send } = harness()
    send(1, 'describe', {})
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 1, result: DESCRIPTION })
    send(2, 'init', { protocolVersion: 1, config: {} })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 2, result: { name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] } })
    send(3, 'init', { protocolVersion: 99, config: {} })
    expect(await next()).toMatchObject({ id: 3, error: { code: 'PROTOCOL_ERROR' } })
    send(4, 'start', { taskId: 't1', op: 'split', params: { seed: 'q', segments: 2, segmentSize: 16 }, inputs: [] })
    const split = (await next()) as { id: number; result: PluginResult<'start'> }
    expect(split).toMatchObject({ id: 4, result: { outputs: [{ name: 'segments' }] } })
    send(5, 'verify', { op: 'split', params: { seed: 'q', segments: 2, segmentSize: 16 }, inputs: [], outputs: split.result.outputs })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 5, result: { valid: true } })
    send(6, 'verify', { op: 'split', params: { seed: 'r', segments: 2, segmentSize: 16 }, inputs: [], outputs: split.result.outputs })
    expect(await next()).toMatchObject({ id: 6, result: { valid: false } })
    send(7, 'start', { taskId: 't2', op: 'split', params: { seed: 'q', segments: 2, segmentSize: 17 }, inputs: [] })
    expect(await next()).toMatchObject({ id: 7, error: { code: 'TASK_INVALID', details: { issues: [{ path: 'segmentSize' }] } } })
    // A prove cancelled right away answers TASK_CANCELLED.
    send(8, 'start', { taskId: 'p', op: 'prove', params: { seed: 'q', segmentSize: 16, segment: 1 }, inputs: [asInput('split', split.result.outputs[0] as Output)] })
    expect(server.running).toBe(1)
    send(9, 'stop', { taskId: 'p' })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 9, result: {} })
    expect(await next()).toMatchObject({ id: 8, error: { code: 'TASK_CANCELLED' } })
    expect(exits).toEqual([])
    send(10, 'stop', {})
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 10, result: {} })
    expect(exits).toEqual([0])
    send(11, 'describe', {})
    expect(await next()).toMatchObject({ id: 11, error: { code: 'PROTOCOL_ERROR' } })
  })

  it('init fails with PLUGIN_FAILED naming the missing file when the artifacts are not built', async () => {
    const { next, send } = harness()
    send(1, 'init', { protocolVersion: 1, config: { artifactsDir: join(tmpdir(), 'galactic-groth16-none') } })
    const answer = (await next()) as { error: { code: string; message: string; details: Record<string, unknown> } }
    expect(answer.error.code).toBe('PLUGIN_FAILED')
    expect(answer.error.details['missing']).toMatch(/galactic-groth16-none/)
    expect(answer.error.message).toContain(SETUP_COMMAND)
  })
})

describe('the process (node dist/main.js)', () => {
  interface Child {
    request: (method: string, params: unknown) => Promise<Record<string, unknown>>
    endStdin: () => void
    exited: Promise<number | null>
  }

  function startPlugin(): Child {
    const mainJs = join(PLUGIN_DIR, 'dist', 'main.js')
    if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build with npx tsc -b`)
    const child = spawn(process.execPath, [mainJs], { cwd: PLUGIN_DIR, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, GALACTIC_GROTH16_ARTIFACTS: artifacts.dir } })
    child.stderr.resume()
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
      endStdin: () => child.stdin.end(),
      exited,
    }
  }

  it('answers describe, init, start, verify over stdio and exits on stop after proving', { timeout: 120_000 }, async () => {
    const p = startPlugin()
    expect(await p.request('describe', {})).toMatchObject({ result: { name: 'groth16-chain', version: '1.0.0' } })
    expect(await p.request('init', { protocolVersion: 1, config: {} })).toMatchObject({ result: { name: 'groth16-chain', ops: [...OP_NAMES] } })
    const params = { seed: 'proc', segments: 2, segmentSize: 16 }
    const split = (await p.request('start', { taskId: 's', op: 'split', params, inputs: [] })) as { result: PluginResult<'start'> }
    const splitIn = asInput('split', split.result.outputs[0] as Output)
    const proof = (await p.request('start', { taskId: 'p', op: 'prove', params: { ...params, segment: 1 }, inputs: [splitIn] })) as { result: PluginResult<'start'> }
    expect(proof.result.outputs.map((o) => o.name)).toEqual(['proof'])
    expect(await p.request('verify', { op: 'prove', params: { ...params, segment: 1 }, inputs: [splitIn], outputs: proof.result.outputs })).toMatchObject({
      result: { valid: true },
    })
    expect(await p.request('stop', {})).toMatchObject({ result: {} })
    expect(await p.exited).toBe(0)
  })

  it('exits when stdin closes, snarkjs workers and all', { timeout: 120_000 }, async () => {
    const p = startPlugin()
    const params = { seed: 'proc2', segments: 1, segmentSize: 16 }
    const split = (await p.request('start', { taskId: 's', op: 'split', params, inputs: [] })) as { result: PluginResult<'start'> }
    const proof = await p.request('start', { taskId: 'p', op: 'prove', params: { ...params, segment: 0 }, inputs: [asInput('split', split.result.outputs[0] as Output)] })
    expect(proof).toMatchObject({ result: { outputs: [{ name: 'proof' }] } })
    p.endStdin()
    expect(await p.exited).toBe(0)
  })
})
