#!/usr/bin/env node
/**
 * Builds the groth16-chain plugin's circuit artifacts into `artifacts/` (gitignored):
 *
 *   1. compiles each circuit with circom2 (`--r1cs --wasm --O2`),
 *   2. makes a powers-of-tau file locally (power 12, or the smallest that fits the circuit):
 *      a new accumulator, one random local contribution, prepare-phase2,
 *   3. makes each circuit's Groth16 zkey (one random local phase-2 contribution) and exports
 *      its verification key.
 *
 * This is a DEVELOPMENT ceremony, not a trusted setup. By default (`--ceremony beacon`) each
 * phase's one contribution is snarkjs' beacon contribution from a fixed, public beacon
 * (BEACON_HASH): every clean clone makes byte-identical keys, so a proof made on one machine
 * verifies on any other, and anyone can recompute the toxic waste and forge proofs. With
 * `--ceremony random` the contributions use fresh local randomness: keys differ per machine (proofs
 * only verify against the same artifacts folder) and whoever ran it could have kept the secret.
 *
 * Work whose outputs already exist is skipped: every output folder has a `stamp.json` with a
 * hash of what made it (circuit sources, circomlib and circom versions, the ptau's parameters).
 *
 * Usage: node scripts/setup.mjs [--sizes 16,64] [--ceremony beacon|random] [--out DIR] [--quiet]
 *   --sizes     segment sizes (steps per segment) to build; default 16. 64 needs a power-14 ptau
 *               (about 5 more minutes on 2 cores).
 *   --ceremony  beacon (default: reproducible keys) or random (see above).
 *   --out       artifacts folder; default <plugin>/artifacts, or $GALACTIC_GROTH16_ARTIFACTS.
 */
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const require = createRequire(import.meta.url)
const PLUGIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CIRCUITS_DIR = join(PLUGIN_DIR, 'circuits')

/** Segment sizes with a circuit in circuits/segment_<n>.circom. */
export const SEGMENT_SIZES = [16, 64]
/** Most segments the snark (commitment) circuit takes: circuits/commit_<MAX>.circom. */
export const MAX_SEGMENTS = 64
/** Smallest powers-of-tau power made. */
export const MIN_POWER = 12
/** The public beacon of the default development ceremony: sha256 of this label. */
export const BEACON_LABEL = 'galactic/groth16-chain/development-ceremony/v1'
const BEACON_HASH = createHash('sha256').update(BEACON_LABEL).digest('hex')
/** 2^10 hash iterations: the least snarkjs takes; the beacon is public anyway. */
const BEACON_ITERATIONS_EXP = 10
const CONTRIBUTION_NAME = 'galactic groth16-chain development ceremony'

function parseArgs(argv) {
  const out = { sizes: [16], dir: process.env.GALACTIC_GROTH16_ARTIFACTS || join(PLUGIN_DIR, 'artifacts'), quiet: false, ceremony: 'beacon' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--sizes') {
      out.sizes = String(argv[++i] ?? '')
        .split(',')
        .map((s) => Number(s.trim()))
      for (const s of out.sizes) if (!SEGMENT_SIZES.includes(s)) throw new Error(`--sizes: ${s} is not one of ${SEGMENT_SIZES.join(', ')}`)
    } else if (a === '--ceremony') {
      out.ceremony = String(argv[++i])
      if (out.ceremony !== 'beacon' && out.ceremony !== 'random') throw new Error('--ceremony: beacon or random')
    } else if (a === '--out') out.dir = resolve(String(argv[++i]))
    else if (a === '--quiet') out.quiet = true
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/setup.mjs [--sizes 16,64] [--ceremony beacon|random] [--out DIR] [--quiet]')
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  return out
}

const args = parseArgs(process.argv.slice(2))
const started = performance.now()
const log = (message) => {
  if (!args.quiet) console.error(`[groth16-chain setup ${((performance.now() - started) / 1000).toFixed(1)}s] ${message}`)
}

function sha256(...parts) {
  const h = createHash('sha256')
  for (const p of parts) h.update(typeof p === 'string' ? p : JSON.stringify(p)).update('\0')
  return h.digest('hex')
}

/** The version of an installed package (found from its entry point: some packages do not export package.json). */
function pkgVersion(name) {
  let d = dirname(require.resolve(name))
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(d, 'package.json'), 'utf8'))
      if (pkg.name === name) return pkg.version
    } catch {}
    if (dirname(d) === d) throw new Error(`cannot find the version of ${name}`)
    d = dirname(d)
  }
}

