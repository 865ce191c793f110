import './polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { yamux } from '@libp2p/yamux'
import { tcp } from '@libp2p/tcp'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
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
    connectionEncrypters: [noise()],
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
