import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

/** A background server a test started (dockerd, docker-registry), logging to a file in its scratch folder. */
export interface Daemon {
  readonly pid: number | undefined
  /** Resolves when the process has exited (or failed to start). */
  readonly exited: Promise<void>
  /** Whether the process has exited. */
  gone(): boolean
  /** The last lines of its log. */
  logTail(lines?: number): string
  /** SIGTERM, SIGKILL after `graceMs`, then removes the scratch folder. Safe to call twice. */
  stop(): Promise<void>
}

/** Starts `bin args` with stdout and stderr to `<scratchDir>/<logName>`. */
export function spawnDaemon(bin: string, args: string[], scratchDir: string, logName: string, graceMs: number): Daemon {
  const logFile = join(scratchDir, logName)
  const log = openSync(logFile, 'a')
  const child = spawn(bin, args, { stdio: ['ignore', log, log] })
  closeSync(log)
  let gone = false
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => ((gone = true), resolve()))
    child.once('error', () => ((gone = true), resolve()))
  })
  const pid = child.pid
  let stopped: Promise<void> | undefined
  return {
    pid,
    exited,
    gone: () => gone,
    logTail: (lines = 10) => {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n')
      } catch {
        return '' // no log yet
      }
    },
    stop: () => {
      stopped ??= (async () => {
        if (!gone && pid !== undefined) {
          process.kill(pid, 'SIGTERM')
          let timer: NodeJS.Timeout | undefined
          const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))])
          clearTimeout(timer)
          if (!done) {
            process.kill(pid, 'SIGKILL')
            await exited
          }
        }
        rmSync(scratchDir, { recursive: true, force: true, maxRetries: 3 })
      })()
      return stopped
    },
  }
}
