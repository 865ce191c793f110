import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { GalacticError } from '@galactic/schemas'
import { FieldString, SEGMENT_SIZE } from './chain.js'
import { o1jsVersion } from './o1js.js'

/** The plugin's folder (this file is in dist/ or src/). */
export const PLUGIN_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** The command that fills the key cache, run from the repository root. */
export const SETUP_COMMAND = 'npm run setup -w @galactic/plugin-o1js-chain'

/** The ZkProgram's name: o1js names the cached keys after it. */
export const PROGRAM_NAME = 'galactic-o1js-chain'

/** Where the key cache is: `$GALACTIC_O1JS_CACHE`, else `<plugin>/cache`. */
export function defaultCacheDir(): string {
  const env = process.env['GALACTIC_O1JS_CACHE']
  return env !== undefined && env !== '' ? resolve(env) : join(PLUGIN_DIR, 'cache')
}

/** `verification-key.json`, written by `scripts/setup.mjs` once the cache is filled. */
export const VerificationKeyFile = z.object({
  program: z.literal(PROGRAM_NAME),
  segmentSize: z.literal(SEGMENT_SIZE),
  /** The o1js version that compiled the program: keys of another version are stale. */
  o1js: z.string(),
  /** Hash of what the keys were made from (o1js version, the program's compiled source). */
  key: z.string(),
  /** The verification key: its hash (a field element) and its data (base64), as o1js gives them. */
  hash: FieldString,
  data: z.string().min(1),
})
export type VerificationKeyFile = z.infer<typeof VerificationKeyFile>

/** The verification key a proof is checked with. */
export interface VerificationKey {
  hash: string
  data: string
}

/**
 * The key cache made by `scripts/setup.mjs`: o1js' own cache files (the SRS, Lagrange bases,
 * prover and verifier keys of each method; about 370 MB) and `verification-key.json`. Compiling
 * the program with a filled cache takes seconds instead of minutes. The plugin only reads it.
 */
export class KeyCache {
  readonly dir: string
  #vk: VerificationKeyFile | undefined

  constructor(dir: string = defaultCacheDir()) {
    this.dir = resolve(dir)
  }

  /** `verification-key.json`'s path. */
  get file(): string {
    return join(this.dir, 'verification-key.json')
  }

  /** Whether setup has filled this cache (it may still be stale: see {@link check}). */
  has(): boolean {
    return existsSync(this.file)
  }

  /**
   * The verification key file, checked: present, well formed and made by the installed o1js.
   * Throws PLUGIN_FAILED naming the file and the setup command otherwise.
   */
  check(): VerificationKeyFile {
    if (this.#vk !== undefined) return this.#vk
    const fail = (why: string): GalacticError =>
      new GalacticError('PLUGIN_FAILED', `o1js-chain keys ${why}; make them with \`${SETUP_COMMAND}\``, { missing: this.file, command: SETUP_COMMAND })
    if (!this.has()) throw fail(`missing: ${this.file}`)
    let parsed: VerificationKeyFile
    try {
      parsed = VerificationKeyFile.parse(JSON.parse(readFileSync(this.file, 'utf8')))
    } catch {
      throw fail(`unreadable: ${this.file}`)
    }
    const installed = o1jsVersion()
    if (parsed.o1js !== installed) throw fail(`in ${this.dir} were made with o1js ${parsed.o1js}, but o1js ${installed} is installed`)
    this.#vk = parsed
    return parsed
  }

  /** The verification key (see {@link check}). */
  verificationKey(): VerificationKey {
    const { hash, data } = this.check()
    return { hash, data }
  }
}
