import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { PluginManifest, PluginResponse, contentHash, type PluginParams, type PluginResult } from '@galactic/schemas'
import { OP_NAMES, PLUGIN_NAME, PLUGIN_VERSION, PluginServer, describePlugin, parseOpParams, runOp, verifyOp, verifySnark } from '../src/index.js'
import { rejection } from '../../../test/support/rejection.js'

type Input = PluginParams<'start'>['inputs'][number]

function asInput(opId: string, output: PluginResult<'start'>['outputs'][number]): Input {
  return { opId, name: output.name, hash: contentHash(Buffer.from(output.data, 'base64')), data: output.data }
}

function decode(output: PluginResult<'start'>['outputs'][number] | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(output?.data ?? '', 'base64').toString('utf8')) as Record<string, unknown>
}

const shared = { seed: 'abc', segmentSteps: 300 }

describe('ops', () => {
  it('runs split -> prove x3 -> aggregate x2 -> snark through runOp', async () => {
    const split = await runOp({ op: 'split', params: { ...shared, segments: 3 }, inputs: [] })
    expect(split.outputs.map((o) => o.name)).toEqual(['segments'])
    const plan = decode(split.outputs[0])
    expect(plan).toMatchObject({ seed: 'abc', segments: 3, segmentSteps: 300 })
    expect(plan['starts']).toHaveLength(3)
    const splitIn = asInput('split', split.outputs[0]!)
    const proofs = await Promise.all(
      [0, 1, 2].map(async (segment) => (await runOp({ op: 'prove', params: { ...shared, segment }, inputs: [splitIn] })).outputs[0]!),
    )
    expect(proofs.map((p) => p.name)).toEqual(['proof', 'proof', 'proof'])
    expect(decode(proofs[2]!)['end']).toBe(plan['end'])
    const agg = (await runOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-0', proofs[0]!), asInput('prove-1', proofs[1]!)] })).outputs[0]!
    const root = (await runOp({ op: 'aggregate', params: shared, inputs: [asInput('agg-0-0', agg), asInput('prove-2', proofs[2]!)] })).outputs[0]!
    const snark = await runOp({ op: 'snark', params: { ...shared, segments: 3 }, inputs: [asInput('agg-1-0', root)] })
    expect(snark.outputs[0]?.name).toBe('snark')
    expect(verifySnark(decode(snark.outputs[0]), 'abc', 900)).toBe(true)
    // Without `segments` (as the ZKM graph builder passes it), the snark still works.
    const snark2 = await runOp({ op: 'snark', params: shared, inputs: [asInput('agg-1-0', root)] })
    expect(verifySnark(decode(snark2.outputs[0]), 'abc', 900)).toBe(true)
    // Aggregating right then left breaks continuity.
    const swapped = await rejection(runOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-1', proofs[1]!), asInput('prove-0', proofs[0]!)] }))
    expect(swapped.code).toBe('TASK_INVALID')
    // A root that covers only part of the chain is refused when segments is known.
    const partial = await rejection(runOp({ op: 'snark', params: { ...shared, segments: 3 }, inputs: [asInput('agg-0-0', agg)] }))
    expect(partial.code).toBe('TASK_INVALID')
  })

  it.each([
    ['seed', { segments: 2, segmentSteps: 10 }],
    ['seed', { seed: '', segments: 2, segmentSteps: 10 }],
    ['seed', { seed: 'x'.repeat(1025), segments: 2, segmentSteps: 10 }],
    ['seed', { seed: 7, segments: 2, segmentSteps: 10 }],
    ['segments', { seed: 'a', segmentSteps: 10 }],
    ['segments', { seed: 'a', segments: 0, segmentSteps: 10 }],
    ['segments', { seed: 'a', segments: 4097, segmentSteps: 10 }],
    ['segments', { seed: 'a', segments: 1.5, segmentSteps: 10 }],
    ['segmentSteps', { seed: 'a', segments: 2 }],
    ['segmentSteps', { seed: 'a', segments: 2, segmentSteps: 10_000_001 }],
    ['segmentSteps', { seed: 'a', segments: 2, segmentSteps: '10' }],
  ])('split params: bad %s -> TASK_INVALID naming it', async (field, params) => {
    const err = await rejection(runOp({ op: 'split', params, inputs: [] }))
    expect(err.code).toBe('TASK_INVALID')
    expect(err.issues.map((i) => i.path)).toEqual([field])
    expect(err.message).toContain(field)
  })

  it('prove params: missing or out-of-range segment -> TASK_INVALID naming it', async () => {
    const split = await runOp({ op: 'split', params: { ...shared, segments: 2 }, inputs: [] })
    const inputs = [asInput('split', split.outputs[0]!)]
    for (const params of [shared, { ...shared, segment: -1 }, { ...shared, segment: 2 }, { ...shared, segment: 'zero' }]) {
      const err = await rejection(runOp({ op: 'prove', params, inputs }))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.issues.map((i) => i.path)).toEqual(['segment'])
    }
    // A split output made with another seed is refused.
    const other = await rejection(runOp({ op: 'prove', params: { ...shared, seed: 'abd', segment: 0 }, inputs }))
    expect(other.code).toBe('TASK_INVALID')
  })

  it('params that are not an object, unknown ops and wrong inputs -> TASK_INVALID', async () => {
    expect(() => parseOpParams('split', 'nope')).toThrow(expect.objectContaining({ code: 'TASK_INVALID' }))
    expect((await rejection(runOp({ op: 'verify', params: shared, inputs: [] }))).code).toBe('TASK_INVALID')
    expect((await rejection(runOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [] }))).code).toBe('TASK_INVALID')
    const garbage: Input = { opId: 'split', name: 'segments', hash: contentHash(Buffer.from('x')), data: Buffer.from('{not json').toString('base64') }
    expect((await rejection(runOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [garbage] }))).code).toBe('TASK_INVALID')
    expect((await rejection(runOp({ op: 'snark', params: shared, inputs: [garbage] }))).code).toBe('TASK_INVALID')
  })
})

