import { spawn } from 'node:child_process'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { GalacticError, LIMITS, LineReader, PLUGIN_PROTOCOL_VERSION, PluginResponse } from '@galactic/schemas'
import { PluginServer, createPluginServer, definePlugin, runPluginProcess, type PluginDefinition, type StartTask } from '../src/index.js'

type Message = Record<string, unknown>

/** Waits until `signal` aborts, then rejects (like a task that checks its signal). */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(new Error('aborted'))
    signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })
  })
}

/** A small plugin: `echo` answers its params, `slow` runs until stopped, `fail`/`boom` throw. */
function testPlugin(overrides: Partial<PluginDefinition> = {}): PluginDefinition & { closed: number; configs: unknown[] } {
  const plugin: PluginDefinition & { closed: number; configs: unknown[] } = {
    closed: 0,
    configs: [],
    describe: () => ({
      name: 'kit-test',
      version: '0.0.1',
      protocolVersion: PLUGIN_PROTOCOL_VERSION,
      ops: [{ name: 'echo' }, { name: 'slow' }, { name: 'fail' }, { name: 'boom' }],
      resources: { cpuCores: 1 },
    }),
    init: (config) => {
      plugin.configs.push(config)
    },
    start: async (task: StartTask, signal: AbortSignal) => {
      switch (task.op) {
        case 'echo':
          return { outputs: [{ name: 'out', data: Buffer.from(JSON.stringify(task.params)).toString('base64') }] }
        case 'slow':
          return untilAborted(signal)
        case 'fail':
          throw new GalacticError('TASK_INVALID', 'bad params: n', { issues: [{ path: 'n', message: 'required' }] })
        default:
          throw new Error('boom')
      }
    },
    verify: async (task, signal) => {
      if (task.op === 'slow') return untilAborted(signal)
      return task.outputs.length === 1 ? { valid: true } : { valid: false, reason: `expected 1 output, got ${task.outputs.length}` }
    },
    close: () => {
      plugin.closed++
    },
    ...overrides,
  }
  return definePlugin(plugin)
}

