import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const PLUGIN_DIR = fileURLToPath(new URL('..', import.meta.url))

/**
 * Fills the key cache if this checkout has none or a stale one (the setup script: a few minutes
 * the first time, under a second when up to date; runs at the same time wait for each other).
 */
export async function ensureKeys(): Promise<void> {
  await promisify(execFile)(process.execPath, ['scripts/setup.mjs', '--quiet'], { cwd: PLUGIN_DIR, timeout: 890_000 })
}