describe('verify', () => {
  type Output = PluginResult<'start'>['outputs'][number]
  function tamper(output: Output, change: (v: Record<string, unknown>) => void): Output {
    const value = decode(output)
    change(value)
    return { name: output.name, data: Buffer.from(JSON.stringify(value)).toString('base64') }
  }
  const flip = (hex: unknown): string => `${String(hex)[0] === 'a' ? 'b' : 'a'}${String(hex).slice(1)}`

  it('accepts the real outputs of every op and refuses each tampered one, naming the field', async () => {
    const splitTask = { op: 'split', params: { ...shared, segments: 2 }, inputs: [] }
    const split = await runOp(splitTask)
    const splitOut = split.outputs[0]!
    const splitIn = asInput('split', splitOut)
    const proveTask = (segment: number): PluginParams<'verify'> & { outputs: [] } => ({ op: 'prove', params: { ...shared, segment }, inputs: [splitIn], outputs: [] })
    const p0 = (await runOp(proveTask(0))).outputs[0]!
    const p1 = (await runOp(proveTask(1))).outputs[0]!
    const aggTask = { op: 'aggregate', params: shared, inputs: [asInput('prove-0', p0), asInput('prove-1', p1)] }
    const agg = (await runOp(aggTask)).outputs[0]!
    const snarkTask = { op: 'snark', params: { ...shared, segments: 2 }, inputs: [asInput('agg', agg)] }
    const snark = (await runOp(snarkTask)).outputs[0]!

    const cases: Array<[PluginParams<'verify'>, Output, (v: Record<string, unknown>) => void, string]> = [
      [{ ...splitTask, outputs: [] }, splitOut, (v) => (v['end'] = flip(v['end'])), 'end'],
      [{ ...splitTask, outputs: [] }, splitOut, (v) => ((v['starts'] as string[])[1] = flip((v['starts'] as string[])[1])), 'starts.1'],
      [proveTask(1), p1, (v) => (v['end'] = flip(v['end'])), 'end'],
      [proveTask(1), p1, (v) => (v['digest'] = flip(v['digest'])), 'digest'],
      [{ ...aggTask, outputs: [] }, agg, (v) => (v['to'] = 1200), 'to'],
      [{ ...snarkTask, outputs: [] }, snark, (v) => (v['seed'] = 'abd'), 'seed'],
    ]
    for (const [task, output, change, field] of cases) {
      expect(await verifyOp({ ...task, outputs: [output] })).toEqual({ valid: true })
      const result = await verifyOp({ ...task, outputs: [tamper(output, change)] })
      expect(result.valid).toBe(false)
      expect(result.reason).toContain(`output ${output.name}: ${field} `)
    }
  })

  it('refuses outputs that are missing, renamed, not JSON, or made by an invalid task', async () => {
    const task = { op: 'split', params: { ...shared, segments: 1 }, inputs: [] }
    const { outputs } = await runOp(task)
    const out = outputs[0]!
    expect((await verifyOp({ ...task, outputs: [] })).valid).toBe(false)
    expect((await verifyOp({ ...task, outputs: [{ ...out, name: 'other' }] })).valid).toBe(false)
    expect((await verifyOp({ ...task, outputs: [out, out] })).valid).toBe(false)
    const notJson = await verifyOp({ ...task, outputs: [{ name: out.name, data: Buffer.from('{nope').toString('base64') }] })
    expect(notJson).toEqual({ valid: false, reason: 'output segments is not JSON' })
    const badTask = await verifyOp({ ...task, params: { seed: 'abc' }, outputs })
    expect(badTask.valid).toBe(false)
    expect(badTask.reason).toContain('the task itself is invalid')
    // Key order does not matter: the JSON is compared, not the bytes.
    const reordered = Object.fromEntries(Object.entries(decode(out)).reverse())
    expect(await verifyOp({ ...task, outputs: [{ name: out.name, data: Buffer.from(JSON.stringify(reordered)).toString('base64') }] })).toEqual({ valid: true })
    expect((await rejection(verifyOp({ ...task, op: 'nope', outputs }))).code).toBe('TASK_INVALID')
  })
})