function harness(definition: PluginDefinition = testPlugin()) {
  const lines: Message[] = []
  const exits: number[] = []
  const logs: string[] = []
  const waiters: Array<() => void> = []
  const server = new PluginServer(definition, {
    send: (line) => {
      const parsed = JSON.parse(line) as Message
      expect(PluginResponse.safeParse(parsed).success).toBe(true)
      lines.push(parsed)
      waiters.shift()?.()
    },
    exit: (code) => exits.push(code),
    log: (message) => logs.push(message),
  })
  let read = 0
  const next = async (): Promise<Message> => {
    if (lines.length <= read) await new Promise<void>((resolve) => waiters.push(resolve))
    return lines[read++] as Message
  }
  const send = (id: number, method: string, params: unknown): void => server.handleLine(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
  const init = async (): Promise<void> => {
    send(0, 'init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config: {} })
    expect(await next()).toMatchObject({ id: 0, result: { name: 'kit-test' } })
  }
  return { server, lines, exits, logs, next, send, init }
}

const task = (taskId: string, op: string, params: unknown = {}) => ({ taskId, op, params, inputs: [] })

describe('dispatch', () => {
  it('answers describe before init, and init with the name, version and op names of describe', async () => {
    const plugin = testPlugin()
    const { next, send } = harness(plugin)
    send(1, 'describe', {})
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 1, result: plugin.describe() })
    send(2, 'init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config: { a: 1 } })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 2, result: { name: 'kit-test', version: '0.0.1', ops: ['echo', 'slow', 'fail', 'boom'] } })
    expect(plugin.configs).toEqual([{ a: 1 }])
  })

  it('checks params with the method schemas: PROTOCOL_ERROR naming the field', async () => {
    const { next, send, init } = harness()
    send(1, 'describe', { extra: 1 })
    expect(await next()).toMatchObject({ id: 1, error: { code: 'PROTOCOL_ERROR' } })
    await init()
    send(2, 'start', { taskId: 't' })
    expect(await next()).toMatchObject({ id: 2, error: { code: 'PROTOCOL_ERROR', message: expect.stringContaining('start params') } })
    send(3, 'stop', { taskId: '' })
    expect(await next()).toMatchObject({ id: 3, error: { code: 'PROTOCOL_ERROR', details: { issues: [{ path: 'taskId' }] } } })
  })

  it('answers lines that are not requests with PROTOCOL_ERROR, id null when unknown', async () => {
    const { server, next, send } = harness()
    server.handleLine('{oops')
    expect(await next()).toMatchObject({ id: null, error: { code: 'PROTOCOL_ERROR', message: 'request is not JSON' } })
    send(4, 'prove', {})
    expect(await next()).toMatchObject({ id: 4, error: { code: 'PROTOCOL_ERROR', message: 'unknown method "prove"' } })
    server.handleLine(JSON.stringify({ jsonrpc: '2.0', method: 'describe', params: {} }))
    expect(await next()).toMatchObject({ id: null, error: { code: 'PROTOCOL_ERROR', message: 'not a JSON-RPC 2.0 request' } })
    server.handleLine('null')
    expect(await next()).toMatchObject({ id: null, error: { code: 'PROTOCOL_ERROR' } })
    server.handleOverflow()
    expect(await next()).toMatchObject({ id: null, error: { code: 'PAYLOAD_TOO_LARGE' } })
  })

  it('runs tasks concurrently and answers each by id, in the order they end', async () => {
    const { server, next, send, init } = harness()
    await init()
    send(1, 'start', task('a', 'slow'))
    send(2, 'start', task('b', 'echo', { x: 1 }))
    expect(await next()).toMatchObject({ id: 2, result: { outputs: [{ name: 'out', data: Buffer.from('{"x":1}').toString('base64') }] } })
    expect(server.running).toBe(1)
    send(3, 'start', task('a', 'echo'))
    expect(await next()).toMatchObject({ id: 3, error: { code: 'TASK_INVALID', message: 'task a is already running' } })
    send(4, 'verify', { op: 'echo', params: {}, inputs: [], outputs: [] })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 4, result: { valid: false, reason: 'expected 1 output, got 0' } })
  })

  it('answers a hook that returns at once inside handleLine', () => {
    const { lines, send } = harness(
      testPlugin({ start: (t) => ({ outputs: [{ name: t.op, data: '' }] }), verify: () => ({ valid: true }) }),
    )
    send(1, 'init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config: null })
    send(2, 'start', task('t', 'echo'))
    send(3, 'verify', { op: 'echo', params: {}, inputs: [], outputs: [] })
    expect(lines.map((l) => l['id'])).toEqual([1, 2, 3])
    expect(lines[1]).toEqual({ jsonrpc: '2.0', id: 2, result: { outputs: [{ name: 'echo', data: '' }] } })
  })
})

