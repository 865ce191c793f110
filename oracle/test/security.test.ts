import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifyTypedData, Wallet } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadOrCreateKey, signResults, verifyResults } from '@galactic/net'
import { GalacticClient, signSubmission } from '@galactic/sdk'
import { ALLOWLIST_FILE, EIP712_DOMAIN, GalacticError, REGISTRATION_TYPES, SUBMISSION_TYPES, graphHash, signedResult, type GraphInput } from '@galactic/schemas'
import { OracleNode } from '../src/oracle-node.js'
import { EvidenceStore } from '../src/security/index.js'
import { AgentPeer, drain } from './agent-peer.js'
import { PLUGIN } from './helpers.js'

const alice = Wallet.createRandom()
const mallory = Wallet.createRandom()

function graph(nonce: string, over: Partial<GraphInput> = {}): Omit<GraphInput, 'requester'> & { requester?: string } {
  return { nonce, ops: [{ id: 'a', name: 'split', plugin: { ...PLUGIN, version: '9.9.9' } }], ...over }
}

async function refused(p: Promise<unknown>): Promise<GalacticError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  if (!GalacticError.is(err)) throw new Error(`expected a GalacticError, got ${String(err)}`)
  return err
}

function allow(dir: string, addresses: string[]): void {
  const path = join(dir, ALLOWLIST_FILE)
  writeFileSync(`${path}.tmp`, JSON.stringify({ addresses }))
  renameSync(`${path}.tmp`, path)
}

