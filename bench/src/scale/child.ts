import { fork, spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** Every helper process started here and not yet exited: the bench's last cleanup SIGKILLs them. */
export const running = new Set<ChildProcess>()

function track(child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

/** SIGKILLs every helper process still running. */
export function killAll(): void {
  for (const c of running) c.kill('SIGKILL')
}

/**
 * A forked bench helper process (an IPC channel) that answers requests with typed replies.
 * `next(type)` waits for the next reply of that type; `stop()` asks, then SIGKILLs.
 */
export class Child<Reply extends { type: string }> {
  readonly child: ChildProcess
  readonly name: string
  readonly exited: Promise<number | null>
  private readonly inbox: Reply[] = []
  private readonly waiters: Array<{ type: string; resolve: (r: Reply) => void; reject: (e: Error) => void }> = []
  private readonly stderr: string[] = []
  /** Stderr lines that matched `countLines`, so far. */
  counted = 0

  constructor(name: string, script: string, args: string[], execArgv: string[] = [], env: Record<string, string> = {}, countLines?: RegExp) {
    this.name = name
    this.child = track(fork(script, args, { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }))
    createInterface({ input: this.child.stderr as NonNullable<ChildProcess['stderr']> }).on('line', (line) => {
      if (countLines?.test(line) === true) {
        this.counted++
        return
      }
      this.stderr.push(line)
      if (this.stderr.length > 40) this.stderr.shift()
    })
    this.child.on('message', (msg: Reply) => {
      const i = this.waiters.findIndex((w) => w.type === msg.type)
      if (i < 0) {
        this.inbox.push(msg)
        return
      }
      const [w] = this.waiters.splice(i, 1)
      w?.resolve(msg)
    })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        const why = new Error(`${name} exited (${code ?? signal}) ${this.stderrTail()}`)
        for (const w of this.waiters.splice(0)) w.reject(why)
        resolve(code)
      })
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  stderrTail(): string {
    return this.stderr.length === 0 ? '' : `; its stderr ended:\n${this.stderr.slice(-15).join('\n')}`
  }

  send(msg: unknown): void {
    if (this.alive && this.child.connected) this.child.send(msg as never)
  }

  next<T extends Reply['type']>(type: T, timeoutMs: number): Promise<Extract<Reply, { type: T }>> {
    const i = this.inbox.findIndex((m) => m.type === type)
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Extract<Reply, { type: T }>)
    if (!this.alive) return Promise.reject(new Error(`${this.name} is not running ${this.stderrTail()}`))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const j = this.waiters.indexOf(waiter)
        if (j >= 0) this.waiters.splice(j, 1)
        reject(new Error(`${this.name}: no ${type} after ${timeoutMs} ms ${this.stderrTail()}`))
      }, timeoutMs)
      const waiter = {
        type,
        resolve: (r: Reply) => {
          clearTimeout(timer)
          resolve(r as Extract<Reply, { type: T }>)
        },
        reject: (e: Error) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      this.waiters.push(waiter)
    })
  }

  /** Sends `request` (if any) or SIGTERM, waits `graceMs`, then SIGKILL; resolves once it has exited. */
  async stop(graceMs: number, request?: unknown): Promise<void> {
    if (!this.alive) return
    if (request !== undefined) this.send(request)
    else this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

/** Runs `node ARGS` to its end and returns the last line it printed on stdout, parsed as JSON. */
export function runJson<T>(nodeArgs: string[], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'pipe'] }))
    let out = ''
    let err = ''
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      const last = out.trim().split('\n').pop() ?? ''
      if (code !== 0) return reject(new Error(`node ${nodeArgs.slice(0, 3).join(' ')} ended ${code ?? signal}${signal === 'SIGKILL' ? ` (over ${timeoutMs} ms?)` : ''}:\n${err}`))
      try {
        resolve(JSON.parse(last) as T)
      } catch {
        reject(new Error(`node ${nodeArgs.slice(0, 3).join(' ')} printed no JSON line: ${last.slice(0, 200)}\n${err}`))
      }
    })
  })
}
