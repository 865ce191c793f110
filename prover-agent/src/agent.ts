import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import {
  createNode,
  fetchBlob,
  FramedStream,
  loadOrCreateKey,
  multiaddr,
  peerIdFromString,
  pushBlob,
  signResults,
  type GalacticNode,
  type Multiaddr,
  type PeerId,
  type PrivateKey,
} from '@galactic/net'
import {
  AGENT_PROTOCOL,
  contentHash,
  GalacticError,
  LIMITS,
  signedResult,
  OracleMessage,
  PGAS_TOPIC,
  PGasAnnouncement,
  taskKey,
  type AgentMessage,
  type ContentHash,
  type DeviceDescriptor,
  type ProducedOutput,
  type Task,
  type TaskInput,
  type TaskOutcome,
  type TaskRef,
  type CostModel,
  type PluginRef,
} from '@galactic/schemas'
import { GalacticClient, loadOrCreateEthKey, signRegistration, type Wallet } from '@galactic/sdk'
import { catalogPlugins } from './catalog.js'
import { detectDevice } from './device.js'
import { AgentMetrics } from './metrics.js'
import type { ProverAgentInit } from './options.js'
import { DockerRuntime, loadPluginManifest, PluginHost, ProcessRuntime, type PluginLaunchOptions, type PluginRuntime } from '@galactic/plugin-runtime'

export const AGENT_VERSION = '0.1.0'

export interface ProverAgentComponents {
  /** @default a silent logger */
  log?: Logger
  /** @default ProcessRuntime */
  runtime?: PluginRuntime
  /** @default detected from this machine */
  device?: DeviceDescriptor
}

interface Running {
  ref: TaskRef
  abort: AbortController
}

/** A finished task whose result the oracle has not acknowledged yet. */
interface Pending {
  ref: TaskRef
  outcome: TaskOutcome
  blobs: Map<ContentHash, Uint8Array>
  /** The session it was last sent on: sent once per session unless the oracle asks again. */
  sentOn?: FramedStream<OracleMessage, AgentMessage> | undefined
}

/**
 * A prover agent: registers its device with the oracle over libp2p, heartbeats, runs the
 * ops it is assigned through its plugins, uploads outputs and reports results. Results
 * are kept until the oracle acknowledges them, so an oracle restart loses none; after
 * any disconnect the agent dials again with backoff and re-registers, naming the tasks
 * it is still running so the oracle neither loses them nor hands them out twice.
 */
export class ProverAgent {
  readonly init: Required<Omit<ProverAgentInit, 'pluginConfig' | 'metricsPort' | 'dockerSocket' | 'gasPerSecond'>> &
    Pick<ProverAgentInit, 'pluginConfig' | 'metricsPort' | 'dockerSocket' | 'gasPerSecond'>
  /** Prometheus metrics; served on `init.metricsPort` when set. */
  readonly metrics: AgentMetrics
  /** The port /metrics is served on, once started with `metricsPort`. */
  metricsPort: number | undefined
  private readonly log: Logger
  private readonly components: ProverAgentComponents
  private node: GalacticNode | undefined
  /** The libp2p identity key: its peer id is bound to the Ethereum key by the registration; it signs results. */
  private identity: PrivateKey | undefined
  private host: PluginHost | undefined
  private device: DeviceDescriptor | undefined
  private framed: FramedStream<OracleMessage, AgentMessage> | undefined
  private oraclePeer: PeerId | undefined
  private readonly running = new Map<string, Running>()
  private readonly outbox = new Map<string, Pending>()
  private readonly stopping = new AbortController()
  private loop: Promise<void> | undefined
  private registeredOnce: (() => void) | undefined
  /** The cost models of the plugins offered (describe's `gas`), sent at registration. */
  private costModels: Array<{ plugin: PluginRef; model: CostModel }> = []
  /** P_gas as the oracle last announced it, undefined before the first announcement. */
  pGas: PGasAnnouncement | undefined
  /** Resolves the first time the oracle accepts this agent's registration. */
  readonly registered: Promise<void>

  constructor(init: ProverAgentInit, components: ProverAgentComponents = {}) {
    this.init = { slots: 1, maxBackoffMs: 5_000, metricsHost: '127.0.0.1', catalog: false, catalogPullTimeoutMs: 10_000, catalogWaitMs: 60_000, ...init }
    this.metrics = new AgentMetrics(() => this.running.size)
    this.log = components.log ?? pino({ level: 'silent' })
    this.components = components
    this.registered = new Promise((resolve) => {
      this.registeredOnce = resolve
    })
  }