describe('an oracle that requires signatures and an allowlist', () => {
  let dir: string
  let oracle: OracleNode
  let raw: GalacticClient
  let signed: GalacticClient
  const peers: AgentPeer[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-security-'))
    oracle = new OracleNode({
      dataDir: join(dir, 'oracle'),
      wsPort: 0,
      p2pPort: 0,
      verifyMode: 'off',
      requireSignatures: true,
      allowlist: true,
      agentRateLimit: { perSecond: 0.01, burst: 6, maxStrikes: 2 },
    })
    await oracle.start()
    allow(join(dir, 'oracle'), [alice.address])
    raw = new GalacticClient({ url: oracle.wsUrl })
    signed = new GalacticClient({ url: oracle.wsUrl, signer: alice })
  })

  afterAll(async () => {
    raw?.close()
    signed?.close()
    for (const p of peers) await p.stop()
    await oracle?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('accepts a signed submission, fills in the requester, and stays idempotent for the same graph', async () => {
    const first = await signed.submit(graph('s-1'))
    expect(first.created).toBe(true)
    expect((await signed.status(first.graphId)).requester).toBe(alice.address)
    expect(await signed.submit(graph('s-1'))).toEqual({ graphId: first.graphId, created: false })
    // The very same signed request replayed by anyone: idempotent, nothing new.
    const params = await signSubmission(alice, graph('s-2'))
    expect((await raw.call('graph.submit', params)).created).toBe(true)
    expect((await raw.call('graph.submit', params)).created).toBe(false)
  })

  it('refuses unsigned, forged, tampered and misattributed submissions', async () => {
    expect((await refused(raw.submit({ requester: alice.address, ...graph('u-1') }))).code).toBe('UNAUTHORIZED')

    // Mallory signs, claiming to be alice.
    const forged = await signSubmission(mallory, graph('f-1'))
    const claim = { graph: { ...forged.graph, requester: alice.address }, auth: forged.auth }
    expect((await refused(raw.call('graph.submit', claim))).code).toBe('UNAUTHORIZED')

    // Alice's signature, with the graph changed after signing.
    const good = await signSubmission(alice, graph('t-1'))
    const tampered = { graph: { ...good.graph, priority: 'performance' as const }, auth: good.auth }
    expect((await refused(raw.call('graph.submit', tampered))).code).toBe('UNAUTHORIZED')
    // ... or a later expiry than she signed.
    expect((await refused(raw.call('graph.submit', { graph: good.graph, auth: { ...good.auth, expiresAt: good.auth.expiresAt + 1 } }))).code).toBe('UNAUTHORIZED')
    // Junk in the signature field is refused by the schema, with the path.
    const junk = await refused(raw.call('graph.submit', { graph: good.graph, auth: { signature: '0x1234', expiresAt: 1 } } as never))
    expect(junk.code).toBe('INVALID_INPUT')
    expect(junk.issues.map((i) => i.path)).toContain('auth.signature')

    // The requester must be the checksummed address the signature recovers to.
    const lower = { ...good.graph, requester: alice.address.toLowerCase() }
    const sig = await alice.signTypedData(EIP712_DOMAIN, SUBMISSION_TYPES, { graphHash: graphHash(lower), requester: alice.address, nonce: 't-1', expiresAt: good.auth.expiresAt })
    expect((await refused(raw.call('graph.submit', { graph: lower, auth: { signature: sig, expiresAt: good.auth.expiresAt } }))).code).toBe('UNAUTHORIZED')

    // The SDK refuses to sign for someone else.
    expect((await refused(signed.submit({ ...graph('x'), requester: mallory.address }))).code).toBe('INVALID_INPUT')
  })

  it('refuses expired requests and a reused nonce with a different graph', async () => {
    const expired = await signSubmission(alice, graph('e-1'), { expiresAt: Math.floor(Date.now() / 1000) - 1 })
    expect((await refused(raw.call('graph.submit', expired))).code).toBe('EXPIRED')

    await signed.submit(graph('n-1'))
    const other = graph('n-1', { priority: 'performance' })
    expect((await refused(signed.submit(other))).code).toBe('NONCE_CONFLICT')
  })

  it('accepts only allowlisted requesters, and sees allowlist edits without a restart', async () => {
    const bob = Wallet.createRandom()
    const asBob = new GalacticClient({ url: oracle.wsUrl, signer: bob })
    try {
      const err = await refused(asBob.submit(graph('b-1')))
      expect(err.code).toBe('UNAUTHORIZED')
      expect(err.message).toContain('allowlist')
      allow(join(dir, 'oracle'), [alice.address, bob.address])
      expect((await asBob.submit(graph('b-1'))).created).toBe(true)
      allow(join(dir, 'oracle'), [alice.address])
      expect((await refused(asBob.submit(graph('b-2')))).code).toBe('UNAUTHORIZED')
    } finally {
      asBob.close()
    }
  })

  describe('prover registration', () => {
    // Three libp2p identities in all: libp2p itself refuses a burst of new inbound connections from one host.
    let a: AgentPeer
    let b: AgentPeer
    beforeAll(async () => {
      const target = oracle.multiaddrs[0] as string
      a = await AgentPeer.start(dir, 'a', target)
      b = await AgentPeer.start(dir, 'b', target)
      peers.push(a, b)
    })

    it('registers a prover whose signature, peer id and clock check out', async () => {
      const { framed, reply } = await a.connect(await a.register('honest-1'))
      expect(reply.type).toBe('registered')
      framed.abort('done')
    })

    it('refuses a prover that claims another peer id (impersonation)', async () => {
      // b signs with its own key but names a's peer id.
      const msg = await b.register('victim-1', { peerId: a.peerId })
      const { framed, reply } = await b.connect(msg)
      expect(reply).toMatchObject({ type: 'error', fatal: true, error: { code: 'UNAUTHORIZED' } })
      expect(await drain(framed)).toEqual([])
    })

    it('refuses a bad signature, a stale timestamp, and a prover id owned by another address', async () => {
      const forged = await b.register('p2', {}, Wallet.createRandom())
      expect((await b.connect(forged)).reply).toMatchObject({ type: 'error', error: { code: 'UNAUTHORIZED' } })
      const stale = await b.register('p2', { signedAt: Math.floor(Date.now() / 1000) - 3600 })
      expect((await b.connect(stale)).reply).toMatchObject({ type: 'error', error: { code: 'EXPIRED' } })

      const ok = await a.connect(await a.register('owned'))
      expect(ok.reply.type).toBe('registered')
      ok.framed.abort('done')
      const taken = await b.connect(await b.register('owned'))
      expect(taken.reply).toMatchObject({ type: 'error', error: { code: 'UNAUTHORIZED' } })
      // The owner's key behind another libp2p identity is still the owner.
      const moved = await AgentPeer.start(dir, 'a-moved', oracle.multiaddrs[0] as string, a.wallet)
      peers.push(moved)
      const back = await moved.connect(await moved.register('owned'))
      expect(back.reply.type).toBe('registered')
      back.framed.abort('done')
    })

    it('keeps signed results as evidence and refuses results signed by someone else', async () => {
      // Registered with its address in lower case: the evidence keeps it checksummed.
      const registration = await a.register('worker-1', { address: a.wallet.address.toLowerCase() })
      const { framed, reply } = await a.connect(registration)
      expect(reply.type).toBe('registered')
      const outcome = { ok: false as const, error: { code: 'PLUGIN_FAILED' as const, message: 'boom' } }
      // Two results under one signature: both kept, each with the list the signature covers.
      const sent = [
        { graphId: 'g_none', opId: 'a', attempt: 1, outcome },
        { graphId: 'g_none', opId: 'b', attempt: 1, outcome },
      ]
      const signature = await signResults(a.key, sent.map(signedResult))
      await framed.send({ type: 'task.results', results: sent, signature })
      const forged = [{ graphId: 'g_none', opId: 'a', attempt: 2, outcome }]
      await framed.send({ type: 'task.results', results: forged, signature: await signResults(await loadOrCreateKey(join(dir, 'forger.key')), forged.map(signedResult)) })
      const replies = await drain(framed)
      expect(replies.at(-1)).toMatchObject({ type: 'error', fatal: true, error: { code: 'UNAUTHORIZED' } })
      const store = EvidenceStore.open(join(dir, 'oracle', 'evidence.sqlite'))
      try {
        const kept = store.results('g_none')
        const signed = sent.map(signedResult)
        expect(kept).toEqual(sent.map(({ outcome: o, ...ref }) => expect.objectContaining({ ...ref, proverId: 'worker-1', address: a.wallet.address, peerId: a.peerId, outcome: o, signature, signed })))
        // Anyone can check the evidence: the peer's key signed the list, and the registration, signed by
        // the address, binds that peer to it.
        const first = kept[0]!
        expect(verifyResults(first.peerId!, first.signed, first.signature)).toBe(true)
        expect(verifyResults(first.peerId!, first.signed.slice(1), first.signature)).toBe(false)
        const reg = first.registration!
        expect(reg).toMatchObject({ proverId: 'worker-1', peerId: a.peerId, address: a.wallet.address, signedAt: registration.signedAt })
        expect(verifyTypedData(EIP712_DOMAIN, REGISTRATION_TYPES, { proverId: reg.proverId, peerId: reg.peerId, address: reg.address, signedAt: reg.signedAt }, reg.signature)).toBe(a.wallet.address)
      } finally {
        store.close()
      }
    })

    it('answers a flooding agent with RATE_LIMITED, then disconnects it', async () => {
      const { framed, reply } = await a.connect(await a.register('flood-1'))
      expect(reply.type).toBe('registered')
      for (let i = 0; i < 12; i++) await framed.send({ type: 'heartbeat', running: [] }).catch(() => {})
      const errors = (await drain(framed)).filter((m) => m.type === 'error')
      expect(errors.filter((m) => !m.fatal).map((m) => m.error.code)).toEqual(['RATE_LIMITED', 'RATE_LIMITED'])
      expect(errors.at(-1)).toMatchObject({ fatal: true, error: { code: 'RATE_LIMITED' } })
      // Everyone else is still served.
      expect((await raw.info()).peerId).toBe(oracle.peerId)
    })
  })
})
