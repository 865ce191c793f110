import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_GAS_TABLE, compileCostModel, graphGas } from '@galactic/gas'
import { GAS_MODEL as SHA256_MODEL } from '@galactic/plugin-sha256-chain'
import { GasTable, buildZkmGraph, parseGraph, type GraphInput } from '@galactic/schemas'

// `galactic gas calibrate|estimate`, run as the real CLI (cli/dist/main.js, built by `npm run build`)
// with the real bundled plugins answering describe in their own processes.

const CLI = fileURLToPath(new URL('../dist/main.js', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

function galactic(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

let dir: string
const file = (name: string, value: unknown): string => {
  const path = join(dir, name)
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value))
  return path
}

function zkm(plugin: string, segments: number, params: Record<string, unknown>): GraphInput {
  return buildZkmGraph({ requester: 'r', nonce: '1', segments, plugin: { name: plugin, version: '1.0.0' }, params })
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'galactic-gas-cli-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('galactic gas estimate', () => {
  const shaGraph = zkm('sha256-chain', 6, { seed: 'hello', segmentSteps: 1000 })

  it("prints each op's gas and the total from the plugin's describe, and the price with --p-gas", async () => {
    const r = await galactic(['gas', 'estimate', file('sha.json', shaGraph), '--p-gas', '1000'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const expected = graphGas(DEFAULT_GAS_TABLE, new Map([['sha256-chain@1.0.0', compileCostModel(SHA256_MODEL)]]), parseGraph(shaGraph))
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe('gas table: analytic-v1')
    expect(lines[1]).toMatch(/^OP\s+NAME\s+PLUGIN\s+GAS\s+PRICE \(wei\)$/)
    for (const op of expected.ops) {
      const row = lines.find((l) => l.startsWith(`${op.opId} `))
      expect(row, op.opId).toBeDefined()
      expect(row?.split(/\s+/)).toEqual([op.opId, op.name, 'sha256-chain@1.0.0', op.gas.toLocaleString('en-US'), String(op.gas * 1000)])
    }
    expect(lines).toContain(`total: ${expected.total.toLocaleString('en-US')} gas`)
    expect(lines).toContain(`price: P = P_gas x Gas = 1000 wei/gas x ${expected.total} gas = ${expected.total * 1000} wei`)
    // One prove op is segmentSteps + 2 SHA-256 blocks.
    expect(expected.ops.find((o) => o.opId === 'prove-0')?.gas).toBe(1002 * 2296)
  })

  it('--json: per-op gas, terms and price; the total price in bigint wei', async () => {
    const pGas = '123456789012345678901234567890'
    const r = await galactic(['gas', 'estimate', file('sha.json', shaGraph), '--p-gas', pGas, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as {
      table: string
      ops: Array<{ opId: string; gas: number; price: string; terms: Array<{ unit: string; count: number; gas: number }> }>
      totalGas: number
      pGas: string
      totalPrice: string
    }
    expect(out.table).toBe('analytic-v1')
    expect(out.ops.map((o) => o.opId)).toEqual(parseGraph(shaGraph).ops.map((o) => o.id))
    expect(out.totalGas).toBe(out.ops.reduce((a, o) => a + o.gas, 0))
    expect(out.pGas).toBe(pGas)
    expect(out.totalPrice).toBe((BigInt(out.totalGas) * BigInt(pGas)).toString())
    for (const op of out.ops) expect(op.price).toBe((BigInt(op.gas) * BigInt(pGas)).toString())
    expect(out.ops[0]?.terms).toEqual([{ unit: 'hash:sha256', count: 6001, gas: 6001 * 2296 }])
  })

  it('uses the --table file, and the other bundled plugins by default (groth16-chain, noop)', async () => {
    const doubled = { ...DEFAULT_GAS_TABLE, name: 'doubled', units: { ...DEFAULT_GAS_TABLE.units, 'hash:sha256': { gas: 2 * 2296, per: 'x' } } }
    const base = JSON.parse((await galactic(['gas', 'estimate', file('sha.json', shaGraph), '--json'])).stdout) as { totalGas: number }
    const r = await galactic(['gas', 'estimate', file('sha.json', shaGraph), '--table', file('doubled.json', doubled), '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { table: string; totalGas: number }
    expect(out.table).toBe('doubled')
    expect(out.totalGas).toBe(2 * base.totalGas)

    const g16 = await galactic(['gas', 'estimate', file('g16.json', zkm('groth16-chain', 4, { seed: 's', segmentSize: 16 })), '--json'])
    expect(g16.stderr).toBe('')
    const proves = (JSON.parse(g16.stdout) as { ops: Array<{ opId: string; gas: number }> }).ops.filter((o) => o.opId.startsWith('prove-'))
    expect(proves).toHaveLength(4)
    expect(new Set(proves.map((o) => o.gas)).size).toBe(1)
    expect(proves[0]?.gas).toBeGreaterThan(0)

    const noop = await galactic(['gas', 'estimate', file('noop.json', zkm('noop', 2, {})), '--json'])
    expect((JSON.parse(noop.stdout) as { totalGas: number }).totalGas).toBe(5 * 2 * 2296)
  })

  it('a bad graph file names the problem and exits 1', async () => {
    const notJson = await galactic(['gas', 'estimate', file('bad.json', '{ nope')])
    expect(notJson.code).toBe(1)
    expect(notJson.stderr).toMatch(/error \[INVALID_INPUT\]: .*bad\.json is not JSON/)

    const noOps = await galactic(['gas', 'estimate', file('empty.json', { requester: 'r', nonce: '1', ops: [] })])
    expect(noOps.code).toBe(1)
    expect(noOps.stderr).toMatch(/error \[INVALID_GRAPH\]: invalid graph: ops: /)

    const ops = parseGraph(shaGraph).ops.map((op) => (op.id === 'prove-3' ? { ...op, params: { seed: 'hello' } } : op))
    const missing = await galactic(['gas', 'estimate', file('missing.json', { ...shaGraph, ops }), '--json'])
    expect(missing.code).toBe(1)
    const error = (JSON.parse(missing.stdout) as { error: { code: string; message: string } }).error
    expect(error.code).toBe('INVALID_GRAPH')
    expect(error.message).toMatch(/op "prove-3"\): op "prove": terms\[0\]\.count: params\.segmentSteps is missing/)

    const other = zkm('unknown-plugin', 1, {})
    const unknown = await galactic(['gas', 'estimate', file('unknown.json', other)])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/no --plugins manifest for unknown-plugin@1\.0\.0/)
  })

  it('a bad --p-gas or --table names the problem and exits 1', async () => {
    const graph = file('sha.json', shaGraph)
    for (const bad of ['-5', '1.5']) {
      const r = await galactic(['gas', 'estimate', graph, '--p-gas', bad])
      expect(r.code, bad).toBe(1)
      expect(r.stderr, bad).toMatch(/^error \[INVALID_INPUT\]: --p-gas: .* is not an integer amount of wei/)
    }
    const json = await galactic(['gas', 'estimate', graph, '--p-gas', 'x', '--json'])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'INVALID_INPUT', message: expect.stringMatching(/^--p-gas: /) } })
    const { 'hash:keccak256': _gone, ...units } = DEFAULT_GAS_TABLE.units
    const table = await galactic(['gas', 'estimate', graph, '--table', file('t.json', { ...DEFAULT_GAS_TABLE, units })])
    expect(table.code).toBe(1)
    expect(table.stderr).toMatch(/error \[INVALID_INPUT\]: invalid gas table .*t\.json: units\.hash:keccak256/)
  })
})

describe('galactic gas calibrate', () => {
  it('measures this machine, writes the table, and estimate uses it', async () => {
    const out = join(dir, 'measured.json')
    const r = await galactic(['gas', 'calibrate', '--budget-ms', '1500', '--out', out, '--json'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toHaveLength(1)
    const printed = GasTable.parse(JSON.parse(r.stdout))
    expect(GasTable.parse(JSON.parse(readFileSync(out, 'utf8')))).toEqual(printed)
    expect(printed.measured?.nsPerGas).toBeGreaterThan(0)

    const human = await galactic(['gas', 'calibrate', '--budget-ms', '1000', '--out', join(dir, 'human.json')])
    expect(human.code).toBe(0)
    const lines = human.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^UNIT\s+GAS\s+TIME\/UNIT\s+PER$/)
    for (const unit of Object.keys(DEFAULT_GAS_TABLE.units)) expect(lines.some((l) => l.startsWith(`${unit} `)), unit).toBe(true)
    expect(lines[lines.length - 1]).toMatch(/^calibrated in [0-9.]+ s on .*: 1 gas = .*, [0-9.]+ Mgas\/s; wrote .*human\.json$/)
    expect(human.stderr).toMatch(/msm:bn254 @16: /)

    const est = await galactic(['gas', 'estimate', file('sha.json', zkm('sha256-chain', 2, { seed: 'a', segmentSteps: 10 })), '--table', out])
    expect(est.code).toBe(0)
    expect(est.stdout.split('\n')[0]).toBe(`gas table: ${printed.name}`)
  })

  it('refuses a budget out of range, naming the option', async () => {
    const r = await galactic(['gas', 'calibrate', '--budget-ms', '10', '--out', join(dir, 'never.json')])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/--budget-ms must be an integer from 1000 to 600000/)
  })
})
