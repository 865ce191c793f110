#!/usr/bin/env node
/**
 * Times every op of the o1js-chain plugin in-process (the same runOp the plugin serves, with one
 * prover process kept for all proofs), and the memory each needs. Needs the plugin built and its
 * key cache filled.
 *
 * Usage: node scripts/bench.mjs [--segments N] [--seed S] [--json]
 *   Prints one line per step: wall time, the prover process' CPU time and peak memory (for
 *   proofs), this process' peak memory. Proving runs segments one after the other.
 */
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const DIST = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist')
const { KeyCache, Prover, runOp, verifyOp, verifyFinal, chooseBackend, o1jsVersion } = await import(join(DIST, 'index.js'))
const { contentHash } = await import('@galactic/schemas')

const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(name)
  return i === -1 ? fallback : argv[i + 1]
}
const segments = Number(opt('--segments', '2'))
const seed = opt('--seed', 'bench')
const json = argv.includes('--json')
if (!Number.isInteger(segments) || segments < 1) throw new Error('--segments must be a positive integer')

const keys = new KeyCache()
keys.check()
const rows = []
const record = (step, ms, extra = {}) => {
  const row = { step, seconds: Math.round(ms / 100) / 10, pluginMaxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), ...extra }
  rows.push(row)
  if (!json) console.log(JSON.stringify(row))
}
const asInput = (opId, output) => ({ opId, name: output.name, hash: contentHash(Buffer.from(output.data, 'base64')), data: output.data })

let lastStats
const prover = new Prover({ keys })
// Keep the stats of each proof: wrap the prover's methods.
for (const m of ['leaf', 'merge']) {
  const inner = prover[m].bind(prover)
  prover[m] = async (...a) => {
    const r = await inner(...a)
    lastStats = r.stats
    return r
  }
}
const shared = { seed, segments, segmentSize: 16 }
const ctx = { prover }
const timed = async (step, fn, proofStats = false) => {
  lastStats = undefined
  const t = performance.now()
  const out = await fn()
  const extra = proofStats && lastStats ? { proverCpuSeconds: Math.round(lastStats.cpuMs / 100) / 10, proverMaxRssMiB: Math.round(lastStats.maxRssMiB), proverRssAfterMiB: Math.round(lastStats.rssMiB) } : {}
  record(step, performance.now() - t, extra)
  return out
}

try {
  const ready = await timed('prover start (compile from the cache)', () => prover.ready())
  const splitOut = (await timed(`split (${segments} segments)`, () => runOp({ op: 'split', params: shared, inputs: [] }, ctx))).outputs[0]
  const splitIn = asInput('split', splitOut)
  let level = []
  for (let i = 0; i < segments; i++) {
    const out = (await timed(`prove ${i} (leaf)`, () => runOp({ op: 'prove', params: { ...shared, segment: i }, inputs: [splitIn] }, ctx), true)).outputs[0]
    level.push({ id: `prove-${i}`, out })
  }
  const firstLeaf = level[0]
  for (let depth = 0; level.length > 1; depth++) {
    const next = []
    for (let i = 0; i + 1 < level.length; i += 2) {
      const id = `agg-${depth}-${i / 2}`
      const out = (await timed(`aggregate ${id} (merge)`, () => runOp({ op: 'aggregate', params: shared, inputs: [asInput(level[i].id, level[i].out), asInput(level[i + 1].id, level[i + 1].out)] }, ctx), true)).outputs[0]
      next.push({ id, out })
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1])
    level = next
  }
  const root = level[0]
  const snarkOut = (await timed('snark (verify the root, first verification in this process)', () => runOp({ op: 'snark', params: shared, inputs: [asInput(root.id, root.out)] }, ctx))).outputs[0]
  await timed('verify prove-0 (oracle side)', () => verifyOp({ op: 'prove', params: { ...shared, segment: 0 }, inputs: [splitIn], outputs: [firstLeaf.out] }, { keys }))
  await timed('verify snark (verifyFinal)', () => verifyFinal(JSON.parse(Buffer.from(snarkOut.data, 'base64').toString('utf8')), { seed, segments, keys }))
  const sizes = { leafProofBytes: Buffer.from(firstLeaf.out.data, 'base64').length, rootProofBytes: Buffer.from(root.out.data, 'base64').length, snarkBytes: Buffer.from(snarkOut.data, 'base64').length }
  const summary = { o1js: o1jsVersion(), backend: ready.backend, cpus: cpus().length, segments, ...sizes }
  if (json) console.log(JSON.stringify({ summary, rows }))
  else console.log(JSON.stringify(summary))
} finally {
  await prover.close()
}
process.exit(0)