function readStamp(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'stamp.json'), 'utf8'))
  } catch {
    return undefined
  }
}

/** True when `dir/stamp.json` says `key` and every file in `files` exists. */
function fresh(dir, key, files) {
  return readStamp(dir)?.key === key && files.every((f) => existsSync(join(dir, f)))
}

/** The deepest folder holding both paths: circom2 (WASI) sees only the cwd and its parents. */
function commonRoot(a, b) {
  const pa = a.split(sep)
  const pb = b.split(sep)
  let i = 0
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++
  return pa.slice(0, i).join(sep) || sep
}

const snarkjsPromise = import('snarkjs')

/** Compiles circuits/<name>.circom into <dir>/<name>/; returns its constraint count. */
async function compile(name, dir) {
  const circomlibDir = dirname(require.resolve('circomlib/package.json'))
  const libRoot = dirname(circomlibDir) // the node_modules holding circomlib
  const sources = ['segment.circom', 'commit.circom', `${name}.circom`].map((f) => readFileSync(join(CIRCUITS_DIR, f), 'utf8'))
  const flags = ['--r1cs', '--wasm', '--O2']
  const key = sha256('circuit/v1', name, sources, flags, pkgVersion('circomlib'), pkgVersion('circom2'))
  const out = join(dir, name)
  if (fresh(out, key, [`${name}.r1cs`, `${name}.wasm`])) {
    log(`${name}: compiled circuit is up to date`)
    return { key, constraints: readStamp(out).constraints, nPublic: readStamp(out).nPublic }
  }
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const cwd = commonRoot(commonRoot(PLUGIN_DIR, libRoot), out)
  const circom = join(dirname(require.resolve('circom2/package.json')), 'cli.js')
  log(`${name}: compiling`)
  const t = performance.now()
  await run(process.execPath, [circom, relative(cwd, join(CIRCUITS_DIR, `${name}.circom`)), ...flags, '-l', relative(cwd, libRoot), '-o', relative(cwd, out)], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((err) => {
    throw new Error(`circom2 failed on ${name}.circom: ${err.stderr || err.stdout || err.message}`)
  })
  renameSync(join(out, `${name}_js`, `${name}.wasm`), join(out, `${name}.wasm`))
  rmSync(join(out, `${name}_js`), { recursive: true, force: true })
  const snarkjs = await snarkjsPromise
  const info = await snarkjs.r1cs.info(join(out, `${name}.r1cs`))
  const stamp = { key, constraints: info.nConstraints, nPublic: info.nPubInputs + info.nOutputs, compileSeconds: (performance.now() - t) / 1000 }
  writeFileSync(join(out, 'stamp.json'), `${JSON.stringify(stamp, null, 2)}\n`)
  log(`${name}: ${stamp.constraints} constraints, compiled in ${stamp.compileSeconds.toFixed(1)} s`)
  return stamp
}

/** Smallest power p >= MIN_POWER whose domain fits the circuit (constraints + public inputs + 1). */
function powerFor({ constraints, nPublic }) {
  let p = MIN_POWER
  while (2 ** p < constraints + nPublic + 1) p++
  return p
}

/** Makes (or reuses) <dir>/ptau/pot<power>.ptau, prepared for phase 2. */
async function ptau(power, dir, getCurve) {
  const out = join(dir, 'ptau')
  const file = `pot${power}.ptau`
  const key = sha256('ptau/v1', power, pkgVersion('snarkjs'), args.ceremony, args.ceremony === 'beacon' ? [BEACON_HASH, BEACON_ITERATIONS_EXP] : 'random')
  if (existsSync(join(out, file)) && readStamp(out)?.[file] === key) {
    log(`ptau power ${power}: up to date`)
    return { file: join(out, file), key }
  }
  mkdirSync(out, { recursive: true })
  const snarkjs = await snarkjsPromise
  const t = performance.now()
  const p0 = join(out, `pot${power}_0.ptau`)
  const p1 = join(out, `pot${power}_1.ptau`)
  log(`ptau power ${power}: new accumulator`)
  await snarkjs.powersOfTau.newAccumulator(await getCurve(), power, p0)
  log(`ptau power ${power}: ${args.ceremony} contribution (development ceremony, not a trusted setup)`)
  if (args.ceremony === 'beacon') await snarkjs.powersOfTau.beacon(p0, p1, CONTRIBUTION_NAME, BEACON_HASH, BEACON_ITERATIONS_EXP)
  else await snarkjs.powersOfTau.contribute(p0, p1, CONTRIBUTION_NAME, randomBytes(32).toString('hex'))
  log(`ptau power ${power}: prepare phase 2`)
  await snarkjs.powersOfTau.preparePhase2(p1, join(out, file))
  rmSync(p0, { force: true })
  rmSync(p1, { force: true })
  writeFileSync(join(out, 'stamp.json'), `${JSON.stringify({ ...readStamp(out), [file]: key }, null, 2)}\n`)
  log(`ptau power ${power}: done in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  return { file: join(out, file), key }
}

/** Makes (or reuses) <dir>/<name>/<name>.zkey and <name>.vkey.json. */
async function zkey(name, dir, circuitKey, pot) {
  const out = join(dir, name)
  const key = sha256('zkey/v1', circuitKey, pot.key)
  const stamp = readStamp(out)
  if (stamp?.zkeyKey === key && existsSync(join(out, `${name}.zkey`)) && existsSync(join(out, `${name}.vkey.json`))) {
    log(`${name}: zkey up to date`)
    return
  }
  const snarkjs = await snarkjsPromise
  const t = performance.now()
  const z0 = join(out, `${name}_0.zkey`)
  await snarkjs.zKey.newZKey(join(out, `${name}.r1cs`), pot.file, z0)
  if (args.ceremony === 'beacon') await snarkjs.zKey.beacon(z0, join(out, `${name}.zkey`), CONTRIBUTION_NAME, BEACON_HASH, BEACON_ITERATIONS_EXP)
  else await snarkjs.zKey.contribute(z0, join(out, `${name}.zkey`), CONTRIBUTION_NAME, randomBytes(32).toString('hex'))
  rmSync(z0, { force: true })
  const vkey = await snarkjs.zKey.exportVerificationKey(join(out, `${name}.zkey`))
  writeFileSync(join(out, `${name}.vkey.json`), `${JSON.stringify(vkey, null, 1)}\n`)
  writeFileSync(join(out, 'stamp.json'), `${JSON.stringify({ ...readStamp(out), zkeyKey: key }, null, 2)}\n`)
  log(`${name}: zkey and vkey made in ${((performance.now() - t) / 1000).toFixed(1)} s`)
}

async function main() {
  const dir = args.dir
  mkdirSync(dir, { recursive: true })
  const names = [...args.sizes.map((s) => `segment_${s}`), `commit_${MAX_SEGMENTS}`]
  const snarkjs = await snarkjsPromise
  // The multi-threaded curve (worker threads) is built only when a ptau must be made.
  let curve
  const getCurve = async () => (curve ??= await snarkjs.curves.getCurveFromName('bn128'))
  try {
    const circuits = []
    for (const name of names) circuits.push({ name, ...(await compile(name, dir)) })
    const pots = new Map()
    for (const c of circuits) {
      const power = powerFor(c)
      if (!pots.has(power)) pots.set(power, await ptau(power, dir, getCurve))
      await zkey(c.name, dir, c.key, pots.get(power))
    }
    const manifest = {
      ceremony: args.ceremony === 'beacon' ? `development, not a trusted setup: one public beacon contribution per phase (sha256(${JSON.stringify(BEACON_LABEL)}), 2^${BEACON_ITERATIONS_EXP} iterations); anyone can forge proofs` : 'development, not a trusted setup: one random local contribution per phase',
      maxSegments: MAX_SEGMENTS,
      circuits: Object.fromEntries(
        circuits.map((c) => [c.name, { constraints: c.constraints, nPublic: c.nPublic, ptauPower: powerFor(c), zkeyBytes: statSync(join(dir, c.name, `${c.name}.zkey`)).size }]),
      ),
    }
    // Merge with circuits built by earlier runs (e.g. --sizes 64 once, then the default).
    let previous = {}
    try {
      previous = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).circuits ?? {}
    } catch {}
    manifest.circuits = { ...previous, ...manifest.circuits }
    writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
    log(`done: ${names.join(', ')} in ${dir}`)
  } finally {
    await curve?.terminate()
    // snarkjs' zkey functions share a global curve of their own.
    await globalThis.curve_bn128?.terminate?.()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`[groth16-chain setup] failed: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  },
)
