#!/usr/bin/env node
/**
 * Times the groth16-chain ops in this process on the built circuits (after `npm run build` and
 * `npm run setup`): split, prove, aggregate, snark, and verify for each, per segment size.
 *
 * Usage: node scripts/bench.mjs [--segments 4] [--runs 3]
 * Prints one JSON object per segment size: median milliseconds per op.
 */
import { cpus } from 'node:os'
import { Artifacts, asInput, releaseProver, runOp, verifyFinal, verifyOp, decodeOutput } from '../dist/index.js'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const segments = arg('segments', 4)
const runs = arg('runs', 3)
const artifacts = new Artifacts()
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const timed = async (bucket, key, fn) => {
  const t = performance.now()
  const r = await fn()
  ;(bucket[key] ??= []).push(performance.now() - t)
  return r
}

for (const segmentSize of artifacts.sizes()) {
  const ms = {}
  const params = { seed: 'bench', segments, segmentSize }
  const ctx = { artifacts }
  // Warm up: builds Poseidon, the curve and its worker threads.
  const warm = (await runOp({ op: 'split', params, inputs: [] }, ctx)).outputs[0]
  await runOp({ op: 'prove', params: { ...params, segment: 0 }, inputs: [asInput('split', warm)] }, ctx)
  for (let r = 0; r < runs; r++) {
    const split = (await timed(ms, 'split', () => runOp({ op: 'split', params, inputs: [] }, ctx))).outputs[0]
    const splitIn = asInput('split', split)
    await timed(ms, 'verify split', () => verifyOp({ op: 'split', params, inputs: [], outputs: [split] }, ctx))
    const proofs = []
    for (let s = 0; s < segments; s++) {
      const p = { ...params, segment: s }
      const out = (await timed(ms, 'prove', () => runOp({ op: 'prove', params: p, inputs: [splitIn] }, ctx))).outputs[0]
      const v = await timed(ms, 'verify prove', () => verifyOp({ op: 'prove', params: p, inputs: [splitIn], outputs: [out] }, ctx))
      if (!v.valid) throw new Error(v.reason)
      proofs.push(out)
    }
    // Two leaves, then the rest folded in (left-deep), timing each aggregate of two children.
    let left = { id: 'prove-0', out: proofs[0] }
    for (let s = 1; s < segments; s++) {
      const inputs = [asInput(left.id, left.out), asInput(`prove-${s}`, proofs[s])]
      const key = s === 1 ? 'aggregate (2 segment proofs)' : `aggregate (${s + 1} segments)`
      const out = (await timed(ms, key, () => runOp({ op: 'aggregate', params, inputs }, ctx))).outputs[0]
      const v = await timed(ms, `verify ${key}`, () => verifyOp({ op: 'aggregate', params, inputs, outputs: [out] }, ctx))
      if (!v.valid) throw new Error(v.reason)
      left = { id: `agg-${s}`, out }
    }
    const snark = (await timed(ms, `snark (${segments} segments)`, () => runOp({ op: 'snark', params, inputs: [asInput(left.id, left.out)] }, ctx))).outputs[0]
    const v = await timed(ms, `verifyFinal (${segments} segments)`, () => verifyFinal(decodeOutput(snark), { seed: 'bench', artifacts }))
    if (!v.valid) throw new Error(v.reason)
    ms['snark output bytes'] = [Buffer.from(snark.data, 'base64').length]
  }
  const out = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Math.round(median(v) * 10) / 10]))
  console.log(JSON.stringify({ segmentSize, segments, runs, cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, medianMs: out }, null, 2))
}
await releaseProver()
