import { writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { Command } from 'commander'
import { GalacticError, parseGraph, pluginKey, type GasTable, type GasUnit, type PluginManifest } from '@galactic/schemas'
import type { CompiledCostModel, GraphGas } from '@galactic/gas'
import { table as textTable } from '../format.js'
import { BUNDLED_PLUGINS, fail, intOption, readJsonFile } from '../util.js'

/** Manifests `gas estimate` describes when no --plugins are given: the bundled plugins and noop. */
export function defaultEstimatePlugins(): string[] {
  const bundled = Object.values(BUNDLED_PLUGINS) as string[]
  const noop = join(dirname(dirname(BUNDLED_PLUGINS['sha256-chain'])), 'noop', 'galactic-plugin.json')
  return [...new Set([...bundled, noop].map((p) => resolve(p)))]
}

/** Milliseconds a plugin's `describe` may take (start included) before `gas estimate` gives up. */
const DESCRIBE_TIMEOUT_MS = 30_000

/**
 * The compiled cost models of the plugins `keys` names (`name@version`), from the `describe` of the
 * local process plugins whose manifests are `manifests`. Throws INVALID_INPUT for a plugin no manifest
 * names or a non-process one, PLUGIN_FAILED when describe fails, INVALID_GAS_MODEL for a plugin with
 * no or a malformed cost model.
 */
export async function costModelsFromPlugins(manifests: readonly string[], keys: ReadonlySet<string>): Promise<Map<string, CompiledCostModel>> {
  const { loadPluginManifest, ProcessRuntime } = await import('@galactic/plugin-runtime')
  const { compileCostModel } = await import('@galactic/gas')
  const found = new Map<string, { manifest: PluginManifest; dir: string; file: string }>()
  for (const file of manifests) {
    const loaded = loadPluginManifest(file)
    const key = pluginKey(loaded.manifest)
    if (keys.has(key) && !found.has(key)) found.set(key, { ...loaded, file })
  }
  const missing = [...keys].filter((k) => !found.has(k))
  if (missing.length > 0) {
    throw new GalacticError('INVALID_INPUT', `no --plugins manifest for ${missing.join(', ')}: the graph uses ${missing.length === 1 ? 'it' : 'them'} (give each plugin's galactic-plugin.json)`, {
      plugins: missing,
    })
  }
  const stderr: string[] = []
  const runtime = new ProcessRuntime({ closeGraceMs: 1000 }, { log: (line) => stderr.push(line) })
  const models = new Map<string, CompiledCostModel>()
  for (const [key, { manifest, dir, file }] of found) {
    if (manifest.runtime.type !== 'process') {
      throw new GalacticError('INVALID_INPUT', `plugin ${key} (${file}) runs in ${manifest.runtime.type}: gas estimate asks process plugins only`, { plugin: key })
    }
    const signal = AbortSignal.timeout(DESCRIBE_TIMEOUT_MS)
    const instance = await runtime.launch(manifest, dir, signal)
    let described
    try {
      described = await instance.describe(signal)
    } finally {
      await instance.close()
    }
    if (described.gas === undefined) {
      throw new GalacticError('INVALID_GAS_MODEL', `plugin ${key} has no cost model: its describe answers no gas`, { plugin: key })
    }
    try {
      models.set(key, compileCostModel(described.gas))
    } catch (err) {
      const e = GalacticError.from(err)
      throw new GalacticError(e.code, `plugin ${key}: ${e.message}`, { ...e.details, plugin: key }, { cause: err })
    }
  }
  return models
}

function fmtGas(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 2 : 1 })
}

