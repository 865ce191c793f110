import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { logEntries, startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { buildZkmGraph, GalacticClient, type GraphStatus, type OpStatus } from '@galactic/sdk'
import { until } from '../support/until.js'
import { agentProcess, delayedPlugin, finished, pause, PLUGIN, proverInfo, resume, stopForInspection, tasksStarted, teardown, unfinished } from './harness.js'
import { checkInvariants } from './invariants.js'
import { chaosRandom } from './random.js'

/** Each task of the cut-off prover takes this long: long enough to catch it mid-op. */
const CUT_MS = 1_000
/** Each task of the other prover takes this long: long enough for the cut-off one's late result to arrive first. */
const OTHER_MS = 4_000
const LIVENESS_MS = 1_500

/**
 * A prover cut off mid-op: SIGSTOP freezes the agent, so its TCP connection goes silent without
 * closing (its plugin, a separate process, finishes the op meanwhile). The oracle declares it lost
 * and gives the op to the other prover; then the frozen agent is let go (SIGCONT) and delivers
 * its result for the old attempt. While the new attempt still runs, that late result is taken (the
 * new attempt is cancelled); once the new attempt has succeeded, it is acknowledged and ignored.
 * Either way the op counts once.
 */
describe('chaos: a prover cut off and back after its op was rescheduled', () => {
  const rng = chaosRandom('cut-off')
  let cluster: LocalCluster | undefined
  let client: GalacticClient | undefined

  afterAll(async () => {
    client?.close()
    await teardown(cluster)
  })

  it('takes its late result while the new attempt runs, ignores it once the new attempt won, and counts each op once', async () => {
    cluster = await startLocalCluster({
      prefix: 'galactic-chaos-cutoff-',
      oracleArgs: ['--heartbeat-ms', '250', '--liveness-ms', String(LIVENESS_MS)],
      agents: [],
    })
    const c = cluster
    const cut = 'cut-agent'
    const other = 'other-agent'
    const startedDir = join(c.dir, 'cut-started')
    await c.addAgent({ name: cut, args: ['--plugins', delayedPlugin(c.dir, CUT_MS, startedDir)] })
    await c.addAgent({ name: other, args: ['--plugins', delayedPlugin(c.dir, OTHER_MS)] })
    client = new GalacticClient({ url: c.url })
    const requester = client
    const graphIds: string[] = []

    /** Runs one graph; freezes the cut-off prover mid-op and lets it go when `release` says. */
    const round = async (nonce: string, release: 'while-rescheduled-runs' | 'after-rescheduled-won') => {
      const graph = buildZkmGraph({ requester: 'chaos', nonce, segments: 2, plugin: PLUGIN, params: { seed: `${nonce}-${rng.seed}`, segmentSteps: 1_000 }, pluginMode: 'performance' })
      const { graphId } = await requester.submit(graph)
      graphIds.push(graphId)
      // Caught mid-op: its plugin has begun a task of this graph (and sleeps CUT_MS before answering).
      const taskId = await until(`a task of ${graphId} begun by ${cut}`, async () => tasksStarted(startedDir).find((t) => t.startsWith(`${graphId}/`)), 60_000, 10)
      const agent = agentProcess(c, cut)
      pause(agent)
      try {
        const victim = opOf(await requester.status(graphId), taskId.slice(graphId.length + 1, taskId.lastIndexOf('#')))
        expect(`${graphId}/${victim.id}#${victim.attempt}`).toBe(taskId)
        await until(`${cut} declared lost`, async () => ((await proverInfo(requester, cut))?.state === 'lost' ? true : undefined), 30_000)
        // The op is rescheduled on the other prover, as a new attempt.
        const rescheduled = await until(`${victim.id} rescheduled on ${other}`, async () => {
          const op = opOf(await requester.status(graphId), victim.id)
          return op.attempt > victim.attempt && op.deviceIds?.[0] === other && (op.state === 'assigned' || op.state === 'running') ? op : undefined
        }, 60_000, 25)
        if (release === 'after-rescheduled-won') {
          await until(`${victim.id} succeeded on ${other}`, async () => {
            const op = opOf(await requester.status(graphId), victim.id)
            return op.state === 'succeeded' ? op : undefined
          }, 60_000, 25)
        }
        return { graphId, victim, rescheduled, agent, before: opOf(await requester.status(graphId), victim.id) }
      } finally {
        resume(agent)
      }
    }

    // 1. Let go while the new attempt still runs (it takes OTHER_MS): the late result wins.
    const taken = await round(`cutoff-taken-${rng.seed}`, 'while-rescheduled-runs')
    const first = await finished(requester, taken.graphId, 120_000)
    expect(first.state, unfinished(first)).toBe('succeeded')
    const won = opOf(first, taken.victim.id)
    expect(won.deviceIds?.[0], 'the late result of the cut-off prover won').toBe(cut)
    expect(won.deviceIds, 'the new attempt was cancelled').toContain(other)
    expect(won.attempt).toBe(taken.rescheduled.attempt)
    expect(logEntries(agentProcess(c, other), { msg: 'task cancelled by the oracle' }).length).toBeGreaterThanOrEqual(1)

    // 2. Let go only after the new attempt succeeded: the late result is acknowledged and ignored.
    const ignored = await round(`cutoff-ignored-${rng.seed}`, 'after-rescheduled-won')
    const key = `${ignored.graphId}/${ignored.victim.id}#${ignored.victim.attempt}`
    // The cut-off prover did finish its old attempt and delivered it...
    await until(`${cut} finished ${key}`, async () => (logEntries(ignored.agent, { msg: 'task succeeded', task: key }).length > 0 ? true : undefined), 30_000)
    await until(`${cut} live again`, async () => ((await proverInfo(requester, cut))?.state === 'live' ? true : undefined), 30_000)
    const second = await finished(requester, ignored.graphId, 120_000)
    expect(second.state, unfinished(second)).toBe('succeeded')
    // ...and it changed nothing: the op is as it was when the other prover's result won.
    expect(opOf(second, ignored.victim.id)).toEqual(ignored.before)
    expect(ignored.before.deviceIds?.[0]).toBe(other)

    // Being cut off is not a failure: neither prover was charged.
    for (const name of [cut, other]) expect((await proverInfo(requester, name))?.ban.consecutiveFailures, name).toBe(0)

    const dataDir = await stopForInspection(c)
    expect(checkInvariants({ dataDir, graphIds })).toEqual({ graphs: 2, ops: 10 })
  })
})

function opOf(status: GraphStatus, opId: string): OpStatus {
  const op = status.ops.find((o) => o.id === opId)
  if (op === undefined) throw new Error(`no op ${opId} in ${status.graphId}`)
  return op
}
