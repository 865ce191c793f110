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
  /** Passed to every plugin's `init`. @default {} */
  pluginConfig?: JsonValue
}
