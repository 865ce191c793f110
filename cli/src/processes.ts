import { spawn, type ChildProcess } from 'node:child_process'
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
