#!/usr/bin/env node
/**
 * Checks a final proof of the o1js-chain plugin (a `snark` output, JSON) on its own: the proof with
 * o1js against the verification key of the key cache, its public output [start, 0, steps, end],
 * and that it starts from s0 of the seed (see `verifyFinal`). Prints `{"valid":true}` or
 * `{"valid":false,"reason":...}` and exits 0 when valid, 1 when not, 2 on a usage error.
 *
 * The first verification in a process takes about 15 s of CPU (o1js builds the verifier's
 * tables); the plugin must be built and its cache filled (npm run setup -w @galactic/plugin-o1js-chain).
 *
 * Usage: node scripts/verify.mjs SNARK.json [--seed SEED] [--segments N] [--cache DIR]
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const DIST = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist')
const usage = 'usage: node scripts/verify.mjs SNARK.json [--seed SEED] [--segments N] [--cache DIR]'

function parseArgs(argv) {
  const out = { file: undefined, options: {} }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--seed') out.options.seed = String(argv[++i])
    else if (a === '--segments') out.options.segments = Number(argv[++i])
    else if (a === '--cache') out.cache = resolve(String(argv[++i]))
    else if (a === '--help' || a === '-h') {
      console.log(usage)
      process.exit(0)
    } else if (out.file === undefined && !a.startsWith('--')) out.file = a
    else throw new Error(`unknown argument ${a}`)
  }
  if (out.file === undefined) throw new Error('name the snark output file')
  if (out.options.segments !== undefined && !Number.isInteger(out.options.segments)) throw new Error('--segments must be an integer')
  return out
}

let args
try {
  args = parseArgs(process.argv.slice(2))
} catch (err) {
  console.error(`${err.message}\n${usage}`)
  process.exit(2)
}
const { KeyCache, verifyFinal } = await import(join(DIST, 'index.js'))
const result = await verifyFinal(JSON.parse(readFileSync(args.file, 'utf8')), { ...args.options, keys: new KeyCache(args.cache) })
console.log(JSON.stringify(result))
process.exit(result.valid ? 0 : 1)
