#!/usr/bin/env node
/**
 * Fills the o1js-chain plugin's key cache (`cache/`, gitignored): compiles the recursive program
 * once with o1js, which makes the SRS, the Lagrange bases and each method's prover and verifier keys
 * and writes them there, then writes `verification-key.json` (the key's hash and data, the o1js
 * version, and a hash of what made it). From then on the plugin compiles from the cache in seconds.
 *
 * There is no ceremony: Kimchi's SRS is transparent (derived from public constants), so every
 * machine that compiles this program with the same o1js version gets the same verification key.
 *
 * A cache whose `verification-key.json` was made from the same o1js version and the same compiled
 * program is left alone (under a second). Runs of this script at the same time (two test files on
 * a fresh clone) wait for each other through a lock folder in the cache.
 *
 * Needs the plugin built (`npx tsc -b`, which `npm test` and `npm run build` run first).
 *
 * Usage: node scripts/setup.mjs [--out DIR] [--force] [--quiet]
 *   --out    cache folder; default <plugin>/cache, or $GALACTIC_O1JS_CACHE.
 *   --force  compile even when the cache looks up to date.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const PLUGIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const DIST = join(PLUGIN_DIR, 'dist')

function parseArgs(argv) {
  const out = { dir: undefined, force: false, quiet: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--out') out.dir = resolve(String(argv[++i]))
    else if (a === '--force') out.force = true
    else if (a === '--quiet') out.quiet = true
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/setup.mjs [--out DIR] [--force] [--quiet]')
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  return out
}

const args = parseArgs(process.argv.slice(2))
const started = performance.now()
const log = (message) => {
  if (!args.quiet) console.error(`[o1js-chain setup ${((performance.now() - started) / 1000).toFixed(1)}s] ${message}`)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Takes `<dir>/.setup.lock` (a folder: mkdir is atomic), waiting while a live process holds it. */
async function lock(dir) {
  const path = join(dir, '.setup.lock')
  let said = false
  for (;;) {
    try {
      mkdirSync(path)
      writeFileSync(join(path, 'pid'), String(process.pid))
      return () => rmSync(path, { recursive: true, force: true })
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    let holder
    try {
      holder = Number(readFileSync(join(path, 'pid'), 'utf8'))
    } catch {
      holder = undefined
    }
    if (holder !== undefined && Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      log(`removing the lock of process ${holder}, which is gone`)
      rmSync(path, { recursive: true, force: true })
      continue
    }
    if (!said) log(`waiting for another setup (process ${holder ?? '?'}) filling ${dir}`)
    said = true
    await sleep(1000)
  }
}

async function main() {
  if (!existsSync(join(DIST, 'program.js'))) {
    throw new Error(`${join(DIST, 'program.js')} is missing: build the plugin first (npx tsc -b; npm test and npm run build do it)`)
  }
  const { KeyCache, PROGRAM_NAME } = await import(join(DIST, 'keys.js'))
  const { SEGMENT_SIZE } = await import(join(DIST, 'chain.js'))
  const { loadO1js, o1jsVersion } = await import(join(DIST, 'o1js.js'))
  const keys = new KeyCache(args.dir)
  const version = o1jsVersion()
  const key = createHash('sha256')
    .update(['o1js-chain/keys/v1', PROGRAM_NAME, SEGMENT_SIZE, version, readFileSync(join(DIST, 'program.js'), 'utf8')].join('\0'))
    .digest('hex')
  const fresh = () => {
    try {
      const vk = JSON.parse(readFileSync(keys.file, 'utf8'))
      return vk.key === key && vk.o1js === version
    } catch {
      return false
    }
  }
  if (!args.force && fresh()) {
    log(`keys in ${keys.dir} are up to date`)
    return
  }
  mkdirSync(keys.dir, { recursive: true })
  const unlock = await lock(keys.dir)
  try {
    if (!args.force && fresh()) {
      log(`keys in ${keys.dir} are up to date (made by the other setup)`)
      return
    }
    await loadO1js() // chooses the backend before o1js starts
    const { loadedBackend } = await import(join(DIST, 'o1js.js'))
    const { compileChainProgram, programRows } = await import(join(DIST, 'program.js'))
    log(`compiling ${PROGRAM_NAME} with o1js ${version} (${loadedBackend()} backend) into ${keys.dir}: a few minutes the first time`)
    const t = performance.now()
    const program = await compileChainProgram(keys.dir, true)
    const compileSeconds = (performance.now() - t) / 1000
    const rows = await programRows()
    log(`compiled in ${compileSeconds.toFixed(1)} s; circuit rows: leaf ${rows.leaf}, merge ${rows.merge}; verification key ${program.verificationKey.hash}`)
    const file = {
      program: PROGRAM_NAME,
      segmentSize: SEGMENT_SIZE,
      o1js: version,
      key,
      hash: program.verificationKey.hash,
      data: program.verificationKey.data,
      rows,
      backend: loadedBackend(),
      compileSeconds: Math.round(compileSeconds * 10) / 10,
    }
    // Written last, and atomically: a cache without it is not a cache the plugin uses.
    const tmp = `${keys.file}.${process.pid}.tmp`
    writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`)
    renameSync(tmp, keys.file)
    log(`done: ${keys.file}`)
  } finally {
    unlock()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`[o1js-chain setup] failed: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  },
)