  async start(): Promise<void> {
    const plugins = this.init.plugins.map((path) => loadPluginManifest(path))
    const log = (line: string): void => this.log.debug({ plugin: line }, 'plugin stderr')
    const runtime = this.components.runtime ?? new ProcessRuntime({}, { log })
    let docker: DockerRuntime | undefined
    if (this.init.dockerSocket !== undefined) {
      docker = new DockerRuntime({ agentId: this.init.proverId, socketPath: this.init.dockerSocket }, { log })
      const removed = await docker.cleanupStale()
      if (removed > 0) this.log.info({ removed }, 'removed containers left by an earlier run of this agent')
    }
    this.identity = await loadOrCreateKey(join(this.init.dataDir, 'identity.key'))
    this.node = await createNode({ privateKey: this.identity })
    if (this.init.catalog) {
      const device = this.components.device ?? (await detectDevice([]))
      const { dataDir, catalogPullTimeoutMs: pullTimeoutMs, catalogWaitMs: waitMs } = this.init
      const found = await catalogPlugins(
        { dataDir, device, local: plugins, pullTimeoutMs, waitMs },
        { node: this.node, oracle: () => this.resolveOracle(), docker: docker?.docker, log: this.log.child({ module: 'catalog' }), signal: this.stopping.signal },
      )
      plugins.push(...found)
    }
    this.host = new PluginHost(
      { plugins, ...(this.init.pluginConfig === undefined ? {} : { config: this.init.pluginConfig }) },
      { runtimes: { process: runtime, ...(docker === undefined ? {} : { docker }) } },
    )
    this.device = this.components.device ?? (await detectDevice(this.host.offered()))
    this.costModels = await this.describePlugins(this.host)
    this.listenForPGas(this.node)
    if (this.init.metricsPort !== undefined) this.metricsPort = await this.metrics.listen(this.init.metricsHost, this.init.metricsPort)
    this.log.info({ prover: this.init.proverId, peerId: this.node.peerId.toString(), plugins: this.host.offered(), metricsPort: this.metricsPort }, 'agent started')
    this.loop = this.connectLoop()
  }

  async stop(): Promise<void> {
    this.stopping.abort()
    for (const r of this.running.values()) r.abort.abort()
    this.framed?.abort('agent stopping')
    await this.loop
    await this.host?.close()
    await this.node?.stop()
    await this.metrics.close()
  }

  get peerId(): string | undefined {
    return this.node?.peerId.toString()
  }

  /** Asks each offered plugin for its cost model; a plugin that cannot say is offered unpriced. */
  private async describePlugins(host: PluginHost): Promise<typeof this.costModels> {
    const models: typeof this.costModels = []
    for (const plugin of host.offered()) {
      try {
        const info = await host.describe(plugin, AbortSignal.any([this.stopping.signal, AbortSignal.timeout(30_000)]))
        if (info.gas !== undefined) models.push({ plugin, model: info.gas })
        else this.log.info({ plugin }, 'plugin has no cost model: its ops are settled at 0 gas')
      } catch (err) {
        this.log.warn({ plugin, err: GalacticError.from(err).message }, 'describe failed: no cost model sent for this plugin')
      }
    }
    return models
  }

  /** P_gas announcements on gossipsub, taken only from the oracle this agent is registered with. */
  private listenForPGas(node: GalacticNode): void {
    node.services.pubsub.subscribe(PGAS_TOPIC)
    node.services.pubsub.addEventListener('message', (event) => {
      const msg = event.detail
      if (msg.topic !== PGAS_TOPIC || msg.type !== 'signed' || this.oraclePeer === undefined || !msg.from.equals(this.oraclePeer)) return
      let parsed: ReturnType<typeof PGasAnnouncement.safeParse>
      try {
        parsed = PGasAnnouncement.safeParse(JSON.parse(new TextDecoder().decode(msg.data)))
      } catch {
        return
      }
      if (!parsed.success) {
        this.log.warn({ issues: parsed.error.issues.length }, 'P_gas announcement refused: not a PGasAnnouncement')
        return
      }
      this.pGas = parsed.data
      this.metrics.pGas.set(Number(parsed.data.pGas))
      this.log.debug({ pGas: parsed.data.pGas, epoch: parsed.data.epoch }, 'P_gas announced')
    })
  }

