import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createInterface } from 'node:readline'

export interface RedisServer {
  port: number
  /** The server's process id (for its CPU time in /proc). */
  pid: number
  version: string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>
}

/**
 * Starts a throwaway redis-server on 127.0.0.1:`port` and waits until it accepts connections.
 * Durable like galactic's journal in the bench: the append-only file in `dir`, fsynced every
 * second (`--appendonly yes --appendfsync everysec`), no RDB snapshots (`--save ''`).
 */
export function startRedis(opts: { bin: string; port: number; dir: string; timeoutMs?: number }): Promise<RedisServer> {
  mkdirSync(opts.dir, { recursive: true })
  const args = ['--port', String(opts.port), '--bind', '127.0.0.1', '--dir', opts.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec']
  const child = spawn(opts.bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const tail: string[] = []
  let version = '?'
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (graceMs = 5_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`redis-server not ready after ${opts.timeoutMs ?? 10_000} ms:\n${tail.join('\n')}`))
    }, opts.timeoutMs ?? 10_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`cannot start ${opts.bin}: ${err.message}`))
    })
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited before it was ready:\n${tail.join('\n')}`))
    })
    createInterface({ input: child.stderr as NonNullable<typeof child.stderr> }).on('line', (line) => tail.push(line))
    createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on('line', (line) => {
      tail.push(line)
      if (tail.length > 50) tail.shift()
      const v = /Redis version=([\d.]+)/.exec(line) ?? /v=([\d.]+)/.exec(line)
      if (v?.[1] !== undefined && version === '?') version = v[1]
      if (line.includes('Ready to accept connections')) {
        clearTimeout(timer)
        resolve({ port: opts.port, pid: child.pid as number, version, stop })
      }
    })
  })
}
