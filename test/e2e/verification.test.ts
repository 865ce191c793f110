import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { verifySnark } from '@galactic/plugin-sha256-chain'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { until } from '../support/until.js'

const plugin = { name: 'sha256-chain', version: '1.0.0' }
const LYING_PLUGIN = fileURLToPath(new URL('../fixtures/lying-plugin/galactic-plugin.json', import.meta.url))

/** The oracle verifies every result before it counts: a lying prover cannot make a graph succeed with its lies. */
describe('results are verified before they count', () => {
  let cluster: LocalCluster
  let client: GalacticClient

  beforeAll(async () => {
    cluster = await startLocalCluster({
      prefix: 'galactic-verify-',
      oracleArgs: ['--verify', 'required', '--ban-base-ms', '100'],
      // The liar starts alone, so every op it can be offered goes to it.
      agents: [{ name: 'liar', args: ['--plugins', LYING_PLUGIN] }],
    })
    client = new GalacticClient({ url: cluster.url })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
  })

  it('refuses a lying prover’s outputs, charges it, and completes the graph with true results', async () => {
    const seed = 'liar'
    const segments = 12
    const segmentSteps = 3_000
    const { graphId } = await client.submit(buildZkmGraph({ requester: 'e2e', nonce: 'liar', segments, plugin, params: { seed, segmentSteps } }))
    let refusals = 0
    const finished = client.wait(graphId, {
      onEvent: (e) => {
        if (e.type === 'op' && e.state === 'ready' && e.error?.code === 'RESULT_INVALID') refusals++
      },
    })
    // Alone, the liar gets the split again after each ban window, lies, is refused, and is banned
    // for good at its 4th refusal; then honest provers join and the graph completes on them.
    await until('the liar banned for good', async () => {
      const liar = (await client.provers()).find((p) => p.proverId === 'liar')
      return liar?.ban.permanent === true ? liar : undefined
    })
    await Promise.all([cluster.addAgent({ name: 'honest-1' }), cluster.addAgent({ name: 'honest-2' })])
    const status = await finished
    expect(status.state, JSON.stringify(status.ops.filter((o) => o.state !== 'succeeded'))).toBe('succeeded')
    // The liar was given ops, lied every time, was refused every time, and is banned for good
    // after the policy's count (its 4th consecutive failure); no output of the graph is its.
    expect(refusals).toBeGreaterThanOrEqual(4)
    for (const op of status.ops) expect(op.deviceIds).not.toContain('liar')
    const liar = (await client.provers()).find((p) => p.proverId === 'liar')
    expect(liar?.ban).toMatchObject({ permanent: true, banned: true })
    expect(liar?.ban.consecutiveFailures).toBeGreaterThanOrEqual(4)
    const metrics = await (await fetch(`${cluster.url.replace('ws:', 'http:')}/metrics`)).text()
    const refused = Number(/^galactic_results_refused_total (\d+)$/m.exec(metrics)?.[1])
    expect(refused).toBeGreaterThanOrEqual(refusals)
    const { outputs } = await client.result(graphId)
    expect(verifySnark(JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8')), seed, segments * segmentSteps)).toBe(true)
  })
})
