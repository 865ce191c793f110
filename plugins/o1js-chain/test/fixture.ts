import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { contentHash, type PluginResult } from '@galactic/schemas'
import { loadPluginManifest } from '../../../plugin-runtime/src/index.js'
import type { CompliancePlugin } from '../../../plugin-runtime/test/compliance.js'
import { split } from '../src/index.js'

/**
 * o1js-chain's compliance fixture (plugin-runtime/test/compliance.ts), shared by the compliance
 * suite on the process runtime (compliance.test.ts) and the test of its Docker image
 * (test/e2e/docker-proving-o1js.test.ts). The long task is a real `prove`: the plugin process
 * stays responsive while its prover process works, and a stop kills the prover.
 */

type Outputs = PluginResult<'start'>['outputs']

const PLUGIN_DIR = fileURLToPath(new URL('..', import.meta.url))

// The split a prove reads: made here, as the agent would hand it over.
const plan = await split({ seed: 'compliance-long', segments: 4, segmentSize: 16 })
const planData = Buffer.from(JSON.stringify(plan), 'utf8')

export const o1jsChainPlugin: CompliancePlugin = {
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

/** A base64 proof with one character in its middle changed (still base64). */
export function flip(b64: string): string {
  const i = Math.floor(b64.length / 2)
  return `${b64.slice(0, i)}${b64[i] === 'A' ? 'B' : 'A'}${b64.slice(i + 1)}`
}