  private async connectLoop(): Promise<void> {
    let backoff = 100
    while (!this.stopping.signal.aborted) {
      try {
        await this.session(() => {
          backoff = 100
        })
      } catch (err) {
        if (this.stopping.signal.aborted) break
        const error = GalacticError.from(err)
        this.log.warn({ code: error.code, err: error.message }, 'no session with the oracle; retrying')
      }
      await sleep(backoff, this.stopping.signal)
      backoff = Math.min(backoff * 2, this.init.maxBackoffMs)
    }
  }

  /** One session with the oracle: dial, register, then serve until the stream ends. */
  private async session(onRegistered: () => void): Promise<void> {
    const node = this.node as GalacticNode
    const target = await this.resolveOracle()
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(10_000)])
    const connection = await node.dial(target, { signal })
    const stream = await connection.newStream(AGENT_PROTOCOL, { signal })
    const framed = new FramedStream<OracleMessage, AgentMessage>(stream, OracleMessage, 'oracle message')
    // Two keys: the libp2p peer id (noise) and an Ethereum key in <dataDir>/eth.key that signs who we are.
    const ethKey = await this.ethKey()
    await framed.send({
      type: 'register',
      proverId: this.init.proverId,
      device: this.device as DeviceDescriptor,
      agentVersion: AGENT_VERSION,
      slots: this.init.slots,
      running: this.runningRefs(),
      ...(this.costModels.length === 0 ? {} : { costModels: this.costModels }),
      ...(this.init.gasPerSecond === undefined ? {} : { gasPerSecond: this.init.gasPerSecond }),
      ...(await signRegistration(ethKey, { proverId: this.init.proverId, peerId: node.peerId.toString() })),
    })
    const first = await framed.read({ signal: AbortSignal.timeout(10_000) })
    if (first.type === 'error') throw GalacticError.fromObject(first.error)
    if (first.type !== 'registered') throw new GalacticError('PROTOCOL_ERROR', `expected registered, got ${first.type}`)
    this.framed = framed
    this.oraclePeer = connection.remotePeer
    onRegistered()
    this.registeredOnce?.()
    this.log.info({ prover: this.init.proverId }, 'registered with the oracle')
    const heartbeat = setInterval(() => {
      framed.send({ type: 'heartbeat', running: this.runningRefs() }).catch(() => {})
      // A result whose upload or send failed (the oracle's disk was full) is tried again.
      if (this.outbox.size > 0) void this.flushOutbox()
    }, first.heartbeatIntervalMs)
    try {
      void this.flushOutbox()
      for (;;) {
        const msg = await framed.read()
        switch (msg.type) {
          case 'task.assign':
            this.onAssign(msg.task)
            break
          case 'task.cancel': {
            const r = this.running.get(taskKey(msg))
            if (r !== undefined) {
              this.log.info({ task: taskKey(msg), reason: msg.reason }, 'task cancelled by the oracle')
              r.abort.abort()
            }
            break
          }
          case 'result.ack':
            this.outbox.delete(taskKey(msg))
            break
          case 'error':
            this.log.warn({ code: msg.error.code, err: msg.error.message }, 'oracle reported an error')
            if (msg.fatal) throw GalacticError.fromObject(msg.error)
            break
          case 'registered':
            break
        }
      }
    } finally {
      clearInterval(heartbeat)
      if (this.framed === framed) this.framed = undefined
      framed.abort('session over')
    }
  }

  private ethKeyLoaded: Promise<Wallet> | undefined
  /** The prover's Ethereum key, loaded (or made) once from <dataDir>/eth.key. */
  private ethKey(): Promise<Wallet> {
    this.ethKeyLoaded ??= loadOrCreateEthKey(join(this.init.dataDir, 'eth.key'))
    return this.ethKeyLoaded
  }

  private async resolveOracle(): Promise<Multiaddr> {
    const oracle = this.init.oracle
    if (!/^wss?:\/\//.test(oracle)) return multiaddr(oracle)
    const client = new GalacticClient({ url: oracle, requestTimeoutMs: 5_000 })
    try {
      const info = await client.info({ signal: this.stopping.signal })
      const first = info.multiaddrs[0]
      if (first === undefined) throw new GalacticError('CONNECTION_CLOSED', 'the oracle announced no libp2p address')
      return multiaddr(first)
    } finally {
      client.close()
    }
  }

  private runningRefs(): TaskRef[] {
    return [...this.running.values()].map((r) => r.ref)
  }

  private onAssign(task: Task): void {
    const key = taskKey(task)
    if (this.running.has(key)) return // re-delivery of a task we are running
    const done = this.outbox.get(key)
    if (done !== undefined) {
      done.sentOn = undefined // re-delivery of a task we finished: send the result again
      void this.flushOutbox()
      return
    }
    void this.runTask(task)
  }

  private async runTask(task: Task): Promise<void> {
    const key = taskKey(task)
    const ref: TaskRef = { graphId: task.graphId, opId: task.opId, attempt: task.attempt }
    // One controller per task, aborted by a cancel from the oracle, by stop() (which aborts every
    // running task's) or by the task's own timer: cheaper than AbortSignal.any of three signals.
    const abort = new AbortController()
    let timedOut: GalacticError | undefined
    const timer = setTimeout(() => {
      timedOut = new GalacticError('TIMEOUT', `task ran past its ${task.timeoutMs} ms timeout`)
      abort.abort(timedOut)
    }, task.timeoutMs)
    if (this.stopping.signal.aborted) abort.abort()
    const signal = abort.signal
    this.running.set(key, { ref, abort })
    // Info lines (start, success) only where they are printed: a child logger per task costs.
    const log = this.log.isLevelEnabled('info') ? this.log.child({ task: key, op: task.name }) : undefined
    log?.info('task started')
    this.framed?.send({ type: 'task.started', ...ref }).catch(() => {})
    const started = performance.now()
    let pending: Pending
    try {
      const inputs = []
      for (const input of task.inputs) {
        for (const out of input.outputs) {
          // Small inputs come inline with the task (checked against their hash); large ones are fetched.
          const data = out.data !== undefined ? checkedInline(out) : Buffer.from(await this.fetchInput(out.hash, out.providers, signal)).toString('base64')
          inputs.push({ opId: input.opId, name: out.name, hash: out.hash, data })
        }
      }
      const result = await (this.host as PluginHost).run(task.plugin, task.pluginMode, { taskId: key, op: task.name, params: task.params, inputs }, signal, launchOptions(task))
      const blobs = new Map<ContentHash, Uint8Array>()
      const outputs: ProducedOutput[] = result.outputs.map((out) => {
        const bytes = new Uint8Array(Buffer.from(out.data, 'base64'))
        const hash = contentHash(bytes)
        // Small outputs go inside the result; large ones are uploaded before it.
        if (bytes.byteLength <= LIMITS.inlineBlobBytes) return { name: out.name, hash, size: bytes.byteLength, data: Buffer.from(bytes).toString('base64') }
        blobs.set(hash, bytes)
        return { name: out.name, hash, size: bytes.byteLength }
      })
      pending = { ref, outcome: { ok: true, outputs }, blobs }
      log?.info({ ms: Math.round(performance.now() - started) }, 'task succeeded')
      this.metrics.tasks.inc({ op: task.name, outcome: 'succeeded' })
    } catch (err) {
      const error = timedOut ?? GalacticError.from(err, 'PLUGIN_FAILED')
      pending = { ref, outcome: { ok: false, error: error.toObject() }, blobs: new Map() }
      const failLog = log ?? this.log.child({ task: key, op: task.name })
      failLog.warn({ code: error.code, err: error.message }, 'task failed')
      this.metrics.tasks.inc({ op: task.name, outcome: 'failed' })
    } finally {
      clearTimeout(timer)
      this.running.delete(key)
      this.metrics.taskSeconds.observe({ op: task.name }, (performance.now() - started) / 1000)
    }
    // Stopping, or cancelled by the oracle (it gave the op to someone else): nobody wants the result.
    if (this.stopping.signal.aborted || (abort.signal.aborted && timedOut === undefined)) return
    this.outbox.set(key, pending)
    await this.flushOutbox()
  }

  private async fetchInput(hash: ContentHash, providers: string[], signal: AbortSignal): Promise<Uint8Array> {
    const node = this.node as GalacticNode
    let lastError: unknown
    const peers: PeerId[] = []
    for (const p of providers) {
      try {
        peers.push(peerIdFromString(p))
      } catch {
        // not a peer id: skip it
      }
    }
    if (this.oraclePeer !== undefined && !peers.some((p) => p.equals(this.oraclePeer))) peers.push(this.oraclePeer)
    // Providers that cannot be reached (the oracle restarting) are asked again, with backoff, until
    // the task's deadline or a cancel: an input that is only late is not this prover's failure.
    for (let backoff = 100; ; backoff = Math.min(backoff * 2, 2_000)) {
      for (const peer of peers) {
        try {
          const bytes = await fetchBlob(node, peer, hash, { signal })
          this.metrics.blobBytes.inc({ direction: 'in' }, bytes.byteLength)
          return bytes
        } catch (err) {
          lastError = err
        }
      }
      if (signal.aborted || !GalacticError.is(lastError, 'CONNECTION_CLOSED')) break
      await sleep(backoff, signal)
    }
    throw new GalacticError('CONNECTION_CLOSED', `no provider served input ${hash}`, { hash }, { cause: lastError })
  }

  /** Uploads outputs and sends every unacknowledged result; what fails stays for the next session. */
  private flushing: Promise<void> | undefined
  private flushAgain = false
  private async flushOutbox(): Promise<void> {
    if (this.flushing !== undefined) {
      this.flushAgain = true
      return this.flushing
    }
    const flush = async (): Promise<void> => {
      do {
        this.flushAgain = false
        const framed = this.framed
        const peer = this.oraclePeer
        if (framed === undefined || peer === undefined) return
        // Every result not yet sent on this session goes in one message under one signature
        // (results finishing meanwhile go in the next), after its large outputs are uploaded.
        const batch: Pending[] = []
        for (const [key, pending] of [...this.outbox]) {
          if (pending.sentOn === framed || batch.length === LIMITS.maxResultsPerMessage) continue
          try {
            for (const [hash, bytes] of pending.blobs) {
              await pushBlob(this.node as GalacticNode, peer, bytes, { signal: AbortSignal.timeout(60_000) })
              pending.blobs.delete(hash) // uploaded: the oracle holds it now
              this.metrics.blobBytes.inc({ direction: 'out' }, bytes.byteLength)
            }
          } catch (err) {
            this.log.warn({ task: key, err: (err as Error).message }, 'result not delivered yet; will retry')
            break
          }
          batch.push(pending)
        }
        if (batch.length === 0) return
        if (batch.length < [...this.outbox.values()].filter((p) => p.sentOn !== framed).length) this.flushAgain = true
        try {
          const results = batch.map((p) => ({ ...p.ref, outcome: p.outcome }))
          // Signed by this prover's identity key (bound to its address by the registration): the
          // oracle keeps it as evidence for bans and payments.
          const signature = await signResults(this.identity as PrivateKey, results.map(signedResult))
          await framed.send({ type: 'task.results', results, signature })
          for (const p of batch) p.sentOn = framed
        } catch (err) {
          this.log.warn({ results: batch.length, err: (err as Error).message }, 'results not delivered yet; will retry')
          return
        }
      } while (this.flushAgain)
    }
    // Cleared in .finally, which runs after the assignment even when flush() finishes synchronously.
    this.flushing = flush().finally(() => {
      this.flushing = undefined
    })
    return this.flushing
  }
}

/** An inline input's bytes (base64), once they are known to be what the task names. */
function checkedInline(input: TaskInput): string {
  const bytes = Buffer.from(input.data ?? '', 'base64')
  if (bytes.byteLength !== input.size || contentHash(bytes) !== input.hash) {
    throw new GalacticError('PROTOCOL_ERROR', `input ${input.name}: inline bytes do not match ${input.hash} (${input.size} bytes)`)
  }
  return input.data as string
}

/** Container limits from the op's requirements (efficiency mode; a resident plugin keeps its own). */
function launchOptions(task: Task): PluginLaunchOptions {
  const resources: NonNullable<PluginLaunchOptions['resources']> = {}
  if (task.requirements.cpu?.minCores !== undefined) resources.cpuCores = task.requirements.cpu.minCores
  if (task.requirements.minMemoryMiB !== undefined) resources.memoryMiB = task.requirements.minMemoryMiB
  return { resources }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    }, { once: true })
  })
}
