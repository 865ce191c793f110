/**
 * The oracle of the oracle-scale bench, in its own process: the real OracleNode from
 * @galactic/oracle (what `galactic oracle start` runs, without the CLI's config loading), forked by
 * the bench with an IPC channel. Its memory is read from its own GET /metrics.
 *
 * Things the CLI does not do, each for the measurement and each optional:
 * - `maxConnections`: when set, the libp2p connection manager's limit is raised to it once the node
 *   has started. net/src/node.ts createNode fixes it at 4096 for every node, and the oracle refuses
 *   every inbound connection past it (libp2p's acceptIncomingConnection), so 10,000 agents cannot
 *   connect to a shipped oracle. null keeps the shipped limit (to show where it stops).
 * - `linearGetConnections`: libp2p's getConnections() is quadratic in the number of connections
 *   (see main); this swaps in a linear one on the running node. false keeps libp2p's.
 * - `stopPingMonitor`: stops libp2p's connection monitor, which pings every connection every 10 s
 *   and aborts the connection when a ping takes over 5 s (it does when the oracle's event loop lags).
 * - On an IPC `gc` message it runs a full garbage collection (the process runs with --expose-gc),
 *   so the heap read right after is what is live, not what a lazy collector left behind. On
 *   `snapshot` it writes a V8 heap snapshot (for --heap-breakdown).
 */
import '@galactic/net/polyfill'
import { writeHeapSnapshot } from 'node:v8'
import { OracleNode } from '@galactic/oracle'
import { pino } from 'pino'

export interface OracleProcArgs {
  dataDir: string
  heartbeatMs: number
  livenessMs: number
  /** Raise libp2p's maxConnections to this after start; null: keep the shipped 4096. */
  maxConnections: number | null
  /** Replace the connection manager's getConnections() (quadratic in libp2p 3.3.11) by a linear one. */
  linearGetConnections: boolean
  /** Stop libp2p's connection monitor (a ping per connection every 10 s; aborts on a late one). */
  stopPingMonitor: boolean
}

export type OracleProcRequest = { type: 'gc' } | { type: 'snapshot'; path: string } | { type: 'stats' }

export type OracleProcReply =
  | { type: 'ready'; ws: string; p2p: string; maxConnections: { shipped: number; now: number } }
  | { type: 'gc'; ms: number }
  | { type: 'snapshot'; path: string; ms: number }
  /** How often the oracle logged each message (info and up) since it started: `msg [code]` -> count. */
  | { type: 'stats'; logged: Record<string, number> }

interface ConnectionManagerLike {
  getMaxConnections(): number
  setMaxConnections(n: number): void
  getConnections(peerId?: unknown): unknown[]
  getConnectionsMap(): { values(): Iterable<unknown[]> }
}

async function main(): Promise<void> {
  const raw = process.argv[2]
  if (raw === undefined) throw new Error('oracle-proc: expected one JSON argument (OracleProcArgs)')
  const init = JSON.parse(raw) as OracleProcArgs
  // The oracle's log, counted by message (and error code), not written: what it did with agents.
  const logged = new Map<string, number>()
  const log = pino(
    { level: 'info' },
    {
      write(line: string): void {
        try {
          const entry = JSON.parse(line) as { msg?: string; code?: string }
          const key = `${entry.msg ?? '?'}${entry.code === undefined ? '' : ` ${entry.code}`}`
          logged.set(key, (logged.get(key) ?? 0) + 1)
        } catch {
          // not JSON: ignore
        }
      },
    },
  )
  const oracle = new OracleNode({
    dataDir: init.dataDir,
    wsPort: 0,
    p2pPort: 0,
    heartbeatIntervalMs: init.heartbeatMs,
    livenessTimeoutMs: init.livenessMs,
  }, { log })
  await oracle.start()
  // The libp2p node is private to OracleNode and its connection manager is not in libp2p's public
  // type: reached here by name, for this measurement only.
  const p2p = (oracle as unknown as { p2p: { components: { connectionManager: ConnectionManagerLike; connectionMonitor?: { stop(): void } } } }).p2p
  const cm = p2p.components.connectionManager
  const shipped = cm.getMaxConnections()
  if (init.maxConnections !== null) cm.setMaxConnections(init.maxConnections)
  if (init.stopPingMonitor) p2p.components.connectionMonitor?.stop()
  if (init.linearGetConnections) {
    // libp2p 3.3.11 connection-manager/index.js getConnections() builds its list with
    // `conns = conns.concat(c)` per peer: O(N^2) time and garbage, and it runs on every inbound
    // connection (the maxConnections check, the pruner). The same list, built in O(N):
    const perPeer = cm.getConnections.bind(cm)
    cm.getConnections = (peerId?: unknown): unknown[] => {
      if (peerId != null) return perPeer(peerId)
      const out: unknown[] = []
      for (const conns of cm.getConnectionsMap().values()) for (const c of conns) out.push(c)
      return out
    }
  }
  const p2pAddr = oracle.multiaddrs[0]
  if (p2pAddr === undefined) throw new Error('oracle-proc: the oracle has no libp2p address')

  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    const hard = setTimeout(() => process.exit(0), 10_000)
    hard.unref()
    oracle.stop().finally(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
  process.on('message', (msg: OracleProcRequest) => {
    const t0 = performance.now()
    if (msg.type === 'gc') {
      ;(globalThis as { gc?: () => void }).gc?.()
      process.send?.({ type: 'gc', ms: performance.now() - t0 } satisfies OracleProcReply)
    } else if (msg.type === 'stats') {
      process.send?.({ type: 'stats', logged: Object.fromEntries(logged) } satisfies OracleProcReply)
    } else if (msg.type === 'snapshot') {
      const path = writeHeapSnapshot(msg.path)
      process.send?.({ type: 'snapshot', path, ms: performance.now() - t0 } satisfies OracleProcReply)
    }
  })
  process.send?.({ type: 'ready', ws: oracle.wsUrl, p2p: `${p2pAddr}`, maxConnections: { shipped, now: cm.getMaxConnections() } } satisfies OracleProcReply)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
