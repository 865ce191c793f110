import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { contentHash, GalacticError, resultsSigningBytes, type SignedResult } from '@galactic/schemas'
import {
  createNode,
  fetchBlob,
  FileBlobStore,
  FramedStream,
  handleBlobStream,
  loadOrCreateKey,
  MemoryBlobStore,
  pushBlob,
  signResults,
  verifyResults,
  type Libp2p,
} from '../src/index.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { BLOB_PROTOCOL } from '@galactic/schemas'
import type { MessageStream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { joinWrites } from '../src/node.js'

const Ping = z.strictObject({ n: z.int() })
type Ping = z.infer<typeof Ping>

describe('net over real libp2p on loopback', () => {
  let dir: string
  let server: Libp2p
  let client: Libp2p
  let serverStore: FileBlobStore

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-net-'))
    serverStore = new FileBlobStore(join(dir, 'blobs'))
    server = await createNode({ privateKey: await loadOrCreateKey(join(dir, 'server.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
    client = await createNode({ privateKey: await loadOrCreateKey(join(dir, 'client.key')) })
    await server.handle(BLOB_PROTOCOL, (stream) => handleBlobStream(stream, serverStore, { acceptPuts: true, maxBlobBytes: 2_000_000 }))
    await server.handle('/test/echo/1.0.0', async (stream) => {
      const framed = new FramedStream<Ping, Ping | { error: string }>(stream, Ping, 'ping')
      for (;;) {
        try {
          const msg = await framed.read()
          await framed.send({ n: msg.n + 1 })
        } catch (err) {
          if (GalacticError.is(err, 'CONNECTION_CLOSED')) break
          await framed.send({ error: (err as GalacticError).code })
        }
      }
      await framed.close()
    })
  })

  afterAll(async () => {
    await client?.stop()
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps the same peer id across restarts of the key file', async () => {
    const again = await loadOrCreateKey(join(dir, 'server.key'))
    const node = await createNode({ privateKey: again })
    expect(node.peerId.toString()).toBe(server.peerId.toString())
    await node.stop()
  })

  it('exchanges schema-checked frames and reports bad ones as PROTOCOL_ERROR', async () => {
    const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, '/test/echo/1.0.0')
    const framed = new FramedStream<unknown, unknown>(stream, z.unknown(), 'reply')
    await framed.send({ n: 41 })
    expect(await framed.read()).toEqual({ n: 42 })
    await framed.send({ n: 'x' })
    expect(await framed.read()).toEqual({ error: 'PROTOCOL_ERROR' })
    await framed.sendBytes(new Uint8Array([0xff, 0xfe, 0x00]))
    expect(await framed.read()).toEqual({ error: 'PROTOCOL_ERROR' })
    await framed.send({ n: 1 })
    expect(await framed.read()).toEqual({ n: 2 })
    await framed.close()
  })

  it('sends the messages of one event-loop turn in one write, in order, and each arrives as its own frame', async () => {
    const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, '/test/echo/1.0.0')
    const writes: number[] = []
    const send = stream.send.bind(stream)
    stream.send = (data) => {
      writes.push(data.byteLength)
      return send(data)
    }
    const framed = new FramedStream<unknown, unknown>(stream, z.unknown(), 'reply')
    const sent = [1, 2, 3, 4, 5].map((n) => framed.send({ n }))
    await Promise.all(sent)
    expect(writes).toHaveLength(1)
    const replies = []
    for (let i = 0; i < 5; i++) replies.push(await framed.read())
    expect(replies).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }, { n: 6 }])
    // Messages queued just before close() are written before the stream ends.
    void framed.send({ n: 9 })
    await framed.close()
    expect(writes).toEqual([5 * 8, 8]) // each frame: 1 length byte + 7 bytes of {"n":1}
  })

  it('puts each encrypted message on the socket in one write, not one per piece', async () => {
    const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, '/test/echo/1.0.0')
    const framed = new FramedStream<unknown, unknown>(stream, z.unknown(), 'reply')
    await framed.send({ n: 0 })
    await framed.read()
    // Noise gives the socket its 2-byte length and the ciphertext (itself in pieces) as a list;
    // written piece by piece that is 2 or more socket writes per message.
    const writes = { count: 0 }
    const write = Socket.prototype.write
    Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
      writes.count++
      return write.apply(this, args)
    } as Socket['write']
    const messages = 40
    try {
      for (let n = 1; n <= messages; n++) {
        await framed.send({ n })
        expect(await framed.read()).toEqual({ n: n + 1 })
      }
    } finally {
      Socket.prototype.write = write
    }
    await framed.close()
    // Both ends are in this process. Per round trip: the request and the reply, each one write,
    // and the yamux window update each receiver sends for a data frame, one write each: 4
    // (unjoined, each message is 3 or more writes: 8 or more).
    expect(writes.count).toBeGreaterThanOrEqual(2 * messages)
    expect(writes.count).toBeLessThanOrEqual(4 * messages + 4)
  })

  it('puts and gets blobs by content hash, in chunks, with the hash checked', async () => {
    const bytes = new Uint8Array(700_000).map((_, i) => (i * 31) % 251)
    const addr = server.getMultiaddrs()[0]!
    const hash = await pushBlob(client, addr, bytes)
    expect(hash).toBe(contentHash(bytes))
    expect(await serverStore.has(hash)).toBe(true)
    const back = await fetchBlob(client, addr, hash)
    expect(contentHash(back)).toBe(hash)
    expect(back.byteLength).toBe(bytes.byteLength)
    // no temporary files left behind
    expect(readdirSync(join(dir, 'blobs')).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('answers NOT_FOUND for a missing blob and PAYLOAD_TOO_LARGE over the limit', async () => {
    const addr = server.getMultiaddrs()[0]!
    const missing = contentHash(new Uint8Array([1, 2, 3]))
    await expect(fetchBlob(client, addr, missing)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(pushBlob(client, addr, new Uint8Array(2_000_001))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
  })

  it('refuses puts where not allowed and bytes that do not match their hash', async () => {
    const store = new MemoryBlobStore()
    await expect(store.put(contentHash(new Uint8Array([1])), new Uint8Array([2]))).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    const other = await createNode({ privateKey: await loadOrCreateKey(join(dir, 'other.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
    await other.handle(BLOB_PROTOCOL, (stream) => handleBlobStream(stream, store))
    await expect(pushBlob(client, other.getMultiaddrs()[0]!, new Uint8Array([9]))).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' })
    await other.stop()
  })
})

describe('joinWrites', () => {
  function recorder(): { sent: Array<Uint8Array | Uint8ArrayList>; stream: { send: (d: Uint8Array | Uint8ArrayList) => boolean } } {
    const sent: Array<Uint8Array | Uint8ArrayList> = []
    return { sent, stream: { send: (d) => (sent.push(d), true) } }
  }

  it('joins a list into one buffer with the same bytes, and passes a single buffer or a big list as it is', () => {
    const { sent, stream } = recorder()
    const joined = joinWrites(stream as unknown as MessageStream, 8)
    joined.send(new Uint8ArrayList(Uint8Array.of(0, 3), Uint8Array.of(1, 2), Uint8Array.of(3)))
    const one = Uint8Array.of(9, 9)
    joined.send(one)
    const big = new Uint8ArrayList(new Uint8Array(5), new Uint8Array(5))
    joined.send(big)
    expect(sent[0]).toBeInstanceOf(Uint8Array)
    expect([...(sent[0] as Uint8Array)]).toEqual([0, 3, 1, 2, 3])
    expect(sent[1]).toBe(one)
    expect(sent[2]).toBe(big)
  })
})

describe('signResults', () => {
  it("signs with a cached key object exactly as libp2p's key.sign does, and verifyResults accepts it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'galactic-sign-'))
    try {
      const key = await loadOrCreateKey(join(dir, 'id.key'))
      const results: SignedResult[] = [{ graphId: 'g', opId: 'op', attempt: 1, outcomeHash: `sha256:${'ab'.repeat(32)}` }]
      const expected = Buffer.from(await key.sign(resultsSigningBytes(results))).toString('base64')
      expect(await signResults(key, results)).toBe(expected)
      expect(await signResults(key, results)).toBe(expected) // the cached key object
      const peerId = peerIdFromPrivateKey(key).toString()
      expect(verifyResults(peerId, results, expected)).toBe(true)
      const other: SignedResult[] = [{ ...results[0]!, attempt: 2 }]
      expect(verifyResults(peerId, other, expected)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
