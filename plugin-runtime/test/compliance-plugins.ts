import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PluginResult } from '@galactic/schemas'
import { loadPluginManifest } from '../src/index.js'
import type { CompliancePlugin } from './compliance.js'

/**
 * Compliance fixtures, one per plugin: the tasks the suite runs. Adding a plugin to the suite is
 * one fixture here and one `pluginCompliance(...)` line per runtime (compliance-process.test.ts,
 * docker-runtime.test.ts).
 */

type Outputs = PluginResult<'start'>['outputs']

const SHA256_CHAIN_DIR = fileURLToPath(new URL('../../plugins/sha256-chain/', import.meta.url))

/** Changes one field of the first output's JSON. */
function tamperJson(outputs: Outputs, change: (value: Record<string, unknown>) => void): Outputs {
  const [first, ...rest] = outputs
  if (first === undefined) throw new Error('no output to tamper with')
  const value = JSON.parse(Buffer.from(first.data, 'base64').toString('utf8')) as Record<string, unknown>
  change(value)
  return [{ name: first.name, data: Buffer.from(JSON.stringify(value)).toString('base64') }, ...rest]
}

/** The sha256-chain plugin (plugins/sha256-chain, built). */
export const sha256ChainPlugin: CompliancePlugin = {
  ...loadPluginManifest(join(SHA256_CHAIN_DIR, 'galactic-plugin.json')),
  quick: { op: 'split', params: { seed: 'compliance', segments: 2, segmentSteps: 1000 } },
  // 4096 x 10M steps: hours of work unless stopped.
  long: { op: 'split', params: { seed: 'long', segments: 4096, segmentSteps: 10_000_000 } },
  // 4096 states of 64 hex digits: a reply of about 370 KB.
  large: { op: 'split', params: { seed: 'large', segments: 4096, segmentSteps: 1 } },
  tamper: (outputs) =>
    tamperJson(outputs, (split) => {
      const end = String(split['end'])
      split['end'] = `${end[0] === '0' ? '1' : '0'}${end.slice(1)}`
    }),
}
