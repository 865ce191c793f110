import { LIMITS, LineReader } from '@galactic/schemas'
import type { PluginDefinition } from './definition.js'
import { PluginServer } from './server.js'

/** Where a plugin process reads and writes; the process's own by default (tests pass others). */
export interface PluginProcessIo {
  stdin: NodeJS.ReadableStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  exit: (code: number) => void
}

export interface PluginProcessOptions {
  /** Names the plugin in stderr lines, `[name pid] message`. @default the definition's describe().name */
  name?: string
  /**
   * No diagnostics from the server and the hooks (task ends, invalid verifies, `context.log`).
   * For plugins whose tasks are so many and short that a stderr line each, which the agent logs,
   * would cost more than the task (the noop plugin). A stdout failure is still reported. @default false
   */
  quiet?: boolean
  /**
   * Streams and exit to use instead of the process's. With them, `console` and SIGTERM are left
   * alone (they belong to the process). @default process.stdin, process.stdout, process.stderr, process.exit
   */
  io?: PluginProcessIo
}

/**
 * Runs a plugin as a process speaking the plugin protocol over stdio: newline-delimited JSON-RPC
 * requests on stdin (lines of at most `LIMITS.maxMessageBytes`), one response line each on stdout,
 * diagnostics on stderr (`console.log`, `info` and `debug` go there too, so stdout carries the
 * protocol only).
 *
 * It exits 0 after `stop {}` has been answered, when stdin ends and on SIGTERM: each time running
 * tasks are cancelled, their answers written, the definition's `close` hook run, and the process
 * ends once everything written has left. Returns the server (for tests).
 */
export function runPluginProcess(definition: PluginDefinition, options: PluginProcessOptions = {}): PluginServer {
  const own = options.io === undefined
  const io: PluginProcessIo = options.io ?? {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    exit: (code) => process.exit(code),
  }
  if (own) {
    // stdout carries the protocol only: anything printed by accident goes to stderr.
    console.log = console.error
    console.info = console.error
    console.debug = console.error
  }
  const prefix = `[${options.name ?? definition.describe().name} ${process.pid}]`
  const log = (message: string): void => {
    io.stderr.write(`${prefix} ${message}\n`)
  }

  let exiting = false
  const exit = (code: number): void => {
    if (exiting) return
    exiting = true
    // Exit once everything written so far has left (process.exit also ends worker threads left).
    io.stdout.write('', () => io.exit(code))
  }

  const server = new PluginServer(definition, {
    send: (line) => {
      if (!exiting) io.stdout.write(`${line}\n`)
    },
    exit,
    ...(options.quiet === true ? {} : { log }),
  })
  const shutdown = (): void => void server.shutdown().then(() => exit(0))

  const reader = new LineReader(
    LIMITS.maxMessageBytes,
    (line) => server.handleLine(line),
    () => server.handleOverflow(),
  )
  io.stdin.on('data', (chunk: Buffer | string) => reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk))
  io.stdin.on('end', () => {
    reader.end()
    // The agent went away: nobody can read answers any more.
    shutdown()
  })
  io.stdout.on('error', (err: Error) => {
    log(`stdout: ${err.message}`)
    io.exit(0)
  })
  if (own) process.on('SIGTERM', shutdown)
  return server
}
