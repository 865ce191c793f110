import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The galactic CLI entry point of this build. */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), 'main.js')

/** A galactic process started by {@link spawnOracle} or {@link spawnAgent}. */
export interface GalacticProcess<Ready> {
  readonly child: ChildProcess
  /** The JSON line the process printed when it was ready. */
  readonly ready: Ready
  /** The last lines it wrote to stderr (its logs), for error messages. */
  logTail(lines?: number): string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>
  /** SIGKILL: no chance to clean up, like a power cut. Resolves when it has exited. */
  kill(): Promise<void>
  readonly exited: Promise<number | null>
}

export interface OracleReady {
  event: 'oracle.ready'
  ws: string
  peerId: string
  multiaddrs: string[]
}

export interface AgentReady {
  event: 'agent.registered'
  name: string
  peerId: string
  /** Where GET /metrics is served, when started with --metrics-port. */
  metricsPort: number | null
}

/** Starts `galactic oracle start` and waits for its ready line. */
export function spawnOracle(opts: { dataDir: string; wsPort: number; p2pPort: number; args?: string[]; logLevel?: string }): Promise<GalacticProcess<OracleReady>> {
  return spawnGalactic<OracleReady>(
    ['oracle', 'start', '--data-dir', opts.dataDir, '--ws-port', String(opts.wsPort), '--p2p-port', String(opts.p2pPort), '--log-level', opts.logLevel ?? 'info', ...(opts.args ?? [])],
    'oracle.ready',
  )
}

/** Starts `galactic agent start` and waits until it has registered with the oracle. */
export function spawnAgent(opts: { oracle: string; name: string; dataDir: string; args?: string[]; logLevel?: string }): Promise<GalacticProcess<AgentReady>> {
  return spawnGalactic<AgentReady>(
    ['agent', 'start', '--oracle', opts.oracle, '--name', opts.name, '--data-dir', opts.dataDir, '--log-level', opts.logLevel ?? 'info', ...(opts.args ?? [])],
    'agent.registered',
  )
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      server.close(() => resolve(port))
    })
  })
}

function spawnGalactic<Ready>(args: string[], readyEvent: string, timeoutMs = 60_000): Promise<GalacticProcess<Ready>> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const tail: string[] = []
  createInterface({ input: child.stderr as NonNullable<typeof child.stderr> }).on('line', (line) => {
    tail.push(line)
    if (tail.length > 200) tail.shift()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const logTail = (lines = 30): string => tail.slice(-lines).join('\n')
  const waitExit = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    await exited
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${args.slice(0, 2).join(' ')} not ready after ${timeoutMs} ms:\n${logTail()}`))
    }, timeoutMs)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${args.slice(0, 2).join(' ')} exited with ${code} before it was ready:\n${logTail()}`))
    })
    createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on('line', (line) => {
      let msg: { event?: string } | undefined
      try {
        msg = JSON.parse(line) as { event?: string }
      } catch {
        return
      }
      if (msg?.event !== readyEvent) return
      clearTimeout(timer)
      resolve({
        child,
        ready: msg as Ready,
        logTail,
        exited,
        kill: async () => {
          child.kill('SIGKILL')
          await waitExit()
        },
        stop: async (graceMs = 5_000) => {
          if (child.exitCode !== null || child.signalCode !== null) return
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
          await waitExit()
          clearTimeout(timer)
        },
      })
    })
  })
}

/** An agent of a {@link LocalCluster}: its name and extra `agent start` flags. */
export interface ClusterAgent {
  name: string
  args?: string[]
}

/** An oracle and its agents as real processes on loopback, in one scratch folder. */
export interface LocalCluster {
  readonly dir: string
  readonly oracle: GalacticProcess<OracleReady>
  readonly agents: Array<GalacticProcess<AgentReady>>
  /** The oracle's WebSocket URL; it stays the same across restarts. */
  readonly url: string
  /** Starts one more agent on this cluster's oracle. */
  addAgent(agent: ClusterAgent): Promise<GalacticProcess<AgentReady>>
  /**
   * SIGKILLs (`kill`) or stops the oracle, runs `whileDown` (e.g. to inspect its journal), then
   * starts it again on the same folder and ports.
   */
  restartOracle(how: 'kill' | 'stop', whileDown?: () => Promise<void> | void): Promise<GalacticProcess<OracleReady>>
  /** Stops every process; removes the folder unless `keep`. */
  stop(options?: { keep?: boolean }): Promise<void>
}

export interface LocalClusterInit {
  agents: ClusterAgent[]
  /** Extra `oracle start` flags. */
  oracleArgs?: string[]
  /** Log level of every process. @default 'info' */
  logLevel?: string
  /** Prefix of the scratch folder's name in the OS temp folder. @default 'galactic-' */
  prefix?: string
}

/**
 * Starts an oracle and its agents in a fresh scratch folder: the demo's set-up, and the
 * end-to-end tests'. If any process fails to start, the ones started are stopped again.
 */
export async function startLocalCluster(init: LocalClusterInit): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), init.prefix ?? 'galactic-'))
  const wsPort = await freePort()
  const p2pPort = await freePort()
  const logLevel = init.logLevel ?? 'info'
  const startOracle = () => spawnOracle({ dataDir: join(dir, 'oracle'), wsPort, p2pPort, logLevel, args: init.oracleArgs ?? [] })
  let oracle: GalacticProcess<OracleReady> | undefined
  const agents: Array<GalacticProcess<AgentReady>> = []
  const stopAll = async (): Promise<void> => {
    await Promise.all([...agents.map((a) => a.stop()), oracle?.stop()])
  }
  const addAgent = async (agent: ClusterAgent): Promise<GalacticProcess<AgentReady>> => {
    const url = `ws://127.0.0.1:${wsPort}`
    const started = await spawnAgent({ oracle: url, name: agent.name, dataDir: join(dir, `agent-${agent.name}`), logLevel, args: agent.args ?? [] })
    agents.push(started)
    return started
  }
  try {
    oracle = await startOracle()
    await Promise.all(init.agents.map(addAgent))
  } catch (err) {
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    dir,
    agents,
    url: oracle.ready.ws,
    get oracle() {
      return oracle as GalacticProcess<OracleReady>
    },
    addAgent,
    restartOracle: async (how, whileDown) => {
      if (how === 'kill') await oracle?.kill()
      else await oracle?.stop()
      await whileDown?.()
      oracle = await startOracle()
      return oracle
    },
    stop: async (options = {}) => {
      await stopAll()
      if (options.keep !== true) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** What a finished `galactic` command printed, and its exit code. */
export interface GalacticRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs the `galactic` CLI to its end; resolves with its exit code and output whatever the code. */
export function runGalactic(args: string[], timeoutMs = 120_000): Promise<GalacticRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1
      resolve({ code, stdout, stderr })
    })
  })
}

/** The JSON log lines (pino) a process wrote to stderr lately that have every field of `match`. */
export function logEntries(proc: GalacticProcess<unknown>, match: Record<string, unknown>): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  for (const line of proc.logTail(200).split('\n')) {
    let entry: Record<string, unknown>
    try {
      entry = JSON.parse(line) as Record<string, unknown>
    } catch {
      continue // not a log line
    }
    if (Object.entries(match).every(([k, v]) => entry[k] === v)) out.push(entry)
  }
  return out
}
