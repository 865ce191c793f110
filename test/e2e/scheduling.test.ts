import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { verifySnark } from '@galactic/plugin-sha256-chain'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'

const plugin = { name: 'sha256-chain', version: '1.0.0' }
const FAILING_PLUGIN = fileURLToPath(new URL('../fixtures/failing-plugin/galactic-plugin.json', import.meta.url))

/** The scheduling policy acting on real processes: a broken prover is banned, redundancy works. */
describe('scheduling policy with real agents', () => {
  let cluster: LocalCluster
  let client: GalacticClient

  beforeAll(async () => {
    cluster = await startLocalCluster({
      prefix: 'galactic-sched-',
      // Short ban windows so the 4th consecutive failure (the permanent ban) comes within the graph.
      oracleArgs: ['--ban-base-ms', '100', '--heartbeat-ms', '300'],
      agents: [{ name: 'good-1' }, { name: 'good-2' }, { name: 'broken', args: ['--plugins', FAILING_PLUGIN] }],
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
    const failedOn = new Set<string>()
    const status = await client.wait(graphId, {
      onEvent: (e) => {
        if (e.type === 'op' && e.state === 'ready' && e.error !== null) failedOn.add(e.opId)
      },
    })
    expect(status.state, JSON.stringify(status.ops.filter((o) => o.state !== 'succeeded'))).toBe('succeeded')
    // The broken prover did get work, failed it, and none of its (non-)results counted.
    expect(failedOn.size).toBeGreaterThanOrEqual(4)
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
