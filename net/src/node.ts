import './polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@libp2p/yamux'
import { tcp } from '@libp2p/tcp'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'

export interface NodeInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/7701`. Empty: dial only. @default [] */
  listen?: string[]
}

/** A libp2p node with the transports galactic uses: TCP, noise encryption, yamux multiplexing. */
export async function createNode(init: NodeInit): Promise<Libp2p> {
  return createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Agents hold one long-lived connection to the oracle; never prune it.
    connectionManager: { maxConnections: 4096 },
  })
}
