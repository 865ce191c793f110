#!/usr/bin/env node
/**
 * The noop plugin process: newline-delimited JSON-RPC 2.0 requests on stdin, one response line
 * each on stdout. Every op answers at once; see README.md.
 */
import { LIMITS, LineReader } from '@galactic/schemas'
import { PluginServer } from './server.js'

// stdout carries the protocol only: anything printed by accident goes to stderr.
console.log = console.error
console.info = console.error
console.debug = console.error

let exiting = false
function exit(code: number): void {
  if (exiting) return
  exiting = true
  // Exit once everything written so far has left.
  process.stdout.write('', () => process.exit(code))
}

const server = new PluginServer({
  send: (line) => {
    if (!exiting) process.stdout.write(`${line}\n`)
  },
  exit,
})

const reader = new LineReader(
  LIMITS.maxMessageBytes,
  (line) => server.handleLine(line),
  () => server.handleOverflow(),
)

process.stdin.on('data', (chunk: Buffer) => reader.push(chunk))
process.stdin.on('end', () => {
  reader.end()
  exit(0)
})
process.stdout.on('error', (err) => {
  process.stderr.write(`[noop ${process.pid}] stdout: ${err.message}\n`)
  process.exit(0)
})
process.on('SIGTERM', () => exit(0))
