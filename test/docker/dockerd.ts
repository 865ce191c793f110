import { accessSync, constants, mkdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import Docker from 'dockerode'
import { spawnDaemon } from './daemon.js'

/** A Docker daemon started by {@link startDockerd}. */
export interface StartedDockerd {
  /** Its unix socket: `new Docker({ socketPath })`. */
  socketPath: string
  /** Its process id. */
  pid: number
  /** Stops it (SIGTERM, then SIGKILL after 20 s) and removes its scratch folder. Idempotent. */
  stop(): Promise<void>
}

/** Where `name` is on PATH (plus /usr/sbin and /sbin, where Debian puts dockerd), if anywhere. */
export function findOnPath(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin']
  for (const dir of dirs) {
    if (dir === '') continue
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

/** Why this machine cannot start its own dockerd, or undefined when it can. */
export function dockerdUnavailable(): string | undefined {
  if (findOnPath('dockerd') === undefined) return 'dockerd is not on PATH (apt-get install -y --no-install-recommends docker.io)'
  if (process.getuid?.() !== 0) return 'dockerd needs root'
  return undefined
}

/** Resolves once the daemon answers `ping`; rejects when `exited` settles first or after `timeoutMs`. */
export async function waitForDocker(docker: Docker, timeoutMs: number, exited?: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let gone = false
  void exited?.then(() => (gone = true))
  for (;;) {
    try {
      await docker.ping()
      return
    } catch (err) {
      if (gone) throw new Error('dockerd exited before it answered')
      if (Date.now() > deadline) throw new Error(`dockerd did not answer within ${timeoutMs} ms: ${(err as Error).message}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/**
 * Starts a private Docker daemon in `scratchDir` (its data, exec root, socket, pid file and log),
 * with the vfs storage driver, no iptables and no default bridge (plugin containers have no
 * network), and waits until it answers (60 s at most). Installs nothing: throws a clear error when
 * `dockerd` is not on PATH or this is not root. `stop()` ends it by its pid and removes `scratchDir`.
 *
 * @example
 * const dockerd = await startDockerd(mkdtempSync('/tmp/gd-'))
 * const docker = new Docker({ socketPath: dockerd.socketPath })
 * await dockerd.stop()
 */
export async function startDockerd(scratchDir: string): Promise<StartedDockerd> {
  const why = dockerdUnavailable()
  if (why !== undefined) throw new Error(`cannot start dockerd: ${why}`)
  const dockerd = findOnPath('dockerd') as string
  mkdirSync(scratchDir, { recursive: true })
  const socketPath = join(scratchDir, 'docker.sock')
  const daemon = spawnDaemon(
    dockerd,
    [
      '--storage-driver=vfs',
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
      `--data-root=${join(scratchDir, 'data')}`,
      `--exec-root=${join(scratchDir, 'exec')}`,
      `--pidfile=${join(scratchDir, 'docker.pid')}`,
      `--host=unix://${socketPath}`,
    ],
    scratchDir,
    'dockerd.log',
    20_000,
  )
  try {
    if (daemon.pid === undefined) throw new Error('dockerd did not start')
    await waitForDocker(new Docker({ socketPath }), 60_000, daemon.exited)
  } catch (err) {
    const tail = daemon.logTail()
    await daemon.stop()
    throw new Error(`${(err as Error).message}\n${tail}`)
  }
  return { socketPath, pid: daemon.pid, stop: daemon.stop }
}
