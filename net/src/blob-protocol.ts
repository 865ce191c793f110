import type { AbortOptions, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  BLOB_PROTOCOL,
  BlobReply,
  BlobRequest,
  contentHash,
  GalacticError,
  LIMITS,
  type ContentHash,
} from '@galactic/schemas'
import type { BlobStore } from './blob-store.js'
import { FramedStream } from './framed.js'

/** Bytes per data frame after a blob header. */
const CHUNK = 256 * 1024

export interface BlobServiceInit {
  /** Largest blob accepted by `put`. @default LIMITS.maxBlobBytes */
  maxBlobBytes?: number
  /** Whether peers may `put` blobs here (the oracle: yes; an agent: no). @default false */
  acceptPuts?: boolean
}

/**
 * Serves `/galactic/blob/1.0.0` from a BlobStore: `get` answers a BlobReply then the bytes in
 * frames; `put` (when allowed) reads the bytes, checks their hash, stores them, then replies.
 */
export async function handleBlobStream(stream: Stream, store: BlobStore, init: BlobServiceInit = {}): Promise<void> {
  const framed = new FramedStream<BlobRequest, BlobReply>(stream, BlobRequest, 'blob request')
  const maxBlobBytes = init.maxBlobBytes ?? LIMITS.maxBlobBytes
  try {
    const req = await framed.read()
    if (req.type === 'get') {
      const bytes = await store.get(req.hash)
      if (bytes === undefined) {
        await framed.send({ ok: false, error: { code: 'NOT_FOUND', message: `no blob ${req.hash}` } })
      } else {
        await framed.send({ ok: true, size: bytes.byteLength })
        await sendChunks(framed, bytes)
      }
    } else {
      if (init.acceptPuts !== true) throw new GalacticError('PROTOCOL_ERROR', 'this peer does not accept blobs')
      if (req.size > maxBlobBytes) throw new GalacticError('PAYLOAD_TOO_LARGE', `blob of ${req.size} bytes, the limit is ${maxBlobBytes}`)
      const bytes = await readChunks(framed, req.size)
      await store.put(req.hash, bytes)
      await framed.send({ ok: true, size: bytes.byteLength })
    }
    await framed.close()
  } catch (err) {
    const error = GalacticError.from(err)
    await framed.send({ ok: false, error: error.toObject() }).catch(() => {})
    await framed.close()
  }
}

/** Fetches a blob from a peer and checks its hash. */
export async function fetchBlob(node: Libp2p, peer: PeerId | Multiaddr, hash: ContentHash, options: AbortOptions = {}): Promise<Uint8Array> {
  const stream = await openStream(node, peer, options)
  const framed = new FramedStream<BlobReply, BlobRequest>(stream, BlobReply, 'blob reply')
  try {
    await framed.send({ type: 'get', hash }, options)
    const reply = await framed.read(options)
    if (!reply.ok) throw GalacticError.fromObject(reply.error)
    if (reply.size > LIMITS.maxBlobBytes) throw new GalacticError('PAYLOAD_TOO_LARGE', `blob of ${reply.size} bytes`)
    const bytes = await readChunks(framed, reply.size, options)
    const actual = contentHash(bytes)
    if (actual !== hash) throw new GalacticError('PROTOCOL_ERROR', `peer sent bytes hashing to ${actual} for ${hash}`)
    return bytes
  } finally {
    await framed.close()
  }
}

/** Sends a blob to a peer that accepts puts (the oracle). */
export async function pushBlob(node: Libp2p, peer: PeerId | Multiaddr, bytes: Uint8Array, options: AbortOptions = {}): Promise<ContentHash> {
  const hash = contentHash(bytes)
  const stream = await openStream(node, peer, options)
  const framed = new FramedStream<BlobReply, BlobRequest>(stream, BlobReply, 'blob reply')
  try {
    await framed.send({ type: 'put', hash, size: bytes.byteLength }, options)
    await sendChunks(framed, bytes)
    const reply = await framed.read(options)
    if (!reply.ok) throw GalacticError.fromObject(reply.error)
    return hash
  } finally {
    await framed.close()
  }
}

async function openStream(node: Libp2p, peer: PeerId | Multiaddr, options: AbortOptions): Promise<Stream> {
  try {
    return await node.dialProtocol(peer, BLOB_PROTOCOL, options)
  } catch (err) {
    throw new GalacticError('CONNECTION_CLOSED', `cannot open a blob stream: ${(err as Error).message}`, undefined, { cause: err })
  }
}

async function sendChunks(framed: FramedStream<unknown, unknown>, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength; offset += CHUNK) {
    await framed.sendBytes(bytes.subarray(offset, Math.min(offset + CHUNK, bytes.byteLength)))
  }
}

async function readChunks(framed: FramedStream<unknown, unknown>, size: number, options?: AbortOptions): Promise<Uint8Array> {
  const out = new Uint8Array(size)
  let offset = 0
  while (offset < size) {
    const chunk = await framed.readBytes(options)
    if (offset + chunk.byteLength > size) throw new GalacticError('PROTOCOL_ERROR', `blob longer than its announced ${size} bytes`)
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}
