import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalCluster, type LocalCluster } from '@galactic/cli/processes'
import { Artifacts, releaseProver, verifyFinal } from '@galactic/plugin-groth16-chain'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'

const MANIFEST = fileURLToPath(new URL('../../plugins/groth16-chain/galactic-plugin.json', import.meta.url))
const plugin = { name: 'groth16-chain', version: '1.0.0' }

/**
 * Real zero-knowledge proving through the whole system: three agents make Groth16 proofs of a
 * Poseidon chain's segments, the oracle verifies each result with the plugin before it counts,
 * and the final snark verifies on its own. Keys come from `npm run setup -w @galactic/plugin-groth16-chain`
 * (npm test runs it first).
 */
describe('the groth16 ZKM pipeline with real agents', () => {
  let cluster: LocalCluster
  let client: GalacticClient

  beforeAll(async () => {
    new Artifacts().check() // a clear error naming the setup command if the keys were not made
    cluster = await startLocalCluster({
      prefix: 'galactic-groth16-',
      oracleArgs: ['--verify', 'required', '--verify-plugins', MANIFEST],
      agents: [1, 2, 3].map((i) => ({ name: `zk-prover-${i}`, args: ['--plugins', MANIFEST] })),
    })
    client = new GalacticClient({ url: cluster.url })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
    await releaseProver()
  })

  it('proves 4 segments, aggregates them, wraps them in a snark that verifies', async () => {
    const seed = 'e2e groth16'
    const segments = 4
    const graph = buildZkmGraph({ requester: 'e2e', nonce: 'groth16', segments, plugin, params: { seed, segmentSize: 16 } })
    const { graphId } = await client.submit(graph)
    const status = await client.wait(graphId)
    expect(status.state, JSON.stringify(status.ops.filter((o) => o.state !== 'succeeded').map((o) => [o.id, o.error]))).toBe('succeeded')
    // Every result was verified by the oracle before it counted: none was refused.
    expect(status.ops.every((o) => o.attempt === 1 && o.error === null)).toBe(true)
    const snark = (await client.result(graphId)).outputs.find((o) => o.name === 'snark')
    const output = JSON.parse(Buffer.from(snark!.data).toString('utf8')) as { steps: number; publicSignals: string[] }
    expect(output.steps).toBe(segments * 16)
    expect(await verifyFinal(output as never, { seed, segments, segmentSize: 16 })).toEqual({ valid: true })
    // A different seed, or a tampered public signal, does not verify.
    expect((await verifyFinal(output as never, { seed: 'another seed', segments, segmentSize: 16 })).valid).toBe(false)
    const tampered = { ...output, publicSignals: [...output.publicSignals] }
    tampered.publicSignals[1] = '12345'
    expect((await verifyFinal(tampered as never, { seed, segments, segmentSize: 16 })).valid).toBe(false)
  })
})
