#!/usr/bin/env node
/**
 * The groth16-chain plugin process: newline-delimited JSON-RPC 2.0 requests on stdin, one
 * response line each on stdout, diagnostics on stderr. It exits after `stop` without a taskId,
 * when stdin closes and on SIGTERM, ending snarkjs' worker threads first. See docs/plugins.md.
 */
import { LIMITS, LineReader } from '@galactic/schemas'
import { PluginServer } from './server.js'

// stdout carries the protocol only: anything printed by accident (snarkjs, circom) goes to stderr.
console.log = console.error
console.info = console.error
console.debug = console.error

const log = (message: string): void => {
  process.stderr.write(`[groth16-chain ${process.pid}] ${message}\n`)
}

let exiting = false
function exit(code: number): void {
  if (exiting) return
  exiting = true
  // Exit once everything written so far has left; process.exit also ends any worker thread left.
  process.stdout.write('', () => process.exit(code))
}

const server = new PluginServer({
  send: (line) => {
    if (!exiting) process.stdout.write(`${line}\n`)
  },
  exit,
  log,
})

const reader = new LineReader(
  LIMITS.maxMessageBytes,
  (line) => server.handleLine(line),
  () => server.handleOverflow(),
)

process.stdin.on('data', (chunk: Buffer) => reader.push(chunk))
process.stdin.on('end', () => {
  reader.end()
  // The agent went away: nobody can read answers any more.
  void server.shutdown().then(() => exit(0))
})
process.stdout.on('error', (err) => {
  log(`stdout: ${err.message}`)
  process.exit(0)
})
process.on('SIGTERM', () => void server.shutdown().then(() => exit(0)))
