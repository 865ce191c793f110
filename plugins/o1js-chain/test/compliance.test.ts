import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll } from 'vitest'
import { contentHash, type PluginResult } from '@galactic/schemas'
import { loadPluginManifest } from '../../../plugin-runtime/src/index.js'
import { pluginCompliance, type CompliancePlugin } from '../../../plugin-runtime/test/compliance.js'
import { processTarget } from '../../../plugin-runtime/test/process-target.js'
import { split } from '../src/index.js'
import { ensureKeys } from './keys.js'

/**
 * The plugin compliance suite (plugin-runtime/test/compliance.ts) for o1js-chain on the process
 * runtime. The long task is a real `prove`: the plugin process stays responsive while its prover
 * process works, and a stop kills the prover.
 */

type Outputs = PluginResult<'start'>['outputs']

const PLUGIN_DIR = fileURLToPath(new URL('..', import.meta.url))

// `init` checks the key cache; fill it first if this checkout has none.
beforeAll(ensureKeys, 900_000)

// The split a prove reads: made here, as the agent would hand it over.
const plan = await split({ seed: 'compliance-long', segments: 4, segmentSize: 16 })
const planData = Buffer.from(JSON.stringify(plan), 'utf8')

const o1jsChain: CompliancePlugin = {
  ...loadPluginManifest(join(PLUGIN_DIR, 'galactic-plugin.json')),
  // 32 Poseidon steps: well under a second.
  quick: { op: 'split', params: { seed: 'compliance', segments: 2, segmentSize: 16 } },
  // A real leaf proof: the prover process compiles for seconds, then proves for tens of seconds.
  long: {
    op: 'prove',
    params: { seed: 'compliance-long', segments: 4, segmentSize: 16, segment: 3 },
    inputs: [{ opId: 'split', name: 'segments', hash: contentHash(planData), data: planData.toString('base64') }],
  },
  // 320 segments of two field elements each: a reply of about 87 KB (5,120 Poseidon steps, seconds).
  large: { op: 'split', params: { seed: 'large', segments: 320, segmentSize: 16 } },
  tamper: (outputs: Outputs): Outputs => {
    const [first, ...rest] = outputs
    if (first === undefined) throw new Error('no output to tamper with')
    const value = JSON.parse(Buffer.from(first.data, 'base64').toString('utf8')) as { segments: Array<{ end: string }> }
    const last = value.segments.at(-1) as { end: string }
    last.end = last.end === '1' ? '2' : '1'
    return [{ name: first.name, data: Buffer.from(JSON.stringify(value)).toString('base64') }, ...rest]
  },
}

pluginCompliance('o1js-chain on the process runtime', processTarget, o1jsChain)
