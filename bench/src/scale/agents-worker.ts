/**
 * A worker process of the oracle-scale bench: simulates many prover agents, each its own libp2p
 * node with galactic's stack (TCP, noise, yamux, identify, gossipsub subscribed to the P_gas
 * topic, as net/src/node.ts createNode builds it), each with its own Ed25519 peer id and its own
 * Ethereum key. Each dials the oracle, opens the agent protocol stream, sends a `register` signed
 * with signRegistration (the oracle checks the signature, the peer id and the time), waits for
 * `registered`, then heartbeats at the interval the oracle gave and reads what the oracle sends.
 * A session that ends is dialled and registered again with backoff, as ProverAgent.connectLoop does.
 *
 * Differences from createNode. Every simulated agent dials from its own loopback source address
 * (127.x.y.z, `dialOpts.localAddress`), as agents on separate hosts would: from a single address
 * libp2p's connection manager admits 5 new connections per second per host
 * (inboundConnectionThreshold), which would make 10,000 agents take over half an hour to connect.
 * A late ping to the oracle does not make a simulated agent hang up. And in the `light` config the
 * agent's own periodic work is cut (see newNode).
 *
 * Driven by its parent over IPC (see ScaleRequest / ScaleReply). Runs until told to stop or its
 * parent goes away.
 */
import '@galactic/net/polyfill'
import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp, type TCPSocketOptions } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { FramedStream, multiaddr, type GalacticNode, type Multiaddr } from '@galactic/net'
import { AGENT_PROTOCOL, OracleMessage, PGAS_TOPIC, type AgentMessage } from '@galactic/schemas'
import { signRegistration, Wallet } from '@galactic/sdk'
import { randomBytes } from 'node:crypto'
import { SIM_DEVICE } from './device.js'

export type ScaleRequest =
  | { type: 'grow'; to: number }
  /** Stop growing: agents not registered yet give up; the `grown` reply follows. */
  | { type: 'halt' }
  | { type: 'status' }
  | { type: 'stop' }

export type ScaleReply =
  | { type: 'ready' }
  | {
      type: 'grown'
      /** Agents registered and holding their session now. */
      live: number
      /** Agents that gave up during this step (after every retry). */
      failed: number
      /** Dial or register attempts that failed and were retried (before an agent's first registration). */
      retries: number
      /** Sessions that ended after registering (dropped by the oracle or the network), over the whole run; each agent dials again. */
      drops: number
      /** The commonest reasons of those drops, as `N x error`. */
      dropReasons: string[]
      /** A few distinct errors seen, for the report. */
      errors: string[]
      ms: number
      rssBytes: number
      heapUsedBytes: number
    }
  | { type: 'status'; live: number; drops: number; dropReasons: string[]; rssBytes: number }
  | { type: 'stopped'; ms: number }

export interface WorkerArgs {
  /** The oracle's libp2p address. */
  oracle: string
  /** This worker's index: it picks its source addresses and prover ids. */
  index: number
  /** Registrations in flight at once in this worker. */
  concurrency: number
  /** Attempts per agent before it counts as failed. */
  attempts: number
  /** Each agent dials from its own 127.x address (true), or all from 127.0.0.1 (false). */
  ownAddress: boolean
  /** See newNode. */
  config: 'full' | 'light'
}

function args(): WorkerArgs {
  const raw = process.argv[2]
  if (raw === undefined) throw new Error('agents-worker: expected one JSON argument (WorkerArgs)')
  return JSON.parse(raw) as WorkerArgs
}

/** The loopback source address of agent `n` of worker `w`: 127.(10+w).hi.lo, never .0 or .255. */
function sourceAddress(w: number, n: number): string {
  return `127.${10 + w}.${Math.floor(n / 250)}.${1 + (n % 250)}`
}

/**
 * `full`: createNode's stack as the real agent has it. `light`: the same protocols, so the oracle
 * holds the same connection, streams and gossipsub subscription per agent, but the agent's own
 * periodic work is cut: its gossipsub heartbeat every 60 s instead of every second, and no
 * connection monitor of its own (yamux keep-alives every 30 s still run both ways). With thousands
 * of agents in one process that periodic work, not the oracle, is what fills two cores.
 */
