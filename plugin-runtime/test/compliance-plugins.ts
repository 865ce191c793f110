import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PluginResult } from '@galactic/schemas'
import { asInput, split as groth16Split } from '../../plugins/groth16-chain/src/index.js'
import { loadPluginManifest } from '../src/index.js'
import type { CompliancePlugin } from './compliance.js'

/**
 * Compliance fixtures, one per plugin: the tasks the suite runs. Adding a plugin to the suite is
 * one fixture here and one `pluginCompliance(...)` line per runtime (compliance-process.test.ts,
 * docker-runtime.test.ts).
 */

type Outputs = PluginResult<'start'>['outputs']

const SHA256_CHAIN_DIR = fileURLToPath(new URL('../../plugins/sha256-chain/', import.meta.url))
const GROTH16_CHAIN_DIR = fileURLToPath(new URL('../../plugins/groth16-chain/', import.meta.url))

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

/** A decimal field element with its last digit changed (still below the field's modulus). */
function bumpField(x: string): string {
  return `${x.slice(0, -1)}${(Number(x.at(-1)) + 1) % 10}`
}

// The split a groth16 prove reads: made here, as the agent would hand it over.
const groth16Plan = await groth16Split({ seed: 'compliance-long', segments: 4, segmentSize: 16 })
const groth16PlanOutput = { name: 'segments', data: Buffer.from(JSON.stringify(groth16Plan)).toString('base64') }

/**
 * The groth16-chain plugin (plugins/groth16-chain, built, with its artifacts: `npm run setup -w
 * @galactic/plugin-groth16-chain`). Its ops are bounded by its circuits (a segment is 16 or 64
 * steps, a run at most 64 segments), so its longest task is one Groth16 proof: `long` is a real
 * `prove`, 1.3 to 2 s in a fresh process on 2 cores (loading snarkjs and the zkey, the witness,
 * the proof); the plugin sees a stop only once the proof is made.
 */
export const groth16ChainPlugin: CompliancePlugin = {
  ...loadPluginManifest(join(GROTH16_CHAIN_DIR, 'galactic-plugin.json')),
  // 32 Poseidon steps.
  quick: { op: 'split', params: { seed: 'compliance', segments: 2, segmentSize: 16 } },
  long: { op: 'prove', params: { seed: 'compliance-long', segments: 4, segmentSize: 16, segment: 3 }, inputs: [asInput('split', groth16PlanOutput)] },
  // The largest split (64 segments of two field elements each): a reply of about 17 KB, over the 12 KiB limit below.
  large: { op: 'split', params: { seed: 'large', segments: 64, segmentSize: 16 } },
  // A split's reply is at most about 17 KB, so the suite runs this plugin with a smaller limit.
  maxMessageBytes: 12 * 1024,
  tamper: (outputs) =>
    tamperJson(outputs, (split) => {
      const segments = split['segments'] as Array<{ end: string }>
      const last = segments.at(-1) as { end: string }
      last.end = bumpField(last.end)
    }),
}
