/**
 * What one message between the oracle and an agent costs in the transport: a `task.assign` (a real
 * one, ~1.3 KB, schema-checked) one way and a `result.ack` back, both ends in this process,
 *
 * - over libp2p as galactic runs it: TCP + noise + yamux, a `FramedStream` each side (`net`);
 * - over a plain TCP socket with newline-delimited JSON and the same zod parsing on each side.
 *
 * Reports CPU µs per round trip (user + system of this process: both ends' whole cost) and wall µs,
 * for `--batch` messages in flight at once. The difference is what libp2p's stream stack (noise
 * records, yamux frames and window updates, length-prefixed framing, Node streams) adds per message.
 *
 *   npm run bench:transport -- [--round-trips 4000] [--rounds 3] [--batch 1,4] [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createNode, FramedStream, loadOrCreateKey } from '@galactic/net'
import { OracleMessage, type Task } from '@galactic/schemas'
import { round } from './e2e/stats.js'

const PROTOCOL = '/galactic/bench/transport/1.0.0'

function assign(n: number): OracleMessage {
  const output = (opId: string, fill: number) => ({
    opId,
    outputs: [{ name: 'proof', hash: `sha256:${'ab'.repeat(32)}`, size: 200, providers: [`12D3KooW${'x'.repeat(44)}`], data: Buffer.alloc(200, fill).toString('base64') }],
  })
  const task: Task = {
    graphId: 'g'.repeat(64),
    opId: `agg-3-${n}`,
    attempt: 1,
    name: 'aggregate',
    plugin: { name: 'noop', version: '1.0.0' },
    params: { level: 3, index: n },
    requirements: {},
    inputs: [output(`agg-2-${2 * n}`, 7), output(`agg-2-${2 * n + 1}`, 9)],
    timeoutMs: 60_000,
    pluginMode: 'performance',
  }
  return { type: 'task.assign', task }
}

function ack(msg: OracleMessage): OracleMessage {
  const task = msg.type === 'task.assign' ? msg.task : undefined
  return { type: 'result.ack', graphId: task?.graphId ?? 'g', opId: task?.opId ?? 'op', attempt: 1 }
}

interface Channel {
  send(msg: OracleMessage): void
  read(): Promise<OracleMessage>
  close(): Promise<void>
}

async function libp2pChannel(dir: string): Promise<Channel> {
  const server = await createNode({ privateKey: await loadOrCreateKey(join(dir, 'server.key')), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const client = await createNode({ privateKey: await loadOrCreateKey(join(dir, 'client.key')) })
  await server.handle(PROTOCOL, async (stream) => {
    const framed = new FramedStream<OracleMessage, OracleMessage>(stream, OracleMessage, 'message')
    try {
      for (;;) void framed.send(ack(await framed.read()))
    } catch {
      // the client closed
    }
  })
  const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, PROTOCOL)
  const framed = new FramedStream<OracleMessage, OracleMessage>(stream, OracleMessage, 'message')
  return {
    send: (msg) => void framed.send(msg),
    read: () => framed.read(),
    close: async () => {
      framed.abort('done')
      await client.stop()
      await server.stop()
    },
  }
}

/** Newline-delimited JSON on a socket, each line parsed with the schema, as FramedStream does. */
function lines(socket: Socket, onMessage: (msg: OracleMessage) => void): void {
  let buffered = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffered += chunk
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      onMessage(OracleMessage.parse(JSON.parse(buffered.slice(0, i))))
      buffered = buffered.slice(i + 1)
    }
  })
}

async function tcpChannel(): Promise<Channel> {
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    lines(socket, (msg) => socket.write(`${JSON.stringify(ack(msg))}\n`))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const got: OracleMessage[] = []
  const waiting: Array<(msg: OracleMessage) => void> = []
  lines(socket, (msg) => {
    const w = waiting.shift()
    if (w === undefined) got.push(msg)
    else w(msg)
  })
  return {
    send: (msg) => void socket.write(`${JSON.stringify(msg)}\n`),
    read: () => {
      const msg = got.shift()
      return msg !== undefined ? Promise.resolve(msg) : new Promise((resolve) => waiting.push(resolve))
    },
    close: async () => {
      socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

async function measure(channel: Channel, roundTrips: number, batch: number): Promise<{ cpuUs: number; wallUs: number; systemUs: number }> {
  const messages = Array.from({ length: batch }, (_, i) => assign(i))
  const run = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += batch) {
      for (const m of messages) channel.send(m)
      for (let j = 0; j < batch; j++) await channel.read()
    }
  }
  await run(Math.min(roundTrips, 2_000)) // warm-up
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await run(roundTrips)
  const cpu = process.cpuUsage(cpu0)
  return { cpuUs: (cpu.user + cpu.system) / roundTrips, systemUs: cpu.system / roundTrips, wallUs: ((performance.now() - t0) * 1000) / roundTrips }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'round-trips': { type: 'string', default: '4000' },
      rounds: { type: 'string', default: '3' },
      batch: { type: 'string', default: '1,4' },
      json: { type: 'boolean', default: false },
    },
  })
  const roundTrips = Number(values['round-trips'])
  const rounds = Number(values.rounds)
  const batches = values.batch.split(',').map(Number)
  for (const [name, n] of [['--round-trips', roundTrips], ['--rounds', rounds], ...batches.map((b) => ['--batch', b] as const)] as const) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be positive integers, got ${String(n)}`)
  }
  const size = Buffer.byteLength(JSON.stringify(assign(0)))
  console.log(`transport: task.assign (${size} bytes of JSON) one way, result.ack back, both ends in one process; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`)
  const dir = mkdtempSync(join(tmpdir(), 'galactic-transport-'))
  const results: Array<{ transport: string; batch: number; cpuUs: number; systemUs: number; wallUs: number }> = []
  try {
    for (const batch of batches) {
      // Alternated, so both see the same machine.
      for (let r = 0; r < rounds; r++) {
        for (const [transport, open] of [['libp2p', () => libp2pChannel(dir)], ['tcp+jsonl', () => tcpChannel()]] as const) {
          const channel = await open()
          const m = await measure(channel, roundTrips, batch)
          await channel.close()
          results.push({ transport, batch, cpuUs: round(m.cpuUs), systemUs: round(m.systemUs), wallUs: round(m.wallUs) })
          console.log(`${transport.padEnd(9)} batch ${batch}: CPU ${round(m.cpuUs)} µs per round trip (kernel ${round(m.systemUs)}), wall ${round(m.wallUs)} µs`)
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number
  const summary = batches.map((batch) => {
    const of = (t: string) => median(results.filter((r) => r.transport === t && r.batch === batch).map((r) => r.cpuUs))
    return { batch, libp2pCpuUs: of('libp2p'), tcpCpuUs: of('tcp+jsonl'), ratio: round(of('libp2p') / of('tcp+jsonl'), 2) }
  })
  for (const s of summary) console.log(`batch ${s.batch}: libp2p ${s.libp2pCpuUs} µs vs plain TCP ${s.tcpCpuUs} µs of CPU per round trip (medians): ${s.ratio}x`)
  if (values.json) console.log(JSON.stringify({ messageBytes: size, roundTrips, summary }))
  process.exit(0)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