async function newNode(localAddress: string, config: 'full' | 'light'): Promise<GalacticNode> {
  const light = config === 'light'
  const node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    // TCPSocketOptions does not list localAddress, but @libp2p/tcp hands dialOpts to net.connect as they are.
    transports: [tcp({ dialOpts: { localAddress } as TCPSocketOptions })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: 4096 },
    // A simulated agent pings the oracle every 10 s as a real one does (full), but does not hang up
    // when its ping is late: hundreds of agents share this process's event loop, so a late ping here
    // says this process was busy, not that the oracle or the network failed. (The oracle's own
    // monitor is the bench's --ping-monitor.)
    connectionMonitor: light ? { enabled: false } : { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, ...(light ? { heartbeatInterval: 60_000 } : {}) }),
    },
  })
  node.services.pubsub.subscribe(PGAS_TOPIC)
  return node as GalacticNode
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Why sessions dropped after registering, over the worker's life: message -> count. */
const dropReasons = new Map<string, number>()

interface Stats {
  retries: number
  errors: Set<string>
}

/**
 * One simulated agent: dial, register, serve until the session ends, then again with backoff (100 ms
 * doubling to 5 s), as ProverAgent.connectLoop does, until the worker stops.
 */
class SimAgent {
  readonly proverId: string
  private framed: FramedStream<OracleMessage, AgentMessage> | undefined
  /** Sessions that ended after registering (the oracle or the network dropped them). */
  drops = 0
  private firstFailures = 0
  private readonly first: Promise<boolean>
  private settleFirst!: (ok: boolean) => void
  private settled = false
  readonly loop: Promise<void>

  constructor(
    private readonly node: GalacticNode,
    private readonly wallet: Wallet,
    proverId: string,
    private readonly oracle: Multiaddr,
    private readonly attempts: number,
    private readonly stats: Stats,
    /** The worker is stopping. */
    private readonly stopped: AbortSignal,
    /** Growth was halted: give up if not registered yet. */
    private readonly halted: AbortSignal,
  ) {
    this.proverId = proverId
    this.first = new Promise((resolve) => {
      this.settleFirst = resolve
    })
    this.loop = this.run()
  }

  /** Resolves true once registered, false when the first `attempts` tries all failed (it stops then). */
  registered(): Promise<boolean> {
    return this.first
  }

  get live(): boolean {
    return this.framed !== undefined
  }

  private async run(): Promise<void> {
    let backoff = 100
    while (!this.stopped.aborted) {
      try {
        await this.session(() => {
          backoff = 100
        })
      } catch (err) {
        if (this.stopped.aborted) break
        if (this.stats.errors.size < 8) this.stats.errors.add((err as Error).message.slice(0, 160))
        for (const c of this.node.getConnections()) await c.close().catch(() => {})
        if (!this.settled) {
          if (++this.firstFailures >= this.attempts || this.halted.aborted) {
            this.settled = true
            this.settleFirst(false)
            break
          }
          this.stats.retries++
        }
      }
      await sleep(backoff)
      backoff = Math.min(backoff * 2, 5_000)
    }
    await Promise.resolve(this.node.stop()).catch(() => {})
  }

