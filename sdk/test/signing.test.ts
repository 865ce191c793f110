import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { verifyTypedData, Wallet } from 'ethers'
import { afterAll, describe, expect, it } from 'vitest'
import { canonicalJson, EIP712_DOMAIN, GalacticError, graphHash, SUBMISSION_TYPES } from '@galactic/schemas'
import { checksumAddress, loadOrCreateEthKey, signSubmission } from '../src/index.js'

const plugin = { name: 'sha256-chain', version: '1.0.0' }
const dir = mkdtempSync(join(tmpdir(), 'galactic-sdk-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('signing submissions', () => {
  it('fills in the requester and signs what the oracle will hash', async () => {
    const wallet = Wallet.createRandom()
    const { graph, auth } = await signSubmission(wallet, { nonce: '1', ops: [{ id: 'a', name: 'split', plugin }] }, { now: () => 1_000_000 })
    expect(graph.requester).toBe(wallet.address)
    expect(auth.expiresAt).toBe(1000 + 600)
    const signer = verifyTypedData(EIP712_DOMAIN, SUBMISSION_TYPES, { graphHash: graphHash(graph), requester: wallet.address, nonce: '1', expiresAt: auth.expiresAt }, auth.signature)
    expect(signer).toBe(wallet.address)
  })

  it('refuses to sign a graph that names another requester', async () => {
    const err = await signSubmission(Wallet.createRandom(), { requester: Wallet.createRandom().address, nonce: '1', ops: [{ id: 'a', name: 'split', plugin }] }).catch((e: unknown) => e)
    expect(GalacticError.is(err, 'INVALID_INPUT')).toBe(true)
  })

  it('hashes the same graph the same whatever its key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }), (params) => {
        const graph = { requester: 'r', nonce: 'n', ops: [{ id: 'a', name: 'split', plugin, params }] }
        const reversed = Object.fromEntries(Object.entries(params).reverse())
        const flipped = { ops: [{ params: reversed, plugin: { version: plugin.version, name: plugin.name }, name: 'split', id: 'a' }], nonce: 'n', requester: 'r' }
        expect(graphHash(flipped)).toBe(graphHash(graph))
        expect(canonicalJson(reversed)).toBe(canonicalJson(params))
      }),
      { numRuns: 200 },
    )
  })

  it('keeps an agent key in a 0600 file and loads the same key again', async () => {
    const path = join(dir, 'agent', 'eth.key')
    const first = await loadOrCreateEthKey(path)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect((await loadOrCreateEthKey(path)).address).toBe(first.address)
    expect(checksumAddress(first.address.toLowerCase())).toBe(first.address)
  })
})
