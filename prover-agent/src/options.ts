import type { JsonValue } from '@galactic/plugin-runtime'

/** A prover agent's options. */
export interface ProverAgentInit {
  /** The prover's name, unique on the network: the oracle knows it by this. */
  proverId: string
  /**
   * Where the oracle is: its WebSocket URL (`ws://127.0.0.1:7700`, the agent asks it for its
   * libp2p address) or a libp2p multiaddr ending in `/p2p/<peer id>`.
   */
  oracle: string
  /** Folder for the agent's identity key. */
  dataDir: string
  /** Paths of `galactic-plugin.json` manifests of the plugins this agent offers. */
  plugins: string[]
  /** Ops run at once. @default 1 */
  slots?: number
  /** Longest pause between attempts to reach the oracle. @default 5_000 */
  maxBackoffMs?: number
  /** Serve Prometheus metrics at GET /metrics on this port (0: any free port). @default off */
  metricsPort?: number
  /** Address the metrics server binds. @default '127.0.0.1' */
  metricsHost?: string
  /**
   * The Docker daemon's socket, to run plugins whose manifest says `runtime.type: 'docker'` in
   * sandboxed containers. Without it only process plugins are offered. @default none
   */
  dockerSocket?: string
  /**
   * Also offer the plugins of the oracle's catalog that this device can run (needs `dockerSocket`):
   * fetched at start, their images used from the daemon, pulled, or loaded from the oracle's
   * archive, each checked against the catalog's digest. @default false
   */
  catalog?: boolean
  /** How long a catalog image's registry pull may take before the oracle's archive is used. @default 10_000 */
  catalogPullTimeoutMs?: number
  /** How long start() keeps trying to fetch the catalog from the oracle. @default 60_000 */
  catalogWaitMs?: number
  /** Passed to every plugin's `init`. @default {} */
  pluginConfig?: JsonValue
  /**
   * This device's speed in gas per second, reported at registration (docs/pricing.md, "Speed"):
   * e.g. `gasPerSecond(table)` of a table from `galactic gas calibrate`. @default not reported
   */
  gasPerSecond?: number
}
