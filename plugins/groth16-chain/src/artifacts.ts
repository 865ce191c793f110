import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GalacticError } from '@galactic/schemas'
import { MAX_SEGMENTS, type SegmentSize } from './chain.js'

/** The plugin's folder (this file is in dist/ or src/). */
export const PLUGIN_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** The command that builds the artifacts, run from the repository root. */
export const SETUP_COMMAND = 'npm run setup -w @galactic/plugin-groth16-chain'

/** Where artifacts are looked for: `$GALACTIC_GROTH16_ARTIFACTS`, else `<plugin>/artifacts`. */
export function defaultArtifactsDir(): string {
  const env = process.env['GALACTIC_GROTH16_ARTIFACTS']
  return env !== undefined && env !== '' ? resolve(env) : join(PLUGIN_DIR, 'artifacts')
}

/** The files of one compiled circuit. */
export interface Circuit {
  name: string
  wasm: string
  zkey: string
  vkeyPath: string
  vkey: unknown
}

/**
 * The circuits built by `scripts/setup.mjs`: `<dir>/<name>/<name>.{wasm,zkey,vkey.json}` for
 * `segment_16`, `segment_64` (optional) and `commit_64`. Verification keys are read once.
 */
export class Artifacts {
  readonly dir: string
  readonly #circuits = new Map<string, Circuit>()

  constructor(dir: string = defaultArtifactsDir()) {
    this.dir = resolve(dir)
  }

  /** The segment circuit for `size` steps. A size whose circuit was not built is TASK_INVALID (`segmentSize`). */
  segment(size: SegmentSize): Circuit {
    const name = `segment_${size}`
    if (size !== 16 && !this.has(name)) {
      throw new GalacticError('TASK_INVALID', `invalid params: segmentSize: no circuit built for ${size} steps (run \`${SETUP_COMMAND} -- --sizes 16,${size}\`)`, {
        issues: [{ path: 'segmentSize', message: `no circuit built for ${size} steps` }],
      })
    }
    return this.circuit(name)
  }

  /** The snark's commitment circuit. */
  commit(): Circuit {
    return this.circuit(`commit_${MAX_SEGMENTS}`)
  }

  /** Segment sizes whose circuit is built. */
  sizes(): SegmentSize[] {
    return ([16, 64] as const).filter((s) => this.has(`segment_${s}`))
  }

  /** Throws PLUGIN_FAILED naming the first missing file when the required circuits are not built. */
  check(): void {
    this.circuit('segment_16')
    this.commit()
  }

  has(name: string): boolean {
    return this.#files(name).every((f) => existsSync(f))
  }

  circuit(name: string): Circuit {
    const cached = this.#circuits.get(name)
    if (cached !== undefined) return cached
    const files = this.#files(name)
    const missing = files.find((f) => !existsSync(f))
    if (missing !== undefined) {
      throw new GalacticError('PLUGIN_FAILED', `groth16-chain artifacts missing: ${missing}; build them with \`${SETUP_COMMAND}\``, {
        missing,
        command: SETUP_COMMAND,
      })
    }
    const [wasm, zkey, vkeyPath] = files as [string, string, string]
    const circuit: Circuit = { name, wasm, zkey, vkeyPath, vkey: JSON.parse(readFileSync(vkeyPath, 'utf8')) as unknown }
    this.#circuits.set(name, circuit)
    return circuit
  }

  #files(name: string): string[] {
    const d = join(this.dir, name)
    return [join(d, `${name}.wasm`), join(d, `${name}.zkey`), join(d, `${name}.vkey.json`)]
  }
}
