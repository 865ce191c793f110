import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { Journal } from '@galactic/oracle'
import { runChain, toHex, verifySnark } from '@galactic/plugin-sha256-chain'
import { contentHash, LIMITS } from '@galactic/schemas'
import { buildZkmGraph, GalacticClient, type GraphStatus, type OpStatus } from '@galactic/sdk'

const plugin = { name: 'sha256-chain', version: '1.0.0' }
const AGENTS = 3

/**
 * The walking skeleton, for real: an oracle process, three agent processes running the
 * sha256-chain plugin as child processes, libp2p on loopback, the SDK over WebSocket.
 */
describe('a ZKM-shaped graph through real processes', () => {
  let cluster: LocalCluster
  let client: GalacticClient
  let firstGraphId: string | undefined

  beforeAll(async () => {
    cluster = await startLocalCluster({
      prefix: 'galactic-e2e-',
      oracleArgs: ['--heartbeat-ms', '300', '--liveness-ms', '4000'],
      agents: Array.from({ length: AGENTS }, (_, i) => ({ name: `e2e-prover-${i + 1}` })),
    })
    client = new GalacticClient({ url: cluster.url })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
  })

  it('runs split, 4 proves, 3 aggregations and a snark to a correct result', async () => {
    const seed = 'e2e-first'
    const segments = 4
    const segmentSteps = 20_000
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'first', segments, plugin, params: { seed, segmentSteps } })
    const { graphId, created } = await client.submit(graph)
    expect(created).toBe(true)
    firstGraphId = graphId
    // Beside the full watch below, one that asked for the graph's own events only.
    const quiet = (async () => {
      const events: string[] = []
      for await (const e of client.watch(graphId, { ops: false, reconnect: false })) events.push(e.type === 'snapshot' ? 'snapshot' : `${e.type}:${e.state}`)
      return events
    })()
    const seen = new Set<string>()
    const status = await client.wait(graphId, {
      onEvent: (e) => {
        if (e.type === 'op') seen.add(`${e.opId}:${e.state}`)
      },
    })
    expect(status.state, JSON.stringify(status.ops.map((o) => [o.id, o.state, o.error]))).toBe('succeeded')
    expect(status.ops.map((o) => o.name).sort()).toEqual(['aggregate', 'aggregate', 'aggregate', 'prove', 'prove', 'prove', 'prove', 'snark', 'split'])
    for (const op of status.ops) {
      expect(op.state).toBe('succeeded')
      expect(op.deviceIds).toHaveLength(1)
      expect(op.outputs?.length).toBeGreaterThan(0)
      expect(seen.has(`${op.id}:succeeded`)).toBe(true)
    }
    expect(await quiet).toEqual(['snapshot', 'graph:succeeded'])
    // The work was spread: the four proves were ready together and three provers were idle.
    const provers = new Set(status.ops.filter((o) => o.name === 'prove').flatMap((o) => o.deviceIds ?? []))
    expect(provers.size).toBeGreaterThanOrEqual(2)

    // Outputs are real: each segment's end matches an independent run of the chain...
    const starts = []
    for (let k = 0; k <= segments; k++) starts.push(toHex(await runChain(seed, 0, k * segmentSteps)))
    for (let k = 0; k < segments; k++) {
      const proof = JSON.parse(Buffer.from(await client.blob(opById(status, `prove-${k}`).outputs![0]!.hash)).toString('utf8'))
      expect(proof.start).toBe(starts[k])
      expect(proof.end).toBe(starts[k + 1])
    }
    // ...and the graph's result (the snark) verifies against a fresh run of the whole chain.
    const { outputs } = await client.result(graphId)
    expect(outputs.map((o) => o.opId)).toEqual(['snark'])
    const snark = JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8'))
    expect(snark.end).toBe(starts[segments])
    expect(verifySnark(snark, seed, segments * segmentSteps)).toBe(true)
    expect(verifySnark({ ...snark, end: starts[1] }, seed, segments * segmentSteps)).toBe(false)

    // The oracle's Prometheus endpoint saw all of it.
    const metrics = await (await fetch(`${cluster.url.replace('ws:', 'http:')}/metrics`)).text()
    const value = (series: string): number => {
      const line = metrics.split('\n').find((l) => l.startsWith(`${series} `))
      if (line === undefined) throw new Error(`no series ${series} in /metrics`)
      return Number(line.slice(series.length + 1))
    }
    expect(value('galactic_op_transitions_total{state="succeeded"}')).toBeGreaterThanOrEqual(9)
    expect(value('galactic_placement_latency_seconds_count')).toBeGreaterThanOrEqual(9)
    expect(value('galactic_provers{state="live"}')).toBe(AGENTS)
    expect(value('galactic_provers{state="lost"}')).toBe(0)
    expect(value('galactic_queue_depth_ops')).toBe(0)
    expect(value('galactic_graphs_finished_total{state="succeeded"}')).toBe(1)
    expect(value('galactic_blob_bytes_total{direction="in"}')).toBeGreaterThan(0)
    expect(value('galactic_blob_bytes_total{direction="out"}')).toBeGreaterThan(0)

    // Submitting the same graph again is idempotent; a different graph under the same nonce is refused.
    expect(await client.submit(graph)).toEqual({ graphId, created: false })
    await expect(client.submit({ ...graph, ops: graph.ops.slice(0, 1) })).rejects.toMatchObject({ code: 'NONCE_CONFLICT' })
  })

  it('refuses a bad graph with the op and field named, and keeps serving', async () => {
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'bad', segments: 2, plugin, params: { seed: 's', segmentSteps: 10 } })
    graph.ops[2]!.inputs = ['split', 'nowhere']
    await expect(client.submit(graph)).rejects.toMatchObject({ code: 'INVALID_GRAPH', message: expect.stringContaining('ops[2].inputs[1]') })
    await expect(client.status('g_nope')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect((await client.info()).peerId).toBe(cluster.oracle.ready.peerId)
  })

  it('sends outputs up to 16 KiB inline and larger ones as blob files, and both reach the ops that read them', async () => {
    const seed = 'e2e-sizes'
    const segments = 300 // the split's output lists 301 states: over LIMITS.inlineBlobBytes
    // A resident plugin per agent: 601 ops without 601 plugin launches.
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'sizes', segments, plugin, params: { seed, segmentSteps: 1 }, pluginMode: 'performance' })
    const { graphId } = await client.submit(graph)
    const status = await client.wait(graphId)
    expect(status.state, JSON.stringify(status.ops.filter((o) => o.state !== 'succeeded').map((o) => [o.id, o.state, o.error]))).toBe('succeeded')
    const split = opById(status, 'split').outputs![0]!
    const prove = opById(status, 'prove-7').outputs![0]!
    expect(split.size).toBeGreaterThan(LIMITS.inlineBlobBytes)
    expect(prove.size).toBeLessThanOrEqual(LIMITS.inlineBlobBytes)
    const oracleDir = join(cluster.dir, 'oracle')
    const file = (hash: string): string => join(oracleDir, 'blobs', hash.slice('sha256:'.length))
    // The large one was uploaded over the blob protocol and is a file; the small one came with its result.
    expect(existsSync(file(split.hash))).toBe(true)
    expect(existsSync(file(prove.hash))).toBe(false)
    const db = new Database(join(oracleDir, 'journal.sqlite'), { readonly: true })
    try {
      const row = db.prepare('SELECT data FROM blobs WHERE hash = ?').get(prove.hash) as { data: Buffer } | undefined
      expect(row === undefined ? undefined : contentHash(row.data)).toBe(prove.hash)
    } finally {
      db.close()
    }
    // Every prove read the split (fetched as a blob) and the proves' outputs reached the aggregations (inline).
    const snark = JSON.parse(Buffer.from((await client.result(graphId)).outputs[0]!.data).toString('utf8'))
    expect(verifySnark(snark, seed, segments)).toBe(true)
    expect(JSON.parse(Buffer.from(await client.blob(prove.hash)).toString('utf8')).end).toBe(toHex(await runChain(seed, 0, 8)))
  })

  it('survives SIGKILL of the oracle mid-graph and finishes without redoing finished ops', async () => {
    const seed = 'e2e-crash'
    const segments = 6
    const segmentSteps = 150_000
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'crash', segments, plugin, params: { seed, segmentSteps } })
    const { graphId } = await client.submit(graph)

    // Follow the graph until the split and at least two proves are done, then kill -9 the oracle.
    let before: GraphStatus | undefined
    const watcher = new GalacticClient({ url: cluster.url })
    for await (const event of watcher.watch(graphId, { reconnect: false })) {
      if (event.type !== 'op' || event.state !== 'succeeded') continue
      const status = await watcher.status(graphId)
      if (status.ops.filter((o) => o.state === 'succeeded').length >= 3) {
        before = status
        break
      }
    }
    watcher.close()
    expect(before?.state).toBe('running')
    const doneBefore = before!.ops.filter((o) => o.state === 'succeeded')
    expect(doneBefore.length).toBeLessThan(before!.ops.length)

    // kill -9, then restart on the same data folder and ports; the agents find it again by themselves.
    await cluster.restartOracle('kill')
    const after = await client.wait(graphId)
    expect(after.state, JSON.stringify(after.ops.map((o) => [o.id, o.state, o.attempt, o.error]))).toBe('succeeded')
    for (const op of doneBefore) {
      const now = opById(after, op.id)
      expect(now.attempt, `${op.id} was assigned again`).toBe(op.attempt)
      expect(now.deviceIds).toEqual(op.deviceIds)
      expect(now.outputs).toEqual(op.outputs)
      expect(now.finishedAt).toBe(op.finishedAt)
    }
    const { outputs } = await client.result(graphId)
    const snark = JSON.parse(Buffer.from(outputs[0]!.data).toString('utf8'))
    expect(verifySnark(snark, seed, segments * segmentSteps)).toBe(true)

    // The first graph survived the crash too.
    expect((await client.status(firstGraphId!)).state).toBe('succeeded')

    // The journal is intact and its audit trail shows one assignment per finished-before op.
    await cluster.restartOracle('stop', () => {
      const journal = Journal.open({ path: join(cluster.dir, 'oracle', 'journal.sqlite') })
      try {
        expect(journal.integrityCheck()).toBe(true)
        const events = journal.events(graphId)
        for (const op of doneBefore) {
          const assigned = events.filter((e) => e.opId === op.id && e.state === 'assigned')
          expect(assigned.map((e) => e.attempt)).toEqual([op.attempt])
        }
      } finally {
        journal.close()
      }
    })
  })
})

function opById(status: GraphStatus, id: string): OpStatus {
  const op = status.ops.find((o) => o.id === id)
  if (op === undefined) throw new Error(`no op ${id}`)
  return op
}
