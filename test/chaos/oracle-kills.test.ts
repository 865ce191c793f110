import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { buildZkmGraph, GalacticClient, type GraphStatus } from '@galactic/sdk'
import { until } from '../support/until.js'
import { finished, PLUGIN, proverInfo, stopForInspection, succeededOps, teardown, unfinished } from './harness.js'
import { checkInvariants } from './invariants.js'
import { chaosRandom } from './random.js'

const AGENTS = 4
// Big enough that the last kill (at most 350 succeeded ops, then up to 400 ms) still finds more than
// 450 ops to do: the test is about crashes during a run, and it checks that each one was.
const SEGMENTS = 400 // 801 ops
const SEGMENT_STEPS = 500

/**
 * The oracle dies three times during a run: SIGKILL at random points, each time restarted on the
 * same data folder and ports. Agents find it again by themselves. Nothing finished before a crash
 * is run again, and the graph finishes right.
 */
describe('chaos: the oracle SIGKILLed three times during a run', () => {
  const rng = chaosRandom('oracle-kills')
  let cluster: LocalCluster | undefined
  let client: GalacticClient | undefined

  afterAll(async () => {
    client?.close()
    await teardown(cluster)
  })

  it('finishes the graph after three SIGKILLs and restarts of the oracle, redoing nothing that had finished', async () => {
    cluster = await startLocalCluster({
      prefix: 'galactic-chaos-oracle-',
      logLevel: 'warn',
      oracleArgs: ['--heartbeat-ms', '300', '--liveness-ms', '3000'],
      agents: Array.from({ length: AGENTS }, (_, i) => ({ name: `okill-agent-${i + 1}` })),
    })
    client = new GalacticClient({ url: cluster.url })
    const c = cluster
    const requester = client

    const points = rng.distinct(3, 5, 350)
    const jitterMs = points.map(() => rng.int(0, 400))
    console.log(`[chaos] oracle-kills plan: SIGKILL after ${points.join(', ')} succeeded ops (+${jitterMs.join(', ')} ms)`)

    const seed = `chaos-oracle-${rng.seed}`
    const graph = buildZkmGraph({ requester: 'chaos', nonce: `oracle-${rng.seed}`, segments: SEGMENTS, plugin: PLUGIN, params: { seed, segmentSteps: SEGMENT_STEPS }, pluginMode: 'performance' })
    const { graphId } = await requester.submit(graph)

    const before: GraphStatus[] = []
    for (const [i, point] of points.entries()) {
      await until(`${point} ops succeeded`, async () => ((await succeededOps(requester, graphId)) ?? 0) >= point || undefined, 240_000, 50)
      await sleep(jitterMs[i] as number)
      // What the oracle had acknowledged to the requester just before it died.
      before.push(await requester.status(graphId))
      await c.restartOracle('kill')
      // The agents find the restarted oracle by themselves.
      await until('every agent back', async () => {
        const provers = await requester.provers().catch(() => [])
        return provers.filter((p) => p.connected).length === AGENTS || undefined
      }, 60_000)
    }

    const status = await finished(requester, graphId, 300_000)
    expect(status.state, unfinished(status)).toBe('succeeded')
    // An op that had succeeded before a crash kept its result: never run again, never replaced.
    for (const snapshot of before) {
      for (const op of snapshot.ops.filter((o) => o.state === 'succeeded')) {
        const now = status.ops.find((o) => o.id === op.id)
        expect(now, op.id).toMatchObject({ state: 'succeeded', attempt: op.attempt, deviceIds: op.deviceIds, outputs: op.outputs, finishedAt: op.finishedAt })
      }
    }
    // The crashes were during the run: each saw ops still to do.
    const seen = before.map((s) => `${s.ops.filter((o) => o.state === 'succeeded').length}/${s.ops.length}`)
    console.log(`[chaos] oracle-kills: ops succeeded when each kill came: ${seen.join(', ')}`)
    for (const [i, snapshot] of before.entries()) expect(snapshot.state, `kill ${i + 1} came after ${seen[i]} ops succeeded`).toBe('running')
    // A crash is no prover's fault: nobody was charged a failure.
    for (const a of c.agents) {
      const info = await proverInfo(requester, a.ready.name)
      expect(info?.ban.consecutiveFailures, `${a.ready.name}: ${a.logTail(20)}\noracle: ${c.oracle.logTail(20)}`).toBe(0)
    }

    const dataDir = await stopForInspection(c)
    expect(checkInvariants({ dataDir, graphIds: [graphId] })).toEqual({ graphs: 1, ops: 2 * SEGMENTS + 1 })
  })
})
