import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNode, FramedStream, loadOrCreateKey, type GalacticNode } from '@galactic/net'
import { AGENT_PROTOCOL, AgentMessage, type OracleMessage, type Task } from '@galactic/schemas'
import { ProverAgent } from '../src/index.js'

/** Serves sha256-chain, but sleeps 10 minutes before each task (until stopped). */
const SLOW_PLUGIN = fileURLToPath(new URL('../../test/fixtures/slow-plugin/galactic-plugin.json', import.meta.url))

function task(opId: string, timeoutMs: number): Task {
  return {
    graphId: 'g1',
    opId,
    attempt: 1,
    name: 'prove',
    plugin: { name: 'sha256-chain', version: '1.0.0' },
    params: null,
    requirements: {},
    inputs: [],
    timeoutMs,
    pluginMode: 'performance',
  }
}

/**
 * A real agent (its libp2p node, its plugin process) driven by a scripted oracle: a libp2p node
 * on loopback that answers the registration, then assigns and cancels tasks and reads what the
 * agent reports.
 */
describe('a prover agent running tasks for a scripted oracle', () => {
  let dir: string
  let oracle: GalacticNode
  let agent: ProverAgent
  let framed: FramedStream<AgentMessage, OracleMessage>

  /** The next message of `type` from the agent (heartbeats and others skipped). */
  async function next<T extends AgentMessage['type']>(type: T): Promise<Extract<AgentMessage, { type: T }>> {
    for (;;) {
      const msg = await framed.read({ signal: AbortSignal.timeout(10_000) })
      if (msg.type === type) return msg as Extract<AgentMessage, { type: T }>
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-agent-tasks-'))
    oracle = await createNode({ privateKey: await loadOrCreateKey(join(dir, 'oracle.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
    const session = new Promise<FramedStream<AgentMessage, OracleMessage>>((resolve) => {
      void oracle.handle(AGENT_PROTOCOL, async (stream) => {
        const f = new FramedStream<AgentMessage, OracleMessage>(stream, AgentMessage, 'agent message')
        const register = await f.read()
        if (register.type !== 'register') throw new Error(`expected register, got ${register.type}`)
        await f.send({ type: 'registered', proverId: register.proverId, heartbeatIntervalMs: 60_000, livenessTimeoutMs: 120_000 })
        resolve(f)
      })
    })
    agent = new ProverAgent({ proverId: 'slowpoke', oracle: oracle.getMultiaddrs()[0]!.toString(), dataDir: join(dir, 'agent'), plugins: [SLOW_PLUGIN], slots: 2 })
    await agent.start()
    framed = await session
  }, 60_000)

  afterAll(async () => {
    await agent?.stop()
    await oracle?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("fails a task that runs past its timeoutMs with TIMEOUT, and reports it", async () => {
    await framed.send({ type: 'task.assign', task: task('late', 300) })
    expect(await next('task.started')).toMatchObject({ graphId: 'g1', opId: 'late', attempt: 1 })
    const { results } = await next('task.results')
    expect(results).toEqual([
      { graphId: 'g1', opId: 'late', attempt: 1, outcome: { ok: false, error: { code: 'TIMEOUT', message: 'task ran past its 300 ms timeout' } } },
    ])
    await framed.send({ type: 'result.ack', graphId: 'g1', opId: 'late', attempt: 1 })
  })

  it('stops a task the oracle cancels and reports nothing for it', async () => {
    await framed.send({ type: 'task.assign', task: task('cancelled', 60_000) })
    await next('task.started')
    await framed.send({ type: 'task.cancel', graphId: 'g1', opId: 'cancelled', attempt: 1, reason: 'given to another prover' })
    // The next result is the next task's: the cancelled one sent none, early or late.
    await framed.send({ type: 'task.assign', task: task('after', 300) })
    const { results } = await next('task.results')
    expect(results.map((r) => r.opId)).toEqual(['after'])
    expect(results[0]?.outcome).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } })
  })
})
