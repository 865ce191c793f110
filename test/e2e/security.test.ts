import { execFile } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { buildZkmGraph, GalacticClient, GalacticError, signSubmission, Wallet } from '@galactic/sdk'

const run = promisify(execFile)

/** `galactic allowlist ...` as its own process, as an oracle operator runs it. */
async function allowlist(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, 'allowlist', ...args], { timeout: 60_000 })
  return stdout
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  return GalacticError.is(err) ? err.code : `not refused: ${String(err)}`
}

// The oracle (started with --allowlist), the agents and the allowlist edits are real processes.
describe('signed submissions, end to end with real agents', () => {
  let cluster: LocalCluster
  let oracleDir: string
  const oracle = { get wsUrl(): string { return cluster.url } }
  const alice = Wallet.createRandom()
  const plugin = { name: 'sha256-chain', version: '1.0.0' }

  beforeAll(async () => {
    cluster = await startLocalCluster({ prefix: 'galactic-security-e2e-', oracleArgs: ['--allowlist'], agents: [{ name: 'sec-1' }, { name: 'sec-2' }] })
    oracleDir = join(cluster.dir, 'oracle')
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('runs a signed graph from an allowlisted requester and refuses unsigned, forged and unlisted ones', async () => {
    const graph = buildZkmGraph({ requester: alice.address, nonce: 'e2e-1', segments: 2, plugin, params: { seed: 'sec', segmentSteps: 2000 } })
    const client = new GalacticClient({ url: oracle.wsUrl, signer: alice })
    const plain = new GalacticClient({ url: oracle.wsUrl })
    try {
      // Not on the allowlist yet.
      expect(await refusal(client.submit(graph))).toBe('UNAUTHORIZED')
      expect(await allowlist('add', alice.address.toLowerCase(), '--data-dir', oracleDir)).toContain(`added: ${alice.address}`)
      expect((await allowlist('list', '--data-dir', oracleDir)).trim()).toBe(alice.address)

      const { graphId, created } = await client.submit(graph)
      expect(created).toBe(true)
      const status = await client.wait(graphId)
      expect(status.state).toBe('succeeded')
      expect(status.requester).toBe(alice.address)
      expect(new Set(status.ops.flatMap((op) => op.deviceIds ?? [])).size).toBeGreaterThan(0)
      const { outputs } = await client.result(graphId)
      expect(outputs.map((o) => o.opId)).toEqual(['snark'])

      // Unsigned, and signed by someone else in alice's name: refused.
      expect(await refusal(plain.submit({ ...graph, nonce: 'e2e-2' }))).toBe('UNAUTHORIZED')
      const mallory = Wallet.createRandom()
      const forged = await signSubmission(mallory, { ...graph, requester: mallory.address, nonce: 'e2e-3' })
      expect(await refusal(plain.call('graph.submit', { graph: { ...forged.graph, requester: alice.address }, auth: forged.auth }))).toBe('UNAUTHORIZED')
      // Removed from the allowlist: refused again, without restarting the oracle.
      expect(await allowlist('remove', alice.address, '--data-dir', oracleDir)).toContain('removed')
      expect(await refusal(client.submit({ ...graph, nonce: 'e2e-4' }))).toBe('UNAUTHORIZED')
    } finally {
      client.close()
      plain.close()
    }
  })

  it('knows each agent by its own Ethereum key, kept in a 0600 file', async () => {
    const db = new Database(join(oracleDir, 'evidence.sqlite'), { readonly: true })
    try {
      const rows = db.prepare('SELECT prover_id, address, peer_id FROM prover_identities ORDER BY prover_id').all() as Array<{ prover_id: string; address: string; peer_id: string }>
      expect(rows.map((r) => r.prover_id)).toEqual(['sec-1', 'sec-2'])
      expect(rows.map((r) => r.peer_id)).toEqual(['sec-1', 'sec-2'].map((n) => cluster.agents.find((a) => a.ready.name === n)?.ready.peerId))
      expect(rows[0]?.address).not.toBe(rows[1]?.address)
      // Every result of the graph above came signed by its prover and is kept as evidence.
      const results = db.prepare('SELECT COUNT(*) AS n FROM results').get() as { n: number }
      expect(results.n).toBeGreaterThanOrEqual(5)
    } finally {
      db.close()
    }
    for (const name of ['sec-1', 'sec-2']) expect(statSync(join(cluster.dir, `agent-${name}`, 'eth.key')).mode & 0o777).toBe(0o600)
  })
})
