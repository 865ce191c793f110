import { join } from 'node:path'
import { Wallet, type BaseWallet } from 'ethers'
import { createNode, FramedStream, loadOrCreateKey, multiaddr, type Libp2p, type PrivateKey, type Stream } from '@galactic/net'
import { AGENT_PROTOCOL, EIP712_DOMAIN, OracleMessage, REGISTRATION_TYPES, type AgentMessage } from '@galactic/schemas'
import { device } from './helpers.js'

/** A hand-driven prover over real libp2p: it sends exactly what a test tells it to. */
export class AgentPeer {
  readonly node: Libp2p
  readonly wallet: BaseWallet
  /** The libp2p identity key (it signs results). */
  readonly key: PrivateKey
  private readonly target: string

  private constructor(node: Libp2p, key: PrivateKey, wallet: BaseWallet, target: string) {
    this.node = node
    this.key = key
    this.wallet = wallet
    this.target = target
  }

  static async start(dir: string, name: string, target: string, wallet: BaseWallet = Wallet.createRandom()): Promise<AgentPeer> {
    const key = await loadOrCreateKey(join(dir, `${name}.key`))
    const node = await createNode({ privateKey: key })
    return new AgentPeer(node, key, wallet, target)
  }

  get peerId(): string {
    return this.node.peerId.toString()
  }

  /** A raw agent-protocol stream to the oracle. */
  async stream(): Promise<Stream> {
    return this.node.dialProtocol(multiaddr(this.target), AGENT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  }

  async framed(): Promise<FramedStream<OracleMessage, AgentMessage>> {
    return new FramedStream<OracleMessage, AgentMessage>(await this.stream(), OracleMessage, 'oracle message')
  }

  /** A register message signed by `signer` (default: this peer's wallet), with fields overridable. */
  async register(proverId: string, over: Partial<Extract<AgentMessage, { type: 'register' }>> = {}, signer: BaseWallet = this.wallet): Promise<Extract<AgentMessage, { type: 'register' }>> {
    const signedAt = over.signedAt ?? Math.floor(Date.now() / 1000)
    const peerId = over.peerId ?? this.peerId
    const address = over.address ?? this.wallet.address
    const signature = await signer.signTypedData(EIP712_DOMAIN, REGISTRATION_TYPES, { proverId, peerId, address, signedAt })
    return { type: 'register', proverId, device: device(), agentVersion: 'test', slots: 1, running: [], peerId, address, signedAt, signature, ...over }
  }

  /** Opens a stream, sends `register`, returns the stream and the oracle's first reply. */
  async connect(msg: AgentMessage): Promise<{ framed: FramedStream<OracleMessage, AgentMessage>; reply: OracleMessage }> {
    const framed = await this.framed()
    await framed.send(msg)
    const reply = await framed.read({ signal: AbortSignal.timeout(10_000) })
    return { framed, reply }
  }

  async stop(): Promise<void> {
    await this.node.stop()
  }
}

/** Reads messages until the stream ends; returns them. */
export async function drain(framed: FramedStream<OracleMessage, AgentMessage>): Promise<OracleMessage[]> {
  const out: OracleMessage[] = []
  for (;;) {
    try {
      out.push(await framed.read({ signal: AbortSignal.timeout(10_000) }))
    } catch {
      return out
    }
  }
}
