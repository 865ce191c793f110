import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GalacticError } from '@galactic/schemas'

/**
 * o1js, loaded once per process with its proving backend chosen first. o1js has two backends:
 * `wasm` (its default, everywhere) and `native` (the `@o1js/native-<os>-<arch>` Node add-on that
 * comes with o1js on Linux, macOS and Windows). Measured here, native proves with about a third of
 * the CPU time of wasm, and both make the same verification key, proofs and key cache.
 *
 * The backend is `$O1JS_BACKEND` (`native` or `wasm`, o1js' own variable) when set, else `native`
 * when its add-on is installed, else `wasm`. It must be chosen before o1js initialises its bindings
 * (the first compile, prove or verify), so every use of o1js in this plugin goes through
 * {@link loadO1js}.
 */

export type O1js = typeof import('o1js')
export type Backend = 'native' | 'wasm'

let loaded: Promise<O1js> | undefined
let chosen: Backend | undefined

/** Where o1js' entry point is (it exports nothing else, not even its package.json). */
function o1jsEntry(): string {
  return fileURLToPath(import.meta.resolve('o1js'))
}

/** Whether o1js' native add-on for this OS and CPU is installed (o1js looks for it from its own folder). */
export function nativeBackendAvailable(): boolean {
  try {
    createRequire(o1jsEntry()).resolve(`@o1js/native-${process.platform}-${process.arch}`)
    return true
  } catch {
    return false
  }
}

/** The backend this process uses (see the module's doc). Throws INVALID_INPUT for a bad `$O1JS_BACKEND`. */
export function chooseBackend(env: NodeJS.ProcessEnv = process.env): Backend {
  const asked = env['O1JS_BACKEND']
  if (asked === 'native' || asked === 'wasm') return asked
  if (asked !== undefined && asked !== '') {
    throw new GalacticError('INVALID_INPUT', `O1JS_BACKEND must be native or wasm, not ${JSON.stringify(asked)}`, {
      issues: [{ path: 'O1JS_BACKEND', message: 'must be native or wasm' }],
    })
  }
  return nativeBackendAvailable() ? 'native' : 'wasm'
}

/** o1js, with the backend set. Loaded once. */
export function loadO1js(): Promise<O1js> {
  loaded ??= (async () => {
    const backend = chooseBackend()
    const o1js = await import('o1js')
    o1js.setBackend(backend)
    chosen = backend
    return o1js
  })()
  return loaded
}

/** The backend {@link loadO1js} chose, once it has run. */
export function loadedBackend(): Backend | undefined {
  return chosen
}

/** The installed o1js version (read from its package.json, found from its entry point). */
export function o1jsVersion(): string {
  let dir = dirname(o1jsEntry())
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'o1js' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not here: go up
    }
    if (dirname(dir) === dir) throw new GalacticError('INTERNAL', 'cannot find the installed o1js version')
    dir = dirname(dir)
  }
}
