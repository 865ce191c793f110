import './polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { yamux } from '@libp2p/yamux'
import { tcp } from '@libp2p/tcp'
import type { Libp2p, MessageStream, PrivateKey } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'

export interface NodeInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/7701`. Empty: dial only. @default [] */
  listen?: string[]
}

/** The services every galactic node runs: identify (needed by gossipsub) and gossipsub. */
export type NodeServices = {
  identify: Identify
  /** Gossipsub: the oracle publishes P_gas on it (PGAS_TOPIC), agents subscribe. Messages are signed. */
  pubsub: GossipSub
}

export type GalacticNode = Libp2p<NodeServices>

/**
 * A libp2p node with the transports galactic uses: TCP, noise encryption, yamux multiplexing,
 * and gossipsub for announcements.
 */
export async function createNode(init: NodeInit): Promise<GalacticNode> {
  return createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? [] },
    transports: [tcp()],
    connectionEncrypters: [withJoinedWrites(noise())],
    streamMuxers: [yamux()],
    // Agents hold one long-lived connection to the oracle; never prune it.
    connectionManager: { maxConnections: 4096 },
    services: {
      identify: identify(),
      // Few peers (one oracle, its agents): publishing with nobody subscribed yet is normal.
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
    },
  })
}

/** Lists up to this size are joined into one buffer before they reach the socket. */
export const JOIN_WRITES_MAX_BYTES = 64 * 1024

/**
 * Makes `stream.send` join a list of buffers into one before passing it on. Noise hands the
 * TCP connection each record as a list (its 2-byte length, then the ciphertext in pieces), and
 * @libp2p/tcp writes every piece with its own `socket.write`: one syscall, and on loopback one
 * wake-up of the receiver, per piece, 4-5 per message. Joined, a message is one write. Copying a
 * few KiB costs far less than a syscall; lists above `maxBytes` (bulk blob data, already in
 * 64 KiB records) go through as they are.
 */
export function joinWrites<S extends MessageStream>(stream: S, maxBytes = JOIN_WRITES_MAX_BYTES): S {
  const send = stream.send.bind(stream)
  // A list's subarray() is its one buffer as it is, or all of them copied into one.
  stream.send = (data) => send(data instanceof Uint8Array || data.byteLength > maxBytes ? data : data.subarray())
  return stream
}

/** A connection encrypter whose encrypted records reach the transport through {@link joinWrites}. */
function withJoinedWrites(factory: ReturnType<typeof noise>): ReturnType<typeof noise> {
  return (components) => {
    const encrypter = factory(components)
    const inbound = encrypter.secureInbound.bind(encrypter)
    const outbound = encrypter.secureOutbound.bind(encrypter)
    encrypter.secureInbound = (connection, options) => inbound(joinWrites(connection), options)
    encrypter.secureOutbound = (connection, options) => outbound(joinWrites(connection), options)
    return encrypter
  }
}