describe('PluginServer', () => {
  function server(): { s: PluginServer; lines: unknown[]; exits: number[]; next: () => Promise<Record<string, unknown>> } {
    const lines: unknown[] = []
    const exits: number[] = []
    const waiters: Array<() => void> = []
    const s = new PluginServer({
      send: (line) => {
        const parsed: unknown = JSON.parse(line)
        expect(PluginResponse.safeParse(parsed).success).toBe(true)
        lines.push(parsed)
        waiters.shift()?.()
      },
      exit: (code) => exits.push(code),
    })
    let read = 0
    const next = async (): Promise<Record<string, unknown>> => {
      if (lines.length <= read) await new Promise<void>((resolve) => waiters.push(resolve))
      return lines[read++] as Record<string, unknown>
    }
    return { s, lines, exits, next }
  }

  it('answers init, protocol errors, tasks, a cancel and a full stop', async () => {
    const { s, exits, next } = server()
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'init', params: { protocolVersion: 1, config: {} } }))
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 1, result: { name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] } })
    s.handleLine('{oops')
    expect(await next()).toMatchObject({ id: null, error: { code: 'PROTOCOL_ERROR' } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'prove', params: {} }))
    expect(await next()).toMatchObject({ id: 2, error: { code: 'PROTOCOL_ERROR' } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'start', params: { taskId: 't' } }))
    expect(await next()).toMatchObject({ id: 3, error: { code: 'PROTOCOL_ERROR' } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'init', params: { protocolVersion: 99, config: {} } }))
    expect(await next()).toMatchObject({ id: 4, error: { code: 'PROTOCOL_ERROR' } })
    const long = { taskId: 'long', op: 'split', params: { seed: 's', segments: 100, segmentSteps: 10_000_000 }, inputs: [] }
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'start', params: long }))
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'start', params: { ...long, taskId: 'quick', params: { seed: 's', segments: 1, segmentSteps: 10 } } }))
    expect(await next()).toMatchObject({ id: 6, result: { outputs: [{ name: 'segments' }] } })
    expect(s.running).toBe(1)
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'stop', params: { taskId: 'long' } }))
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 7, result: {} })
    expect(await next()).toMatchObject({ id: 5, error: { code: 'TASK_CANCELLED' } })
    expect(exits).toEqual([])
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'stop', params: {} }))
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 8, result: {} })
    expect(exits).toEqual([0])
  })

  it('answers describe before init, refuses start and verify before init, then verifies', async () => {
    const { s, next } = server()
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'describe', params: {} }))
    const described = await next()
    expect(described).toEqual({ jsonrpc: '2.0', id: 1, result: describePlugin() })
    expect(described['result']).toMatchObject({
      name: PLUGIN_NAME,
      version: PLUGIN_VERSION,
      protocolVersion: 1,
      resources: { cpuCores: 1, memoryMiB: 128 },
      notes: expect.any(String),
    })
    expect((described['result'] as { ops: Array<{ name: string }> }).ops.map((o) => o.name)).toEqual([...OP_NAMES])
    const task = { op: 'split', params: { ...shared, segments: 1 }, inputs: [] }
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'start', params: { taskId: 't', ...task } }))
    expect(await next()).toMatchObject({ id: 2, error: { code: 'PROTOCOL_ERROR', message: expect.stringContaining('init') } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'verify', params: { ...task, outputs: [] } }))
    expect(await next()).toMatchObject({ id: 3, error: { code: 'PROTOCOL_ERROR' } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'init', params: { protocolVersion: 1, config: {} } }))
    expect(await next()).toMatchObject({ id: 4, result: { name: PLUGIN_NAME } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'start', params: { taskId: 't', ...task } }))
    const started = await next()
    const outputs = (started['result'] as PluginResult<'start'>).outputs
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'verify', params: { ...task, outputs } }))
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 6, result: { valid: true } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'verify', params: { ...task, outputs: [] } }))
    expect(await next()).toMatchObject({ id: 7, result: { valid: false, reason: expect.any(String) } })
    s.handleLine(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'describe', params: { extra: 1 } }))
    expect(await next()).toMatchObject({ id: 8, error: { code: 'PROTOCOL_ERROR' } })
  })
})

describe('manifest', () => {
  it('galactic-plugin.json is a valid manifest matching what init answers', () => {
    const path = fileURLToPath(new URL('../galactic-plugin.json', import.meta.url))
    const manifest = PluginManifest.parse(JSON.parse(readFileSync(path, 'utf8')))
    expect(manifest).toMatchObject({ name: PLUGIN_NAME, version: PLUGIN_VERSION, ops: [...OP_NAMES] })
    expect(manifest.runtime).toEqual({ type: 'process', command: ['node', 'dist/main.js'] })
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { galactic?: { manifest?: string } }
    expect(pkg.galactic?.manifest).toBe('galactic-plugin.json')
  })
})
