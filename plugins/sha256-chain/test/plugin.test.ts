import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { GalacticError, PluginManifest, PluginResponse, contentHash, type PluginParams, type PluginResult } from '@galactic/schemas'
import { OP_NAMES, PLUGIN_NAME, PLUGIN_VERSION, PluginServer, parseOpParams, runOp, verifySnark } from '../src/index.js'

type Input = PluginParams<'start'>['inputs'][number]

function asInput(opId: string, output: PluginResult<'start'>['outputs'][number]): Input {
  return { opId, name: output.name, hash: contentHash(Buffer.from(output.data, 'base64')), data: output.data }
}

function decode(output: PluginResult<'start'>['outputs'][number] | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(output?.data ?? '', 'base64').toString('utf8')) as Record<string, unknown>
}

async function failure(p: Promise<unknown>): Promise<GalacticError> {
  try {
    await p
  } catch (err) {
    if (err instanceof GalacticError) return err
    throw err
  }
  throw new Error('expected a rejection')
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
    const swapped = await failure(runOp({ op: 'aggregate', params: shared, inputs: [asInput('prove-1', proofs[1]!), asInput('prove-0', proofs[0]!)] }))
    expect(swapped.code).toBe('TASK_INVALID')
    // A root that covers only part of the chain is refused when segments is known.
    const partial = await failure(runOp({ op: 'snark', params: { ...shared, segments: 3 }, inputs: [asInput('agg-0-0', agg)] }))
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
    const err = await failure(runOp({ op: 'split', params, inputs: [] }))
    expect(err.code).toBe('TASK_INVALID')
    expect(err.issues.map((i) => i.path)).toEqual([field])
    expect(err.message).toContain(field)
  })

  it('prove params: missing or out-of-range segment -> TASK_INVALID naming it', async () => {
    const split = await runOp({ op: 'split', params: { ...shared, segments: 2 }, inputs: [] })
    const inputs = [asInput('split', split.outputs[0]!)]
    for (const params of [shared, { ...shared, segment: -1 }, { ...shared, segment: 2 }, { ...shared, segment: 'zero' }]) {
      const err = await failure(runOp({ op: 'prove', params, inputs }))
      expect(err.code).toBe('TASK_INVALID')
      expect(err.issues.map((i) => i.path)).toEqual(['segment'])
    }
    // A split output made with another seed is refused.
    const other = await failure(runOp({ op: 'prove', params: { ...shared, seed: 'abd', segment: 0 }, inputs }))
    expect(other.code).toBe('TASK_INVALID')
  })

  it('params that are not an object, unknown ops and wrong inputs -> TASK_INVALID', async () => {
    expect(() => parseOpParams('split', 'nope')).toThrow(expect.objectContaining({ code: 'TASK_INVALID' }))
    expect((await failure(runOp({ op: 'verify', params: shared, inputs: [] }))).code).toBe('TASK_INVALID')
    expect((await failure(runOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [] }))).code).toBe('TASK_INVALID')
    const garbage: Input = { opId: 'split', name: 'segments', hash: contentHash(Buffer.from('x')), data: Buffer.from('{not json').toString('base64') }
    expect((await failure(runOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [garbage] }))).code).toBe('TASK_INVALID')
    expect((await failure(runOp({ op: 'snark', params: shared, inputs: [garbage] }))).code).toBe('TASK_INVALID')
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
