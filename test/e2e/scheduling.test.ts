import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { verifySnark } from '@galactic/plugin-sha256-chain'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { until } from '../support/until.js'

const plugin = { name: 'sha256-chain', version: '1.0.0' }
const FAILING_PLUGIN = fileURLToPath(new URL('../fixtures/failing-plugin/galactic-plugin.json', import.meta.url))

/** The scheduling policy acting on real processes: a broken prover is banned, redundancy works. */
describe('scheduling policy with real agents', () => {
  let cluster: LocalCluster
  let client: GalacticClient

  beforeAll(async () => {
    cluster = await startLocalCluster({
      prefix: 'galactic-sched-',
      // Short ban windows: 100, 200, 400 ms, then the permanent ban at the 4th consecutive failure.
      oracleArgs: ['--ban-base-ms', '100', '--heartbeat-ms', '300'],
      // The broken prover starts alone, so every op it can be offered goes to it.
      agents: [{ name: 'broken', args: ['--plugins', FAILING_PLUGIN] }],
    })
    client = new GalacticClient({ url: cluster.url })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
  })

  it('bans a prover that fails every op, for good after its 4th failure, and completes the graph on the others', async () => {
    const seed = 'ban'
    const segments = 16
    const segmentSteps = 2_000
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'ban', segments, plugin, params: { seed, segmentSteps } })
    const { graphId } = await client.submit(graph)
    let failures = 0
    const finished = client.wait(graphId, {
      onEvent: (e) => {
        if (e.type === 'op' && e.state === 'ready' && e.error !== null) failures++
      },
    })
    // Alone, the broken prover gets the split again after each window, fails it each time, and is
    // banned for good at its 4th failure (the split has attempts left: it is not failed for good).
    await until('the broken prover banned for good', async () => {
      const broken = (await client.provers()).find((p) => p.proverId === 'broken')
      return broken?.ban.permanent === true ? broken : undefined
    })
    // Then good provers join and the graph completes on them.
    await Promise.all([cluster.addAgent({ name: 'good-1' }), cluster.addAgent({ name: 'good-2' })])
    const status = await finished
    expect(status.state, JSON.stringify(status.ops.filter((o) => o.state !== 'succeeded'))).toBe('succeeded')
    // The broken prover did get work, failed it, and none of its (non-)results counted.
    expect(failures).toBeGreaterThanOrEqual(4)
    for (const op of status.ops) expect(op.deviceIds).not.toContain('broken')

    const provers = await client.provers()
    const broken = provers.find((p) => p.proverId === 'broken')
    expect(broken?.ban).toMatchObject({ permanent: true, banned: true, bannedUntil: null })
    expect(broken?.ban.consecutiveFailures).toBeGreaterThanOrEqual(4)
    for (const name of ['good-1', 'good-2']) {
      expect(provers.find((p) => p.proverId === name)?.ban).toEqual({ consecutiveFailures: 0, banned: false, permanent: false, bannedUntil: null })
    }
    const { outputs } = await client.result(graphId)
    expect(verifySnark(JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8')), seed, segments * segmentSteps)).toBe(true)

    const metrics = await (await fetch(`${cluster.url.replace('ws:', 'http:')}/metrics`)).text()
    expect(metrics).toMatch(/^galactic_provers\{state="banned"\} 1$/m)
  })

  it('under performance priority runs each op on two provers and keeps the first valid result', async () => {
    const seed = 'redundant'
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'redundant', segments: 2, plugin, params: { seed, segmentSteps: 2_000 }, priority: 'performance' })
    const { graphId } = await client.submit(graph)
    const status = await client.wait(graphId)
    expect(status.state).toBe('succeeded')
    // Only two provers are eligible (the broken one is banned for good): every op went to both,
    // the winner listed first, and its output is the one kept.
    for (const op of status.ops) {
      expect([...(op.deviceIds ?? [])].sort(), op.id).toEqual(['good-1', 'good-2'])
      expect(op.outputs).toHaveLength(1)
    }
    const { outputs } = await client.result(graphId)
    expect(verifySnark(JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8')), seed, 2 * 2_000)).toBe(true)
  })
})
