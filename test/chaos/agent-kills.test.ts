import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'
import { until } from '../support/until.js'
import { agentProcess, finished, PLUGIN, proverInfo, stopForInspection, succeededOps, teardown, unfinished } from './harness.js'
import { checkInvariants } from './invariants.js'
import { chaosRandom } from './random.js'

const AGENTS = 8
const SEGMENTS = 500 // 1 split + 500 proves + 499 aggregations + 1 snark = 1,001 ops
const SEGMENT_STEPS = 100

/**
 * Agents die mid-op: 30% of 8 agents are SIGKILLed, each at a random point of a 1,001-op graph
 * while the oracle has an op on it; some come back (same name and identity), some never do. The
 * graph still finishes with every result right and none counted twice.
 */
describe('chaos: agents SIGKILLed while running ops', () => {
  const rng = chaosRandom('agent-kills')
  let cluster: LocalCluster | undefined
  let client: GalacticClient | undefined

  afterAll(async () => {
    client?.close()
    await teardown(cluster)
  })

  it('finishes a 1,001-op ZKM graph on 8 agents while 3 of them are SIGKILLed mid-op, some restarted, some not', async () => {
    const names = Array.from({ length: AGENTS }, (_, i) => `kill-agent-${i + 1}`)
    cluster = await startLocalCluster({
      prefix: 'galactic-chaos-kills-',
      logLevel: 'warn',
      // A prover silent for 2 s is lost and its ops go back to ready.
      oracleArgs: ['--heartbeat-ms', '300', '--liveness-ms', '2000'],
      agents: names.map((name) => ({ name })),
    })
    client = new GalacticClient({ url: cluster.url })
    const c = cluster
    const requester = client

    // The plan: which agents die, after how many succeeded ops, whether and when they come back.
    const victims = rng.shuffle(names).slice(0, Math.ceil(AGENTS * 0.3))
    const restarted = rng.int(1, victims.length - 1)
    const points = rng.distinct(victims.length, 20, 700)
    const plan = victims.map((name, i) => ({ name, afterSucceeded: points[i] as number, restart: i < restarted, downMs: rng.int(0, 1_500) }))
    console.log(`[chaos] agent-kills plan: ${JSON.stringify(plan)}`)

    const seed = `chaos-kills-${rng.seed}`
    const graph = buildZkmGraph({ requester: 'chaos', nonce: `kills-${rng.seed}`, segments: SEGMENTS, plugin: PLUGIN, params: { seed, segmentSteps: SEGMENT_STEPS }, pluginMode: 'performance' })
    expect(graph.ops).toHaveLength(1_001)
    const { graphId } = await requester.submit(graph)

    const comebacks: Array<Promise<unknown>> = []
    const heldAtKill = new Map<string, string[]>()
    for (const kill of plan) {
      await until(`${kill.afterSucceeded} ops succeeded`, async () => ((await succeededOps(requester, graphId)) ?? 0) >= kill.afterSucceeded || undefined, 240_000, 50)
      // A random moment while it runs an op: the oracle has an op assigned to it right now.
      const held = await until(`${kill.name} holding an op`, async () => {
        const p = await proverInfo(requester, kill.name)
        return p !== undefined && p.running.length > 0 ? p.running.map((r) => r.opId) : undefined
      }, 60_000, 20)
      await agentProcess(c, kill.name).kill()
      heldAtKill.set(kill.name, held)
      if (kill.restart) comebacks.push(sleep(kill.downMs).then(() => c.addAgent({ name: kill.name })))
    }
    await Promise.all(comebacks)
    console.log(`[chaos] agent-kills: ops held by the victims when killed: ${JSON.stringify(Object.fromEntries(heldAtKill))}`)

    const status = await finished(requester, graphId, 300_000)
    expect(status.state, unfinished(status)).toBe('succeeded')
    const snark = JSON.parse(Buffer.from((await requester.result(graphId)).outputs[0]!.data).toString('utf8'))
    expect(snark.steps).toBe(SEGMENTS * SEGMENT_STEPS)

    // The dead that stayed dead are lost; a lost prover is not charged a failure, so nobody is banned.
    for (const kill of plan.filter((k) => !k.restart)) {
      await until(`${kill.name} declared lost`, async () => ((await proverInfo(requester, kill.name))?.state === 'lost' ? true : undefined), 30_000)
    }
    for (const p of await requester.provers()) {
      expect(p.ban, p.proverId).toEqual({ consecutiveFailures: 0, banned: false, permanent: false, bannedUntil: null })
      if (plan.some((k) => k.name === p.proverId && !k.restart)) continue
      expect(p.state, p.proverId).toBe('live')
    }
    // Every op the victims held when they died was finished once, by someone.
    for (const opId of [...heldAtKill.values()].flat()) expect(status.ops.find((o) => o.id === opId)?.state, opId).toBe('succeeded')

    const dataDir = await stopForInspection(c)
    const report = checkInvariants({ dataDir, graphIds: [graphId] })
    expect(report).toEqual({ graphs: 1, ops: 1_001 })
  })
})
