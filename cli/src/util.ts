import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError } from 'commander'
import { pino, type Logger } from 'pino'
import { GalacticError } from '@galactic/schemas'
import { GalacticClient } from '@galactic/sdk'

/** Exit codes: 0 done, 1 an error or bad usage (named on stderr), 3 the graph failed. */
export const EXIT = { ok: 0, error: 1, graphFailed: 3 } as const

export const DEFAULT_URL = 'ws://127.0.0.1:7700'

const PLUGINS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../plugins')

/** Manifests of the plugins shipped in this repository. */
export const BUNDLED_PLUGINS = {
  'sha256-chain': join(PLUGINS_DIR, 'sha256-chain', 'galactic-plugin.json'),
  'groth16-chain': join(PLUGINS_DIR, 'groth16-chain', 'galactic-plugin.json'),
  'o1js-chain': join(PLUGINS_DIR, 'o1js-chain', 'galactic-plugin.json'),
} as const

/** The sha256-chain plugin shipped in this repository: every agent's default. */
export const BUNDLED_PLUGIN = BUNDLED_PLUGINS['sha256-chain']

export function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`)
    return n
  }
}

export function logger(level: string, name: string): Logger {
  return pino({ name, level }, pino.destination(2))
}

export function readJsonFile(path: string): unknown {
  const text = path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `${path} is not JSON: ${(err as Error).message}`)
  }
}

/** Prints an error for a person (code, message, each issue on its own line) and sets the exit code. */
export function fail(err: unknown, json: boolean): void {
  const error = GalacticError.from(err)
  if (json) process.stdout.write(`${JSON.stringify({ error: error.toObject() })}\n`)
  else {
    process.stderr.write(`error [${error.code}]: ${error.message}\n`)
    for (const issue of error.issues.slice(1, 20)) process.stderr.write(`  ${issue.path}: ${issue.message}\n`)
  }
  process.exitCode = EXIT.error
}

/** Resolves when the process is asked to stop (SIGINT or SIGTERM). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
}

/**
 * One request to the oracle at `opts.url`, for a command whose output is data: prints what `call`
 * returns as one JSON line with `--json`, else `text` of it; an error is printed by {@link fail}.
 */
export async function query<T>(opts: { url: string; json?: boolean }, call: (client: GalacticClient) => Promise<T>, text: (value: T) => string): Promise<void> {
  const client = new GalacticClient({ url: opts.url })
  try {
    const value = await call(client)
    process.stdout.write(opts.json === true ? `${JSON.stringify(value)}\n` : text(value))
  } catch (err) {
    fail(err, opts.json === true)
  } finally {
    client.close()
  }
}