  private async session(onRegistered: () => void): Promise<void> {
    const signal = AbortSignal.any([this.stopped, ...(this.settled ? [] : [this.halted]), AbortSignal.timeout(30_000)])
    const connection = await this.node.dial(this.oracle, { signal })
    const stream = await connection.newStream(AGENT_PROTOCOL, { signal })
    const framed = new FramedStream<OracleMessage, AgentMessage>(stream, OracleMessage, 'oracle message')
    await framed.send({
      type: 'register',
      proverId: this.proverId,
      device: SIM_DEVICE,
      agentVersion: 'bench-sim',
      slots: 1,
      running: [],
      ...(await signRegistration(this.wallet, { proverId: this.proverId, peerId: this.node.peerId.toString() })),
    })
    const first = await framed.read({ signal })
    if (first.type !== 'registered') throw new Error(first.type === 'error' ? `${first.error.code}: ${first.error.message}` : `expected registered, got ${first.type}`)
    onRegistered()
    this.framed = framed
    if (!this.settled) {
      this.settled = true
      this.settleFirst(true)
    }
    const heartbeat = setInterval(() => {
      framed.send({ type: 'heartbeat', running: [] }).catch(() => {})
    }, first.heartbeatIntervalMs)
    const stop = (): void => framed.abort('agent stopping')
    this.stopped.addEventListener('abort', stop, { once: true })
    try {
      // Read what the oracle sends (assignments, errors) until the stream ends.
      for (;;) await framed.read()
    } catch (err) {
      if (!this.stopped.aborted) {
        this.drops++
        const why = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 120)
        dropReasons.set(why, (dropReasons.get(why) ?? 0) + 1)
      }
      throw err
    } finally {
      clearInterval(heartbeat)
      this.stopped.removeEventListener('abort', stop)
      this.framed = undefined
    }
  }
}

async function main(): Promise<void> {
  const init = args()
  const oracle: Multiaddr = multiaddr(init.oracle)
  const agents: SimAgent[] = []
  const stopping = new AbortController()
  let halt = new AbortController()
  let next = 0

  const grow = async (to: number): Promise<ScaleReply> => {
    const t0 = performance.now()
    const stats: Stats = { retries: 0, errors: new Set<string>() }
    let failed = 0
    halt = new AbortController()
    const halted = halt.signal
    const lane = async (): Promise<void> => {
      while (!stopping.signal.aborted && !halted.aborted && next < to) {
        const n = next++
        const node = await newNode(init.ownAddress ? sourceAddress(init.index, n) : '127.0.0.1', init.config)
        const wallet = new Wallet(`0x${randomBytes(32).toString('hex')}`)
        const agent = new SimAgent(node, wallet, `sim-${init.index}-${n}`, oracle, init.attempts, stats, stopping.signal, halted)
        if (await agent.registered()) agents.push(agent)
        else failed++
      }
    }
    await Promise.all(Array.from({ length: init.concurrency }, lane))
    const mem = process.memoryUsage()
    return {
      type: 'grown',
      live: agents.filter((a) => a.live).length,
      failed,
      retries: stats.retries,
      drops: agents.reduce((n, a) => n + a.drops, 0),
      dropReasons: [...dropReasons].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([why, n]) => `${n} x ${why}`),
      errors: [...stats.errors],
      ms: performance.now() - t0,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
    }
  }

  const stop = async (): Promise<void> => {
    const t0 = performance.now()
    stopping.abort()
    halt.abort()
    // Each agent's loop ends by stopping its node.
    await Promise.all(agents.map((a) => a.loop))
    process.send?.({ type: 'stopped', ms: performance.now() - t0 } satisfies ScaleReply)
  }

  process.on('message', (msg: ScaleRequest) => {
    if (msg.type === 'grow') {
      grow(msg.to).then(
        (reply) => process.send?.(reply),
        (err: unknown) => {
          console.error(err)
          process.exit(1)
        },
      )
    } else if (msg.type === 'halt') {
      halt.abort()
    } else if (msg.type === 'status') {
      process.send?.({
        type: 'status',
        live: agents.filter((a) => a.live).length,
        drops: agents.reduce((n, a) => n + a.drops, 0),
        dropReasons: [...dropReasons].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([why, n]) => `${n} x ${why}`),
        rssBytes: process.memoryUsage().rss,
      } satisfies ScaleReply)
    } else if (msg.type === 'stop') {
      void stop().finally(() => process.exit(0))
    }
  })
  // The parent went away: nothing to report to, stop at once.
  process.on('disconnect', () => process.exit(0))
  process.send?.({ type: 'ready' } satisfies ScaleReply)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