describe('init order', () => {
  it('refuses start and verify before init with PROTOCOL_ERROR, then serves them', async () => {
    const { next, send, server } = harness()
    send(1, 'start', task('t', 'echo'))
    expect(await next()).toMatchObject({ id: 1, error: { code: 'PROTOCOL_ERROR', message: 'start before init: call init first' } })
    send(2, 'verify', { op: 'echo', params: {}, inputs: [], outputs: [] })
    expect(await next()).toMatchObject({ id: 2, error: { code: 'PROTOCOL_ERROR', message: 'verify before init: call init first' } })
    send(3, 'init', { protocolVersion: 99, config: {} })
    expect(await next()).toMatchObject({ id: 3, error: { code: 'PROTOCOL_ERROR', message: expect.stringContaining('protocol version 99') } })
    expect(server.initialized).toBe(false)
    send(4, 'start', task('t', 'echo'))
    expect(await next()).toMatchObject({ id: 4, error: { code: 'PROTOCOL_ERROR' } })
    send(5, 'init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config: {} })
    expect(await next()).toMatchObject({ id: 5, result: { name: 'kit-test' } })
    send(6, 'start', task('t', 'echo'))
    expect(await next()).toMatchObject({ id: 6, result: { outputs: [{ name: 'out' }] } })
  })

  it('requireInit: false serves start and verify before init', async () => {
    const { next, send } = harness(testPlugin({ requireInit: false }))
    send(1, 'start', task('t', 'echo'))
    expect(await next()).toMatchObject({ id: 1, result: { outputs: [{ name: 'out' }] } })
    send(2, 'verify', { op: 'echo', params: {}, inputs: [], outputs: [] })
    expect(await next()).toMatchObject({ id: 2, result: { valid: false } })
  })

  it('an init hook that throws refuses init (its code kept) and leaves the plugin uninitialised', async () => {
    const { next, send, server } = harness(
      testPlugin({
        init: (config) => {
          if (config === 'plain') throw new Error('disk on fire')
          throw new GalacticError('INVALID_INPUT', 'invalid init config: dir: required', { issues: [{ path: 'dir', message: 'required' }] })
        },
      }),
    )
    send(1, 'init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config: {} })
    expect(await next()).toMatchObject({ id: 1, error: { code: 'INVALID_INPUT', details: { issues: [{ path: 'dir' }] } } })
    send(2, 'init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config: 'plain' })
    expect(await next()).toMatchObject({ id: 2, error: { code: 'INTERNAL', message: 'disk on fire' } })
    expect(server.initialized).toBe(false)
  })

  it('an async init hook is answered when it settles; until then start is refused', async () => {
    let resolveInit = (): void => {}
    const { next, send, lines } = harness(testPlugin({ init: () => new Promise<void>((resolve) => (resolveInit = resolve)) }))
    send(1, 'init', { protocolVersion: PLUGIN_PROTOCOL_VERSION, config: {} })
    send(2, 'start', task('t', 'echo'))
    expect(await next()).toMatchObject({ id: 2, error: { code: 'PROTOCOL_ERROR' } })
    expect(lines).toHaveLength(1)
    resolveInit()
    expect(await next()).toMatchObject({ id: 1, result: { name: 'kit-test' } })
    send(3, 'start', task('t', 'echo'))
    expect(await next()).toMatchObject({ id: 3, result: { outputs: [{ name: 'out' }] } })
  })
})

describe('cancellation', () => {
  it('stop { taskId } answers {} at once and the task answers TASK_CANCELLED; other tasks go on', async () => {
    const { server, next, send, init, exits, logs } = harness()
    await init()
    send(1, 'start', task('long', 'slow'))
    send(2, 'start', task('other', 'slow'))
    expect(server.running).toBe(2)
    send(3, 'stop', { taskId: 'long' })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 3, result: {} })
    expect(await next()).toMatchObject({ id: 1, error: { code: 'TASK_CANCELLED', message: 'task long cancelled' } })
    expect(server.running).toBe(1)
    expect(logs).toContain('task long (slow) failed: TASK_CANCELLED: task long cancelled')
    // A task that is not running: nothing to cancel, still {}.
    send(4, 'stop', { taskId: 'nope' })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 4, result: {} })
    expect(exits).toEqual([])
    // The freed taskId can run again.
    send(5, 'start', task('long', 'echo'))
    expect(await next()).toMatchObject({ id: 5, result: { outputs: [{ name: 'out' }] } })
  })

  it('a task aborted answers TASK_CANCELLED whatever it throws', async () => {
    const { next, send, init } = harness(
      testPlugin({
        start: (_, signal) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(new GalacticError('TASK_INVALID', 'half-done')), { once: true })),
      }),
    )
    await init()
    send(1, 'start', task('t', 'echo'))
    send(2, 'stop', { taskId: 't' })
    expect(await next()).toMatchObject({ id: 2, result: {} })
    expect(await next()).toMatchObject({ id: 1, error: { code: 'TASK_CANCELLED' } })
  })
})

