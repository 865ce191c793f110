import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GalacticClient } from '@galactic/sdk'
import { GalacticError, type GraphInput } from '@galactic/schemas'
import { OracleNode } from '../src/oracle-node.js'
import { AgentPeer, drain } from './agent-peer.js'
import { PLUGIN } from './helpers.js'

function graph(nonce: string): GraphInput {
  return { requester: 'alice', nonce, ops: [{ id: 'a', name: 'prove', plugin: { ...PLUGIN } }] }
}

async function refused(p: Promise<unknown>): Promise<GalacticError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  if (!GalacticError.is(err)) throw new Error(`expected a GalacticError, got ${String(err)}`)
  return err
}

/**
 * A commit the journal refuses (here: another connection holds SQLite's write lock, so the
 * oracle's write fails with SQLITE_BUSY after its busy timeout; a full disk fails the same way
 * with STORAGE_FULL, see test/chaos/disk-full.test.ts). The scheduler had already applied the
 * Step in memory: the oracle must rebuild it from the journal, refuse the request, and go on.
 */
describe('the oracle after a journal write fails', () => {
  let dir: string
  let dataDir: string
  let oracle: OracleNode
  let client: GalacticClient
  const peers: AgentPeer[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-storage-failure-'))
    dataDir = join(dir, 'oracle')
    oracle = new OracleNode({ dataDir, wsPort: 0, p2pPort: 0, verifyMode: 'off', livenessTimeoutMs: 60_000 })
    await oracle.start()
    client = new GalacticClient({ url: oracle.wsUrl })
  })

  afterAll(async () => {
    client?.close()
    for (const p of peers) await p.stop()
    await oracle?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses the request with nothing kept, rebuilds memory from the journal, and works again without a restart', async () => {
    const peer = await AgentPeer.start(dir, 'p1', oracle.multiaddrs[0] as string)
    peers.push(peer)
    const first = await peer.connect(await peer.register('p1'))
    expect(first.reply.type).toBe('registered')
    const { graphId: one } = await client.submit(graph('one'))
    expect(await first.framed.read({ signal: AbortSignal.timeout(10_000) })).toMatchObject({ type: 'task.assign', task: { graphId: one, opId: 'a', attempt: 1 } })

    // Another connection takes the write lock: the oracle's next commit fails.
    const blocker = new Database(join(dataDir, 'journal.sqlite'))
    let err: GalacticError
    try {
      blocker.exec('BEGIN IMMEDIATE')
      err = await refused(client.submit(graph('two')))
    } finally {
      if (blocker.inTransaction) blocker.exec('ROLLBACK')
      blocker.close()
    }
    expect(err.code).toBe('STORAGE_ERROR')
    expect(err.details).toMatchObject({ dataDir, sqliteCode: 'SQLITE_BUSY' })

    // Memory is what the journal holds: the refused graph is nowhere, the first one is as it was.
    const journal = new Database(join(dataDir, 'journal.sqlite'), { readonly: true })
    const journaled = (journal.prepare('SELECT graph_id FROM graphs ORDER BY seq').all() as Array<{ graph_id: string }>).map((r) => r.graph_id)
    journal.close()
    expect(journaled).toEqual([one])
    expect((await client.graphs()).map((g) => g.graphId)).toEqual([one])
    expect((await client.status(one)).ops[0]).toMatchObject({ state: 'assigned', attempt: 1, deviceIds: ['p1'] })

    // The agent's session was closed (its prover was rebuilt as not connected). Registering
    // again, it is sent its task again, the same attempt, as after a restart.
    await drain(first.framed)
    const again = await peer.connect(await peer.register('p1'))
    expect(again.reply.type).toBe('registered')
    expect(await again.framed.read({ signal: AbortSignal.timeout(10_000) })).toMatchObject({ type: 'task.assign', task: { graphId: one, opId: 'a', attempt: 1 } })

    // And the same oracle accepts work again.
    expect(await client.submit(graph('two'))).toMatchObject({ created: true })
    expect((await client.graphs()).map((g) => g.graphId)).toHaveLength(2)
  })
})