function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} us`
  return `${ns.toFixed(1)} ns`
}

/** A calibrated table for a terminal: unit, gas, time per unit, sizes. */
export function calibrationSummary(t: GasTable): string {
  const nsPerGas = t.measured?.nsPerGas
  const rows = (Object.entries(t.units) as Array<[GasUnit, GasTable['units'][GasUnit]]>).map(([unit, cost]) => [
    unit,
    fmtGas(cost.gas),
    nsPerGas === undefined ? '-' : fmtNs(cost.gas * nsPerGas),
    cost.sizes === undefined ? cost.per : `${cost.per}; by size: ${cost.sizes.map((s) => `2^${s.log2} ${fmtGas(Math.round(s.gas))}`).join(', ')}`,
  ])
  return textTable(['UNIT', 'GAS', 'TIME/UNIT', 'PER'], rows)
}

/** A graph's gas for a terminal: op, name, plugin, gas (and price), then the totals. */
export function estimateText(tableName: string, priced: GraphGas, pGas: bigint | undefined): string {
  const rows = priced.ops.map((op) => [
    op.opId,
    op.name,
    pluginKey(op.plugin),
    fmtGas(op.gas),
    ...(pGas === undefined ? [] : [(BigInt(op.gas) * pGas).toString()]),
  ])
  const head = ['OP', 'NAME', 'PLUGIN', 'GAS', ...(pGas === undefined ? [] : ['PRICE (wei)'])]
  const lines = [`gas table: ${tableName}`, textTable(head, rows).trimEnd(), `total: ${fmtGas(priced.total)} gas`]
  if (pGas !== undefined) lines.push(`price: P = P_gas x Gas = ${pGas} wei/gas x ${priced.total} gas = ${BigInt(priced.total) * pGas} wei`)
  return `${lines.join('\n')}\n`
}

interface CalibrateOpts {
  out: string
  budgetMs: number
  json?: boolean
}

interface EstimateOpts {
  table?: string
  pGas?: string
  oracle?: string
  plugins?: string[]
  json?: boolean
}

/** `galactic gas calibrate|estimate`: measure this machine's gas table; price a graph (docs/pricing.md). */
export function gasCommand(): Command {
  const gas = new Command('gas').description('gas: measure unit costs on this machine, estimate a graph\'s gas and price (docs/pricing.md)')
  gas
    .command('calibrate')
    .description('run real microbenchmarks (field ops, MSM, NTT, hashes) and write a gas table measured on this machine')
    .option('--out <file>', 'where to write the table', 'gas-table.json')
    .option('--budget-ms <n>', 'milliseconds to spend, roughly (more: larger MSM sizes, more samples)', intOption('--budget-ms', 1000, 600_000), 20_000)
    .option('--json', 'print the table as one JSON line instead of the summary')
    .action(async (opts: CalibrateOpts) => {
      const json = opts.json === true
      const controller = new AbortController()
      const onSignal = (): void => controller.abort()
      process.once('SIGINT', onSignal)
      try {
        const { calibrate, gasPerSecond } = await import('@galactic/gas')
        const started = performance.now()
        if (!json) process.stderr.write(`calibrating for about ${(opts.budgetMs / 1000).toFixed(0)} s...\n`)
        const t = await calibrate({
          budgetMs: opts.budgetMs,
          signal: controller.signal,
          ...(json
            ? {}
            : {
                onProgress: (p) =>
                  process.stderr.write(`  ${p.unit}${p.size === undefined ? '' : ` @${p.size}`}: ${fmtNs(p.nsPerUnit)} per unit (median of ${p.samples})\n`),
              }),
        })
        const seconds = (performance.now() - started) / 1000
        writeFileSync(opts.out, `${JSON.stringify(t, null, 2)}\n`)
        if (json) {
          process.stdout.write(`${JSON.stringify(t)}\n`)
          return
        }
        const speed = gasPerSecond(t)
        process.stdout.write(calibrationSummary(t))
        process.stdout.write(
          `calibrated in ${seconds.toFixed(1)} s on ${t.measured?.cpu ?? 'this machine'}: 1 gas = ${fmtNs(t.measured?.nsPerGas ?? 0)}, ` +
            `${(speed / 1e6).toFixed(2)} Mgas/s; wrote ${opts.out}\n`,
        )
      } catch (err) {
        fail(err, json)
      } finally {
        process.off('SIGINT', onSignal)
      }
    })
  gas
    .command('estimate')
    .description("print a graph's gas per op and in total, and its price P = P_gas x Gas with --p-gas")
    .argument('<graph>', 'graph JSON file (- for stdin)')
    .option('--table <file>', 'gas table (from `galactic gas calibrate`); default: the analytic table')
    .option('--p-gas <wei>', 'price per gas in wei (a decimal integer): also print each price and the total')
    .option('--oracle <url>', "take P_gas from this oracle's WebSocket URL (its current price) instead of --p-gas")
    .option('--plugins <manifest...>', "plugins' galactic-plugin.json whose describe gives the cost models (default: the bundled plugins)")
    .option('--json', 'print JSON')
    .action(async (file: string, opts: EstimateOpts) => {
      const json = opts.json === true
      try {
        const { DEFAULT_GAS_TABLE, graphGas, parseGasTable, parseWei } = await import('@galactic/gas')
        if (opts.pGas !== undefined && opts.oracle !== undefined) throw new GalacticError('INVALID_INPUT', '--p-gas and --oracle: give one of them, not both')
        const pGas = opts.pGas !== undefined ? parseWei(opts.pGas, '--p-gas') : opts.oracle !== undefined ? await oraclePGas(opts.oracle) : undefined
        const t = opts.table === undefined ? DEFAULT_GAS_TABLE : parseGasTable(readJsonFile(opts.table), `gas table ${opts.table}`)
        const graph = parseGraph(readJsonFile(file))
        const keys = new Set(graph.ops.map((op) => pluginKey(op.plugin)))
        const models = await costModelsFromPlugins(opts.plugins ?? defaultEstimatePlugins(), keys)
        const priced = graphGas(t, models, graph)
        if (json) {
          const out = {
            table: t.name,
            ops: priced.ops.map((op) => ({
              opId: op.opId,
              name: op.name,
              plugin: pluginKey(op.plugin),
              gas: op.gas,
              ...(pGas === undefined ? {} : { price: (BigInt(op.gas) * pGas).toString() }),
              terms: op.terms,
            })),
            totalGas: priced.total,
            ...(pGas === undefined ? {} : { pGas: pGas.toString(), totalPrice: (BigInt(priced.total) * pGas).toString() }),
          }
          process.stdout.write(`${JSON.stringify(out)}\n`)
        } else process.stdout.write(estimateText(t.name, priced, pGas))
      } catch (err) {
        fail(err, json)
      }
    })
  return gas
}

/** The oracle's current P_gas (wei per gas). */
async function oraclePGas(url: string): Promise<bigint> {
  const { GalacticClient } = await import('@galactic/sdk')
  const client = new GalacticClient({ url })
  try {
    return BigInt((await client.pGas()).current.pGas)
  } finally {
    client.close()
  }
}