describe('shutdown', () => {
  it('stop {} cancels tasks and verifications, runs close once, answers {} then exits 0, and refuses what follows', async () => {
    const plugin = testPlugin()
    const { server, next, send, init, exits } = harness(plugin)
    await init()
    send(1, 'start', task('t', 'slow'))
    send(2, 'verify', { op: 'slow', params: {}, inputs: [], outputs: [] })
    expect(server.running).toBe(2)
    send(3, 'stop', {})
    expect(server.stopping).toBe(true)
    const answers = [await next(), await next()]
    expect(answers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 1, error: expect.objectContaining({ code: 'TASK_CANCELLED' }) }),
        expect.objectContaining({ id: 2, error: expect.objectContaining({ code: 'TASK_CANCELLED', message: 'verify 2 cancelled' }) }),
      ]),
    )
    expect(exits).toEqual([])
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 3, result: {} })
    expect(exits).toEqual([0])
    expect(plugin.closed).toBe(1)
    expect(server.running).toBe(0)
    send(4, 'describe', {})
    expect(await next()).toMatchObject({ id: 4, error: { code: 'PROTOCOL_ERROR', message: 'plugin is shutting down' } })
    send(5, 'stop', {})
    expect(await next()).toMatchObject({ id: 5, error: { code: 'PROTOCOL_ERROR' } })
    await server.shutdown()
    expect(plugin.closed).toBe(1)
    expect(exits).toEqual([0])
  })

  it('close runs after every task has answered; a close that throws is logged and the stop still answered', async () => {
    const order: string[] = []
    const plugin = testPlugin({
      start: (_, signal) => untilAborted(signal).finally(() => order.push('task')),
      close: async () => {
        order.push('close')
        throw new Error('workers stuck')
      },
    })
    const { next, send, init, exits, logs } = harness(plugin)
    await init()
    send(1, 'start', task('t', 'slow'))
    send(2, 'stop', {})
    expect(await next()).toMatchObject({ id: 1, error: { code: 'TASK_CANCELLED' } })
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 2, result: {} })
    expect(order).toEqual(['task', 'close'])
    expect(logs).toContain('close: workers stuck')
    expect(exits).toEqual([0])
  })

  it('shutdown() alone cancels and closes without answering or exiting', async () => {
    const plugin = testPlugin()
    const { server, next, send, init, exits } = harness(plugin)
    await init()
    send(1, 'start', task('t', 'slow'))
    const [a, b] = [server.shutdown(), server.shutdown()]
    expect(a).toBe(b)
    await a
    expect(await next()).toMatchObject({ id: 1, error: { code: 'TASK_CANCELLED' } })
    expect(plugin.closed).toBe(1)
    expect(exits).toEqual([])
  })
})

describe('errors', () => {
  it('maps thrown errors with GalacticError.from: codes and details kept, anything else INTERNAL', async () => {
    const { next, send, init, logs } = harness()
    await init()
    send(1, 'start', task('a', 'fail'))
    expect(await next()).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: 'TASK_INVALID', message: 'bad params: n', details: { issues: [{ path: 'n', message: 'required' }] } },
    })
    send(2, 'start', task('b', 'boom'))
    expect(await next()).toMatchObject({ id: 2, error: { code: 'INTERNAL', message: 'boom' } })
    expect(logs).toContain('task b (boom) failed: INTERNAL: boom')
  })

  it('a hook that throws synchronously is answered like one that rejects', () => {
    const { lines, send } = harness(
      testPlugin({
        requireInit: false,
        start: () => {
          throw new GalacticError('TASK_INVALID', 'sync')
        },
        verify: () => {
          throw new Error('sync verify')
        },
      }),
    )
    send(1, 'start', task('t', 'echo'))
    send(2, 'verify', { op: 'echo', params: {}, inputs: [], outputs: [] })
    expect(lines).toMatchObject([
      { id: 1, error: { code: 'TASK_INVALID', message: 'sync' } },
      { id: 2, error: { code: 'INTERNAL', message: 'sync verify' } },
    ])
  })

  it('a reply over the line limit is PAYLOAD_TOO_LARGE; a long error message is cut to 4096 characters', async () => {
    const { next, send } = harness(
      testPlugin({
        requireInit: false,
        start: async (t) => {
          if (t.op === 'huge') return { outputs: [{ name: 'big', data: 'A'.repeat(LIMITS.maxMessageBytes) }] }
          throw new GalacticError('TASK_INVALID', 'x'.repeat(10_000))
        },
      }),
    )
    send(1, 'start', task('h', 'huge'))
    expect(await next()).toMatchObject({ id: 1, error: { code: 'PAYLOAD_TOO_LARGE' } })
    send(2, 'start', task('l', 'long-error'))
    const answer = (await next()) as { error: { message: string } }
    expect(answer.error.message).toHaveLength(4096)
  })

  it('createPluginServer is the constructor', () => {
    expect(createPluginServer(testPlugin(), { send: () => {}, exit: () => {} })).toBeInstanceOf(PluginServer)
  })
})

