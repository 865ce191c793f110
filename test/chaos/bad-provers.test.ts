import { afterAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { until } from '../support/until.js'
import { finished, LYING_PLUGIN, PLUGIN, SLOW_PLUGIN, stopForInspection, teardown, unfinished } from './harness.js'
import { checkInvariants } from './invariants.js'
import { chaosRandom } from './random.js'

const BAN_BASE_MS = 400
const TIMEOUT_MS = 2_000
const SEGMENTS = 8

type Ban = { consecutiveFailures: number; banned: boolean; permanent: boolean; bannedUntil: number | null }

/**
 * A prover that lies (every output tampered with; the oracle's verification refuses it) and one
 * that misses every deadline (its plugin sleeps past the op's timeoutMs). They start alone, so the
 * work goes to them; both must end banned for good exactly as docs/scheduling.md says (windows of
 * banBaseMs * 2^(n-1) for the 1st to 3rd consecutive failure, permanent at the 4th), and the graph
 * then completes on honest provers, none of the bad ones' results counted.
 */
describe('chaos: a lying prover and a slow prover', () => {
  const rng = chaosRandom('bad-provers')
  let cluster: LocalCluster | undefined
  let client: GalacticClient | undefined

  afterAll(async () => {
    client?.close()
    await teardown(cluster)
  })

  it('bans both per the policy, for good after the 4th consecutive failure, and completes the graph on the others', async () => {
    cluster = await startLocalCluster({
      prefix: 'galactic-chaos-bad-',
      // 8 failures of the two bad provers may all land on the split, the only op ready at first.
      oracleArgs: ['--heartbeat-ms', '300', '--ban-base-ms', String(BAN_BASE_MS), '--max-attempts', '20'],
      agents: [
        { name: 'liar', args: ['--plugins', LYING_PLUGIN] },
        { name: 'sloth', args: ['--plugins', SLOW_PLUGIN] },
      ],
    })
    client = new GalacticClient({ url: cluster.url })
    const requester = client
    const c = cluster

    const seed = `chaos-bad-${rng.seed}`
    const graph = buildZkmGraph({
      requester: 'chaos',
      nonce: `bad-${rng.seed}`,
      segments: SEGMENTS,
      plugin: PLUGIN,
      params: { seed, segmentSteps: 2_000 },
      pluginMode: 'performance',
      timeoutMs: TIMEOUT_MS,
    })
    const { graphId } = await requester.submit(graph)

    // Watch the ban state as it moves: for each failure count, when it was first seen and the window end.
    const seen = new Map<string, Map<number, { firstSeenAt: number; notBefore: number; ban: Ban }>>([['liar', new Map()], ['sloth', new Map()]])
    const lastSeen = new Map<string, { at: number; failures: number }>()
    await until('liar and sloth banned for good', async () => {
      const before = Date.now()
      const provers = await requester.provers()
      const at = Date.now()
      for (const name of ['liar', 'sloth']) {
        const ban = provers.find((p) => p.proverId === name)?.ban
        if (ban === undefined) continue
        const byCount = seen.get(name) as Map<number, { firstSeenAt: number; notBefore: number; ban: Ban }>
        if (!byCount.has(ban.consecutiveFailures)) {
          // The failure happened after the last poll that saw fewer failures, and before this one answered.
          const previous = lastSeen.get(name)
          byCount.set(ban.consecutiveFailures, { firstSeenAt: at, notBefore: previous?.failures === ban.consecutiveFailures - 1 ? previous.at : 0, ban })
        }
        lastSeen.set(name, { at: before, failures: ban.consecutiveFailures })
      }
      return provers.filter((p) => (p.proverId === 'liar' || p.proverId === 'sloth') && p.ban.permanent).length === 2 || undefined
    }, 120_000, 50)

    // Both were banned for good at their 4th consecutive failure, and the count stops there.
    for (const name of ['liar', 'sloth']) {
      const ban = (await requester.provers()).find((p) => p.proverId === name)?.ban
      expect(ban, name).toEqual({ consecutiveFailures: 4, banned: true, permanent: true, bannedUntil: null })
      // Each window seen: banBaseMs * 2^(n-1) from the failure, which happened between two polls.
      for (const [n, obs] of seen.get(name) ?? []) {
        if (n < 1 || n > 3) continue
        expect(obs.ban.permanent, `${name} after failure ${n}`).toBe(false)
        const failedAt = (obs.ban.bannedUntil as number) - BAN_BASE_MS * 2 ** (n - 1)
        expect(failedAt, `${name}: window of failure ${n} is not ${BAN_BASE_MS * 2 ** (n - 1)} ms`).toBeLessThanOrEqual(obs.firstSeenAt)
        expect(failedAt, `${name}: window of failure ${n} is not ${BAN_BASE_MS * 2 ** (n - 1)} ms`).toBeGreaterThanOrEqual(obs.notBefore)
      }
    }
    console.log(`[chaos] bad-provers: ban windows seen: ${JSON.stringify(Object.fromEntries([...seen].map(([k, v]) => [k, Object.fromEntries([...v].map(([n, o]) => [n, o.ban.bannedUntil]))])))}`)

    // The graph completes on honest provers that join now.
    await Promise.all([c.addAgent({ name: 'honest-1' }), c.addAgent({ name: 'honest-2' })])
    const status = await finished(requester, graphId, 120_000)
    expect(status.state, unfinished(status)).toBe('succeeded')
    for (const op of status.ops) {
      expect(op.deviceIds, op.id).not.toContain('liar')
      expect(op.deviceIds, op.id).not.toContain('sloth')
    }
    for (const name of ['honest-1', 'honest-2']) {
      expect((await requester.provers()).find((p) => p.proverId === name)?.ban, name).toEqual({ consecutiveFailures: 0, banned: false, permanent: false, bannedUntil: null })
    }
    // The liar's outputs were refused by verification, the sloth's tasks ran out of time.
    const metrics = await (await fetch(`${c.url.replace('ws:', 'http:')}/metrics`)).text()
    expect(Number(/^galactic_results_refused_total (\d+)/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(4)

    const dataDir = await stopForInspection(c)
    expect(checkInvariants({ dataDir, graphIds: [graphId] })).toEqual({ graphs: 1, ops: 2 * SEGMENTS + 1 })
  })
})
