import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { KeyCache, initialState, runChain, verifyFinal, type SnarkOutput } from '@galactic/plugin-o1js-chain'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'

const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/o1js-chain/', import.meta.url))
const MANIFEST = join(PLUGIN_DIR, 'galactic-plugin.json')
const plugin = { name: 'o1js-chain', version: '1.0.0' }

/**
 * Real recursive proving through the whole system: two agents make o1js leaf proofs of a Poseidon
 * chain's two segments, one of them merges them into one proof that verifies both inside its
 * circuit, the snark op checks the root; the oracle verifies every result with the plugin before
 * it counts (`--verify required`), and the final proof verifies on its own here. Keys come from
 * `npm run setup -w @galactic/plugin-o1js-chain` (npm test runs it first).
 */
describe('the o1js recursive ZKM pipeline with real agents', () => {
  let cluster: LocalCluster
  let client: GalacticClient

  beforeAll(async () => {
    new KeyCache().check() // a clear error naming the setup command if the keys were not made
    cluster = await startLocalCluster({
      prefix: 'galactic-o1js-',
      // The default liveness (5 s) on purpose: the first o1js verification in the oracle's verifier
      // process takes 10-40 s, and the agent's heartbeats must keep counting meanwhile (the oracle
      // verifies results off its read loop), or its op would be run again (asserted below).
      oracleArgs: ['--verify', 'required', '--verify-plugins', MANIFEST],
      agents: [1, 2].map((i) => ({ name: `o1js-prover-${i}`, args: ['--plugins', MANIFEST] })),
    })
    client = new GalacticClient({ url: cluster.url })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
  })

  it('proves 2 segments, merges them recursively, and the root proof verifies independently', { timeout: 1_200_000 }, async () => {
    const seed = 'e2e o1js'
    const segments = 2
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'o1js', segments, plugin, params: { seed, segmentSize: 16 } })
    expect(graph.ops.map((o) => o.name)).toEqual(['split', 'prove', 'prove', 'aggregate', 'snark'])
    const { graphId } = await client.submit(graph)
    const failures: unknown[] = []
    const status = await client.wait(graphId, { onEvent: (e) => void (e.type === 'op' && e.error !== null && failures.push([e.opId, e.state, e.attempt, e.error])) })
    const why = (): string => `${JSON.stringify(failures)}\noracle:\n${cluster.oracle.logTail(40)}`
    expect(status.state, why()).toBe('succeeded')
    // Every result was verified by the oracle before it counted: none was refused, none retried.
    expect(failures, why()).toEqual([])
    expect(status.ops.map((o) => o.attempt)).toEqual([1, 1, 1, 1, 1])

    const snark = (await client.result(graphId)).outputs.find((o) => o.name === 'snark')
    expect(snark).toBeDefined()
    const output = JSON.parse(Buffer.from(snark!.data).toString('utf8')) as SnarkOutput
    // The claim is the whole run, recomputed here: s0 of the seed to s(32).
    const s0 = await initialState(seed)
    expect(output).toMatchObject({ kind: 'snark', seed, segments, steps: 32, start: s0.toString(), end: (await runChain(s0, 0, 32)).toString() })
    expect(output.proof.publicOutput).toEqual([output.start, '0', '32', output.end])
    expect(await verifyFinal(output, { seed, segments })).toEqual({ valid: true })
    // Another seed, or a tampered end state, does not verify.
    expect((await verifyFinal(output, { seed: 'another seed', segments })).valid).toBe(false)
    expect((await verifyFinal({ ...output, end: '12345', proof: { ...output.proof, publicOutput: [output.start, '0', '32', '12345'] } }, { seed })).valid).toBe(false)

    // The command the demo prints checks it too, in a process of its own.
    const dir = mkdtempSync(join(tmpdir(), 'galactic-o1js-final-'))
    try {
      writeFileSync(join(dir, 'snark.json'), JSON.stringify(output))
      const { stdout } = await promisify(execFile)(process.execPath, [join(PLUGIN_DIR, 'scripts', 'verify.mjs'), join(dir, 'snark.json'), '--seed', seed, '--segments', '2'], {
        timeout: 300_000,
      })
      expect(JSON.parse(stdout)).toEqual({ valid: true })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
