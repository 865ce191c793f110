import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Docker from 'dockerode'
import { dockerdUnavailable, startDockerd, waitForDocker, type StartedDockerd } from './dockerd.js'

/** A Docker daemon for a test file: the one named by GALACTIC_DOCKER_SOCKET, or one it started. */
export interface DockerForTests {
  docker: Docker
  socketPath: string
  /** The daemon this file started, if it started one. */
  started: StartedDockerd | undefined
  /** Stops the daemon if this file started it. */
  stop(): Promise<void>
}

/** Whether Docker tests must run here (CI=true or GALACTIC_DOCKER_TESTS=1): then they fail instead of skipping. */
export function dockerTestsRequired(): boolean {
  return process.env['CI'] === 'true' || process.env['GALACTIC_DOCKER_TESTS'] === '1'
}

/**
 * Why Docker tests cannot run here, or undefined when they can: GALACTIC_DOCKER_SOCKET is set, or
 * this machine can start its own dockerd.
 */
export function dockerTestsUnavailable(): string | undefined {
  if (process.env['GALACTIC_DOCKER_SOCKET'] !== undefined && process.env['GALACTIC_DOCKER_SOCKET'] !== '') return undefined
  const why = dockerdUnavailable()
  return why === undefined ? undefined : `${why}, and GALACTIC_DOCKER_SOCKET is unset`
}

/**
 * Connects to the daemon on GALACTIC_DOCKER_SOCKET (waiting up to 60 s for it), or starts a
 * private one in a fresh /tmp folder. Call `stop()` in afterAll.
 */
export async function dockerForTests(): Promise<DockerForTests> {
  const fromEnv = process.env['GALACTIC_DOCKER_SOCKET']
  if (fromEnv !== undefined && fromEnv !== '') {
    const docker = new Docker({ socketPath: fromEnv })
    await waitForDocker(docker, 60_000)
    return { docker, socketPath: fromEnv, started: undefined, stop: async () => {} }
  }
  const why = dockerdUnavailable()
  if (why !== undefined) throw new Error(`cannot start dockerd: ${why} (or set GALACTIC_DOCKER_SOCKET)`)
  // A short path: the exec root holds unix sockets, whose paths are limited to 108 bytes.
  const scratch = mkdtempSync('/tmp/gdk-')
  let started: StartedDockerd
  try {
    started = await startDockerd(scratch)
  } finally {
    // startDockerd removes the folder itself once it spawned dockerd; not before.
    if (!existsSync(join(scratch, 'dockerd.log'))) rmSync(scratch, { recursive: true, force: true })
  }
  return { docker: new Docker({ socketPath: started.socketPath }), socketPath: started.socketPath, started, stop: () => started.stop() }
}