describe('runPluginProcess', () => {
  function stdio(definition: PluginDefinition, quiet = false) {
    const stdin = new PassThrough()
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const exits: number[] = []
    const messages: Message[] = []
    const errLines: string[] = []
    let exited: (code: number) => void = () => {}
    const exitedP = new Promise<number>((resolve) => (exited = resolve))
    const reader = new LineReader(1 << 26, (line) => messages.push(JSON.parse(line) as Message), () => {})
    stdout.on('data', (chunk: Buffer) => reader.push(chunk))
    stderr.on('data', (chunk: Buffer) => errLines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')))
    const server = runPluginProcess(definition, {
      ...(quiet ? { quiet } : {}),
      io: {
        stdin,
        stdout,
        stderr,
        exit: (code) => {
          exits.push(code)
          exited(code)
        },
      },
    })
    const write = (id: number, method: string, params: unknown): void => void stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`)
    return { server, stdin, messages, errLines, exits, exited: exitedP, write }
  }

  it('one response line per request, across chunk boundaries; exits 0 after answering stop {}', async () => {
    const plugin = testPlugin()
    const p = stdio(plugin)
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'init', params: { protocolVersion: 1, config: {} } })
    p.stdin.write(init.slice(0, 10))
    p.stdin.write(`${init.slice(10)}\r\n\n{bad\n`)
    p.write(2, 'start', task('t', 'echo'))
    p.write(3, 'start', task('s', 'slow'))
    p.write(4, 'stop', {})
    expect(await p.exited).toBe(0)
    expect(p.messages.map((m) => m['id'])).toEqual([1, null, 2, 3, 4])
    expect(p.messages[3]).toMatchObject({ error: { code: 'TASK_CANCELLED' } })
    expect(p.messages[4]).toEqual({ jsonrpc: '2.0', id: 4, result: {} })
    expect(p.exits).toEqual([0])
    expect(plugin.closed).toBe(1)
    expect(p.errLines.some((l) => l.startsWith(`[kit-test ${process.pid}] task t (echo) done in `))).toBe(true)
  })

  it('exits 0 when stdin ends, after the cancelled tasks have answered and close has run', async () => {
    const plugin = testPlugin()
    const p = stdio(plugin)
    p.write(1, 'init', { protocolVersion: 1, config: {} })
    p.write(2, 'start', task('s', 'slow'))
    // An unterminated last line is still read.
    p.stdin.end(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'describe', params: {} }))
    expect(await p.exited).toBe(0)
    expect(p.messages.map((m) => m['id'])).toEqual([1, 3, 2])
    expect(p.messages[2]).toMatchObject({ error: { code: 'TASK_CANCELLED' } })
    expect(plugin.closed).toBe(1)
    expect(p.exits).toEqual([0])
  })

  it('answers a line over LIMITS.maxMessageBytes with PAYLOAD_TOO_LARGE and reads on; quiet writes nothing to stderr', async () => {
    const p = stdio(testPlugin({ requireInit: false }), true)
    p.stdin.write(`${'x'.repeat(LIMITS.maxMessageBytes + 1)}\n`)
    p.write(1, 'start', task('t', 'echo'))
    p.stdin.end()
    expect(await p.exited).toBe(0)
    expect(p.messages).toMatchObject([{ id: null, error: { code: 'PAYLOAD_TOO_LARGE' } }, { id: 1, result: { outputs: [{ name: 'out' }] } }])
    expect(p.errLines).toEqual([])
  })

  it('in a real process, keeps stdout for the protocol (console.log goes to stderr) and exits 0 on stdin end', async () => {
    const script = `
      import { runPluginProcess } from '@galactic/plugin-kit'
      runPluginProcess({
        describe: () => ({ name: 'proc', version: '1', protocolVersion: 1, ops: [{ name: 'x' }], resources: {} }),
        start: async () => { console.log('chatter'); return { outputs: [] } },
        verify: async () => ({ valid: true }),
      }, { name: 'proc-test' })
    `
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    child.stdin.end(
      [
        { jsonrpc: '2.0', id: 1, method: 'init', params: { protocolVersion: 1, config: {} } },
        { jsonrpc: '2.0', id: 2, method: 'start', params: task('t', 'x') },
      ]
        .map((m) => `${JSON.stringify(m)}\n`)
        .join(''),
    )
    expect(await exited).toBe(0)
    const messages = out.trim().split('\n').map((l) => JSON.parse(l) as Message)
    expect(messages).toEqual([
      { jsonrpc: '2.0', id: 1, result: { name: 'proc', version: '1', ops: ['x'] } },
      { jsonrpc: '2.0', id: 2, result: { outputs: [] } },
    ])
    expect(err).toContain('chatter')
    expect(err).toMatch(/\[proc-test \d+\] task t \(x\) done in/)
  })
})
