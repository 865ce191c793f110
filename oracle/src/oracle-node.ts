import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino, type Logger } from 'pino'
import {
  createNode,
  FileBlobStore,
  type BlobStore,
  handleBlobStream,
  loadOrCreateKey,
  type GalacticNode,
} from '@galactic/net'
import {
  AGENT_PROTOCOL,
  BLOB_PROTOCOL,
  contentHash,
  GalacticError,
  LIMITS,
  PGAS_TOPIC,
  parseGraph,
  type AgentMessage,
  type CostModel,
  type Graph,
  type SubmitAuth,
  type ProducedOutput,
  type TaskOutcome,
  type TaskRef,
} from '@galactic/schemas'
import { AgentServer, type AgentSession } from './agent-server.js'
import { Scheduler, type Clock, type Snapshot, type Step } from './core/index.js'
import { Journal, type JournalEntry, type PricingChange } from './journal/index.js'
import { resolveOracleInit, type OracleInit, type ResolvedOracleInit } from './options.js'
import { serveDashboard } from './dashboard/index.js'
import { countingBlobStore, OracleMetrics } from './metrics.js'
import { RpcServer, type RpcHandlers } from './rpc-server.js'
import { ResultVerifier } from './verifier.js'
import { OracleBlobs } from './blobs.js'
import { CATALOG_PROTOCOL, CatalogFile, handleCatalogStream } from './catalog/index.js'
import { OracleSecurity } from './security/index.js'
import { ChainPGasSource, OraclePricing, type PricingProbe } from './pricing/index.js'
import { gasModels, loadGasTable } from './pricing/gas-models.js'

export const ORACLE_VERSION = '0.1.0'

/** A Step waiting for the end of the event-loop turn to be committed (OracleNode.run). */
interface PendingStep extends StepExtras {
  step: Step
  pricing: PricingChange[]
  resolve: () => void
  reject: (error: GalacticError) => void
}

/** What a Step may carry besides its pricing records (OracleNode.run). */
interface StepExtras {
  /** Runs after the commit, before the Step's actions. */
  before?: () => void
  /** Inline outputs accepted by the Step, written in its transaction. */
  blobs?: JournalEntry['blobs']
  /** Runs once the batch is committed or refused. */
  release?: () => void
}

export interface OracleComponents {
  /** @default a silent logger */
  log?: Logger
  /** @default the system clock */
  clock?: Clock
}

/**
 * The oracle: the pure scheduler in the middle, the SQLite journal under it, and two
 * transports around it (WebSocket for requesters, libp2p for agents). Every input
 * becomes one scheduler call; its Step is committed to the journal, and only then are
 * its messages sent and its events published. So a crash at any moment loses nothing
 * that was acted on, and a restart resumes from the journal.
 */
export class OracleNode {
  readonly init: ResolvedOracleInit
  private readonly log: Logger
  private readonly clock: Clock
  private journal: Journal | undefined
  private scheduler: Scheduler | undefined
  private p2p: GalacticNode | undefined
  private rpc: RpcServer | undefined
  private http: Server | undefined
  /** Prometheus metrics, served at GET /metrics. */
  readonly metrics: OracleMetrics
  private ticker: NodeJS.Timeout | undefined
  private readonly blobs: BlobStore
  /** The same blobs, with the inline ones' staging (blobs.ts). */
  private readonly store: OracleBlobs
  private readonly sessions = new Map<string, AgentSession>()
  private verifier: ResultVerifier | undefined
  /** Signatures, allowlist and evidence (docs/security.md). */
  private security: OracleSecurity | undefined
  /** Set when the journal could not be re-read after a failed write: every call answers it. */
  private broken: GalacticError | undefined
  /** Gas, P_gas and the ledger (docs/pricing.md). */
  private pricing: OraclePricing | undefined
  private epochTimer: NodeJS.Timeout | undefined
  private chainSource: ChainPGasSource | undefined
  /** Steps made in this event-loop turn, committed together at its end (see run). */
  private pendingSteps: PendingStep[] = []

  constructor(init: OracleInit, components: OracleComponents = {}) {
    this.init = resolveOracleInit(init)
    this.log = components.log ?? pino({ level: 'silent' })
    this.clock = components.clock ?? { now: () => Date.now() }
    this.metrics = new OracleMetrics(() => this.scheduler)
    this.store = new OracleBlobs(new FileBlobStore(this.init.blobDir), () => this.journal, (direction, bytes) => this.metrics.blobBytes.inc({ direction }, bytes))
    this.blobs = countingBlobStore(this.store, this.metrics.blobBytes)
  }

  async start(): Promise<void> {
    const init = this.init
    this.journal = Journal.open({ path: init.journalPath, sync: init.journalSync, syncIntervalMs: init.journalSyncIntervalMs })
    const security = new OracleSecurity(init, { clock: this.clock })
    this.security = security
    const snapshot = this.journal.load()
    this.scheduler = this.newScheduler(snapshot)
    this.log.info({ graphs: snapshot.graphs.length, ops: snapshot.ops.length, provers: snapshot.provers.length }, 'journal loaded')
    this.pricing = this.startPricing()
    // P_gas from a contract: read it once before serving, or until the first epoch ends graphs
    // would be priced at the initial (or last journaled) P_gas, which the contract never set.
    if (this.chainSource !== undefined) await this.epoch()

    this.verifier = new ResultVerifier({ plugins: init.verifyPlugins, mode: init.verifyMode }, { blobs: this.blobs, log: this.log.child({ module: 'verifier' }) })
    this.log.info({ mode: init.verifyMode, plugins: this.verifier.plugins() }, 'result verification')

    const agents = new AgentServer({ security, rateLimit: init.agentRateLimit }, {
      register: (msg, peerId, session) => this.onRegister(msg, peerId, session),
      heartbeat: (proverId, running) => this.runLogged(this.core.heartbeat(proverId, running)),
      started: (proverId, ref) => this.runLogged(this.core.taskStarted(proverId, ref)),
      result: (proverId, ref, outcome) => this.onResult(proverId, ref, outcome),
      disconnected: (proverId, session) => {
        if (this.sessions.get(proverId) !== session) return
        this.sessions.delete(proverId)
        this.runLogged(this.core.disconnected(proverId))
        this.log.info({ prover: proverId }, 'prover disconnected')
      },
    }, this.log.child({ module: 'agents' }))

    this.p2p = await createNode({
      privateKey: await loadOrCreateKey(init.keyPath),
      listen: [`/ip4/${init.host}/tcp/${init.p2pPort}`],
    })
    await this.p2p.handle(AGENT_PROTOCOL, (stream, connection) => agents.handle(stream, connection), { maxInboundStreams: 4096 })
    await this.p2p.handle(BLOB_PROTOCOL, (stream) => handleBlobStream(stream, this.blobs, { acceptPuts: true }), { maxInboundStreams: 4096 })
    // The plugin catalog (`galactic plugin publish`), re-read from disk when it changes.
    const catalog = new CatalogFile(init.catalogPath)
    const catalogLog = this.log.child({ module: 'catalog' })
    await this.p2p.handle(CATALOG_PROTOCOL, (stream) => handleCatalogStream(stream, catalog, catalogLog), { maxInboundStreams: 256 })

    this.rpc = new RpcServer({ maxMessageBytes: LIMITS.maxMessageBytes, rateLimit: init.rpcRateLimit, allowedOrigins: init.allowedOrigins }, this.rpcHandlers(), this.log.child({ module: 'rpc' }))
    this.http = createServer((req, res) => this.onHttp(req, res))
    this.rpc.attach(this.http)
    await new Promise<void>((resolve, reject) => {
      this.http?.once('error', reject)
      this.http?.listen(init.wsPort, init.host, () => resolve())
    })

    this.ticker = setInterval(() => {
      try {
        this.runLogged(this.core.tick())
      } catch (err) {
        this.log.error({ err }, 'tick failed')
      }
    }, init.tickIntervalMs)
    this.ticker.unref()
    this.scheduleEpoch()
    this.log.info({ ws: this.wsUrl, p2p: this.multiaddrs }, 'oracle started')
  }

  /** The requester protocol's methods: each a thin call into the core or the blob store. */
  private rpcHandlers(): RpcHandlers {
    return {
      'oracle.info': () => ({ version: ORACLE_VERSION, peerId: this.peerId, multiaddrs: this.multiaddrs }),
      'graph.submit': ({ graph, auth }) => this.submit(graph, auth),
      'graph.status': ({ graphId }) => this.status(graphId),
      'graph.list': ({ limit }) => ({ graphs: this.core.graphSummaries(limit) }),
      'graph.subscribe': ({ graphId, ops }, ctx) => {
        const status = this.status(graphId)
        return { subscriptionId: ctx.subscribe(graphId, ops), status }
      },
      'graph.unsubscribe': ({ subscriptionId }, ctx) => {
        if (!ctx.unsubscribe(subscriptionId)) throw new GalacticError('NOT_FOUND', `no subscription ${subscriptionId} on this connection`)
        return {}
      },
      'graph.explain': ({ graphId, opId }) => {
        const why = this.core.explain(graphId, opId)
        if (why === undefined) throw new GalacticError('NOT_FOUND', `no op ${opId} in graph ${graphId}`, { graphId, opId })
        return {
          graphId,
          opId,
          state: why.state,
          rejections: why.rejections.map((r) => ({ plugin: r.filter, count: r.count, reasons: r.reasons })),
          relaxed: why.relaxed ?? [],
          feasible: why.feasible ?? 0,
          wanted: why.wanted ?? 0,
          ranking: why.ranking ?? [],
        }
      },
      'prover.list': () => ({
        provers: this.core.provers().map((p) => {
          const state = this.core.proverState(p.proverId)
          return {
            proverId: p.proverId,
            peerId: p.peerId,
            device: p.device,
            slots: p.slots,
            state: p.state,
            connected: p.connected,
            running: p.running,
            registeredAt: p.registeredAt,
            lastSeenAt: p.lastSeenAt,
            ban: {
              consecutiveFailures: state?.consecutiveFailures ?? 0,
              banned: state?.banned ?? false,
              permanent: state?.permanent ?? false,
              bannedUntil: state?.bannedUntil ?? null,
            },
            speedMs: state?.speedMs ?? {},
            gas: this.proverGas(p.proverId),
          }
        }),
      }),
      'gas.quote': ({ graph }) => this.prices.book.quote(parseGraph(graph)),
      'pgas.get': ({ history }) => ({
        current: this.prices.book.current,
        epochMs: this.init.pricing.epochMs,
        history: history === 0 ? [] : this.db.pgasHistory(history),
      }),
      // Every model in the book compiled, so it is a valid CostModel.
      'gas.models': () => ({ models: this.prices.book.listModels().map((m) => ({ ...m, model: m.model as CostModel })) }),
      'ledger.balances': ({ account }) => {
        const balances = this.db.balances(account)
        const sum = (role: string): string => balances.filter((b) => b.role === role).reduce((t, b) => t + BigInt(b.amount), 0n).toString()
        return { balances, charged: sum('requester'), paid: sum('prover') }
      },
      'ledger.entries': ({ graphId, account, limit }) => ({
        entries: this.db.ledger({ limit, ...(graphId === undefined ? {} : { graphId }), ...(account === undefined ? {} : { account }) }),
      }),
      'blob.get': async ({ hash }) => {
        const bytes = await this.blobs.get(hash)
        if (bytes === undefined) throw new GalacticError('NOT_FOUND', `no blob ${hash}`)
        return { hash, size: bytes.byteLength, data: Buffer.from(bytes).toString('base64') }
      },
    }
  }

  /** HTTP on the WebSocket port: /metrics, the dashboard, /healthz. */
  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && req.url === '/metrics') {
      this.metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      )
    } else if (serveDashboard(req, res)) {
      // the dashboard's page and assets
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: WebSocket JSON-RPC on any path, GET /metrics, GET /healthz\n')
    }
  }

  async stop(): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker)
    this.ticker = undefined
    if (this.epochTimer !== undefined) clearTimeout(this.epochTimer)
    this.epochTimer = undefined
    this.chainSource?.close()
    this.chainSource = undefined
    this.flushSteps()
    for (const session of this.sessions.values()) session.close('oracle stopping')
    this.sessions.clear()
    await this.rpc?.stop()
    this.http?.closeAllConnections()
    await new Promise<void>((resolve) => (this.http === undefined ? resolve() : this.http.close(() => resolve())))
    this.http = undefined
    await this.p2p?.stop()
    await this.verifier?.close()
    this.journal?.close()
    this.security?.close()
    this.security = undefined
    this.verifier = undefined
    this.rpc = undefined
    this.p2p = undefined
    this.journal = undefined
    this.scheduler = undefined
    this.pricing = undefined
  }

  get peerId(): string {
    if (this.p2p === undefined) throw new GalacticError('INTERNAL', 'oracle not started')
    return this.p2p.peerId.toString()
  }

  /** Addresses agents dial, each ending in /p2p/<peer id>. */
  get multiaddrs(): string[] {
    return (this.p2p?.getMultiaddrs() ?? []).map((ma) => ma.toString())
  }

  get wsUrl(): string {
    const addr = this.http?.address() as AddressInfo | null | undefined
    return `ws://${this.init.host}:${addr?.port ?? this.init.wsPort}`
  }

  private get core(): Scheduler {
    if (this.scheduler === undefined) throw this.broken ?? new GalacticError('INTERNAL', 'oracle not started')
    return this.scheduler
  }

  /** The scheduler over a journal snapshot: at start, and again after a failed commit. */
  private newScheduler(snapshot: Snapshot): Scheduler {
    const init = this.init
    return new Scheduler(
      {
        heartbeatIntervalMs: init.heartbeatIntervalMs,
        livenessTimeoutMs: init.livenessTimeoutMs,
        maxAttempts: init.maxAttempts,
        banBaseMs: init.banBaseMs,
        defaultRedundancy: init.defaultRedundancy,
        highPenaltyThreshold: init.highPenaltyThreshold,
        highPenaltyProvers: init.highPenaltyProvers,
      },
      { clock: this.clock, metrics: this.metrics.schedulerHook, hrtime: process.hrtime.bigint },
      snapshot,
    )
  }

  /**
   * The journal refused a commit (disk full, I/O error). The scheduler (and pricing) already
   * applied the Step in memory, so memory is ahead of disk: both are rebuilt from the journal, as
   * start() does, and every agent session is closed, so agents register again (naming the tasks
   * they run) and send their unacknowledged results again, as after a restart. Nothing of the
   * refused Step was sent or published. Returns the error for the caller (the requester, the agent).
   */
  private storageFailed(err: unknown): GalacticError {
    const cause = GalacticError.from(err, 'STORAGE_ERROR')
    const dataDir = this.init.dataDir
    const full = cause.code === 'STORAGE_FULL'
    const error = new GalacticError(
      full ? 'STORAGE_FULL' : 'STORAGE_ERROR',
      full
        ? `the oracle's data directory ${dataDir} is full: this request was not accepted and nothing of it was kept; free space there and retry (no restart needed)`
        : `the oracle could not write its journal in ${dataDir}: this request was not accepted and nothing of it was kept (${cause.message})`,
      { ...cause.details, dataDir },
      { cause: err },
    )
    this.log.error({ code: error.code, err: cause.message, dataDir }, 'journal write failed: rebuilding the scheduler from the journal')
    try {
      const snapshot = (this.journal as Journal).load()
      this.scheduler = this.newScheduler(snapshot)
      this.pricing = this.startPricing()
    } catch (loadErr) {
      // Memory cannot be trusted and the journal cannot be read: refuse everything until a restart.
      this.scheduler = undefined
      this.broken = new GalacticError('STORAGE_ERROR', `the oracle cannot re-read its journal in ${dataDir} after a failed write; restart it`, { dataDir }, { cause: loadErr })
      this.log.fatal({ err: loadErr }, 'journal unreadable after a failed write')
    }
    for (const session of this.sessions.values()) session.close('the oracle rebuilt its state after a failed journal write: register again')
    this.sessions.clear()
    return error
  }

  private get prices(): OraclePricing {
    if (this.pricing === undefined) throw new GalacticError('INTERNAL', 'oracle not started')
    return this.pricing
  }

  private get db(): Journal {
    if (this.journal === undefined) throw new GalacticError('INTERNAL', 'oracle not started')
    return this.journal
  }

  /**
   * Commit, then act: the one place where a Step leaves the core. `pricing` records (a graph's
   * locked price, ledger lines, cost models) go into the same transaction as the Step.
   *
   * A group commit: every Step made in one event-loop turn (a burst of agent messages, a tick) is
   * written in one transaction at the end of the turn, then each is acted on in order (`before`
   * first, if given). The promise resolves once acted on, and rejects with storageFailed's error
   * when the journal refuses the write; nothing of a refused batch is sent.
   */
  private run(step: Step, pricing: PricingChange[] = [], extras: StepExtras = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pendingSteps.length === 0) setImmediate(() => this.flushSteps())
      this.pendingSteps.push({ step, pricing, ...extras, resolve, reject })
    })
  }

  /** run() for callers with nobody to answer: a refused write is logged by storageFailed. */
  private runLogged(step: Step, pricing: PricingChange[] = [], extras: StepExtras = {}): void {
    this.run(step, pricing, extras).catch(() => {})
  }

  /** Commits the Steps waiting since the turn began (one transaction), then acts on them. */
  private flushSteps(): void {
    const batch = this.pendingSteps
    if (batch.length === 0) return
    this.pendingSteps = []
    try {
      if (this.journal === undefined) throw new GalacticError('INTERNAL', 'oracle stopped')
      this.journal.applyAll(batch.map((b): JournalEntry => ({ changes: b.step.changes, pricing: b.pricing, ...(b.blobs === undefined ? {} : { blobs: b.blobs }) })))
    } catch (err) {
      const error = GalacticError.is(err, 'INTERNAL') ? err : this.storageFailed(err)
      for (const b of batch) b.reject(error)
      return
    } finally {
      // Committed (the journal serves the inline blobs from now on) or refused: unstage them.
      for (const b of batch) b.release?.()
    }
    for (const b of batch) {
      try {
        b.before?.()
        this.act(b.step)
        b.resolve()
      } catch (err) {
        b.reject(GalacticError.from(err))
      }
    }
  }

  /** Sends a committed Step's messages and publishes its events. */
  private act(step: Step): void {
    this.metrics.observe(step)
    for (const action of step.actions) {
      const session = this.sessions.get(action.proverId)
      if (session === undefined) continue
      switch (action.type) {
        case 'assign':
          this.log.debug({ prover: action.proverId, op: action.task.opId, attempt: action.task.attempt }, 'op assigned')
          session.send({ type: 'task.assign', task: this.store.inline(action.task) })
          break
        case 'cancel':
          session.send({ type: 'task.cancel', ...action.ref, reason: action.reason })
          break
        case 'ack':
          session.send({ type: 'result.ack', ...action.ref })
          break
      }
    }
    for (const event of step.events) this.rpc?.publish(event)
  }

  private async submit(input: unknown, auth: SubmitAuth | undefined): Promise<{ graphId: string; created: boolean }> {
    const graph = parseGraph(input)
    this.security?.checkSubmission(graph, auth)
    const graphId = `g_${createHash('sha256').update(`${graph.requester}\n${graph.nonce}`).digest('hex').slice(0, 24)}`
    const specHash = contentHash(new TextEncoder().encode(JSON.stringify(graph)))
    // Priced before it is accepted: a graph above its maxPrice is refused whole (PRICE_LIMIT).
    if (!this.core.hasGraph(graphId)) this.prices.check(graph)
    const { step, created } = this.core.submit(graphId, specHash, graph)
    await this.run(step, created ? this.prices.onSubmit(graphId, graph) : [])
    if (created) this.log.info({ graphId, ops: graph.ops.length, requester: graph.requester }, 'graph accepted')
    return { graphId, created }
  }

  private status(graphId: string) {
    const status = this.core.graphStatus(graphId)
    if (status === undefined) throw new GalacticError('NOT_FOUND', `no graph ${graphId}`, { graphId })
    return status
  }

  private async onRegister(msg: Extract<AgentMessage, { type: 'register' }>, peerId: string, session: AgentSession): Promise<void> {
    const step = this.core.registerProver({ proverId: msg.proverId, peerId, device: msg.device, slots: msg.slots, running: msg.running })
    const pricing = this.prices.onRegister(msg.proverId, msg.costModels ?? [], msg.gasPerSecond, this.clock.now())
    // Journaled before the agent hears it is registered: a registration the journal refuses is refused.
    await this.run(step, pricing, { before: () => {
      const previous = this.sessions.get(msg.proverId)
      if (previous !== undefined && previous !== session) previous.close('replaced by a new registration')
      this.sessions.set(msg.proverId, session)
      session.send({
        type: 'registered',
        proverId: msg.proverId,
        heartbeatIntervalMs: this.init.heartbeatIntervalMs,
        livenessTimeoutMs: this.init.livenessTimeoutMs,
      })
    } })
  }

  private async onResult(proverId: string, ref: TaskRef, received: TaskOutcome): Promise<void> {
    if (!received.ok) {
      this.runLogged(this.core.taskResult(proverId, ref, received, [this.peerId]))
      return
    }
    // Small outputs came with the result: checked, and staged until the result is committed.
    let inline: ReturnType<OracleBlobs['stage']>
    try {
      inline = this.store.stage(received.outputs)
    } catch (err) {
      this.runLogged(this.core.taskResult(proverId, ref, { ok: false, error: GalacticError.from(err).toObject() }, [this.peerId]))
      return
    }
    try {
      const outcome: TaskOutcome = { ok: true, outputs: received.outputs.map(({ data: _data, ...out }) => out) }
      const checked = await this.checkOutputs(proverId, ref, received.outputs, outcome.outputs)
      const step = this.core.taskResult(proverId, ref, checked ?? outcome, [this.peerId])
      // Not awaited: the next result of this agent is taken in the same turn and committed with it.
      // A refused write closes every session (storageFailed), and the agent sends its result again.
      if (checked !== undefined) {
        this.runLogged(step, [], { release: inline.release })
      } else {
        const pricing = this.prices.onResult(step, proverId, (graphId) => this.core.requesterOf(graphId))
        this.runLogged(step, pricing, { blobs: inline.blobs, release: inline.release })
      }
    } catch (err) {
      inline.release()
      throw err
    }
  }

  /**
   * A successful result's outputs, checked before they count: each uploaded (or inline), and
   * accepted by the plugin's verify when the oracle runs it. Undefined when they pass, else the
   * failed outcome to record: a prover returning garbage can never make a graph succeed.
   */
  private async checkOutputs(proverId: string, ref: TaskRef, received: ProducedOutput[], outputs: ProducedOutput[]): Promise<TaskOutcome | undefined> {
    for (const out of received) {
      if (out.data === undefined && !(await this.blobs.has(out.hash))) {
        return { ok: false, error: { code: 'PROTOCOL_ERROR', message: `output ${out.name} (${out.hash}) was not uploaded before the result` } }
      }
    }
    const task = this.core.taskFor(ref.graphId, ref.opId)
    if (task === undefined || this.verifier === undefined) return undefined
    const refused = await this.verifier.check(task, outputs)
    if (refused === undefined) return undefined
    this.log.warn({ prover: proverId, op: ref.opId, graphId: ref.graphId, err: refused.message }, 'result refused by verification')
    this.metrics.resultsRefused.inc()
    return { ok: false, error: refused }
  }

  private proverGas(proverId: string): { claimedPerSec: number | null; observedPerSec: number | null; doubted: boolean } {
    const s = this.prices.book.speed(proverId, this.init.pricing.speedDoubtFactor)
    return { claimedPerSec: s.claimed ?? null, observedPerSec: s.observed ?? null, doubted: s.doubted }
  }

  /** Pricing from the journal, the gas table and the config (docs/pricing.md). */
  private startPricing(): OraclePricing {
    const init = this.init
    const p = init.pricing
    const log = this.log.child({ module: 'pricing' })
    const table = loadGasTable(p.gasTablePath)
    this.chainSource?.close()
    const chain = p.chain === null ? undefined : new ChainPGasSource({ rpcUrl: p.chain.rpcUrl, address: p.chain.address }, { log })
    this.chainSource = chain
    const pricing = new OraclePricing(p, this.db.loadPricing(), {
      gas: gasModels(table),
      // The scheduler's redundancy rule (docs/scheduling.md): every prover an op runs on may be paid.
      proversFor: (graph: Pick<Graph, 'priority' | 'redundancy'>, op) => {
        let want = graph.priority === 'performance' ? (graph.redundancy ?? init.defaultRedundancy) : 1
        if (op.penalty > init.highPenaltyThreshold) want = Math.max(want, init.highPenaltyProvers)
        return want
      },
      log,
      ...(chain === undefined ? {} : { chain }),
    }, this.clock.now())
    this.metrics.pGas.set(Number(pricing.book.pGas))
    log.info({ pGas: pricing.book.current.pGas, epoch: pricing.book.current.epoch, source: pricing.book.current.source, table: table.name }, 'pricing started')
    return pricing
  }

  /** What the P_gas controller reads each epoch: ops waiting or running, provers with a free slot. */
  private pricingProbe(): PricingProbe {
    const core = this.core
    return {
      *openOps() {
        for (const g of core.graphSummaries()) {
          if (g.state !== 'running') continue
          for (const op of core.graphStatus(g.graphId)?.ops ?? []) {
            if (op.state === 'ready' || op.state === 'assigned' || op.state === 'running') yield { graphId: g.graphId, op }
          }
        }
      },
      *freeProvers() {
        for (const p of core.provers()) {
          if (p.state !== 'live' || !p.connected || core.proverState(p.proverId)?.banned === true) continue
          yield { proverId: p.proverId, free: p.slots - p.running.length, slots: p.slots }
        }
      },
    }
  }

  /** One P_gas epoch: measure, move the price, journal it, publish it to agents (gossipsub). */
  private scheduleEpoch(): void {
    this.epochTimer = setTimeout(() => {
      void this.epoch().finally(() => {
        if (this.epochTimer !== undefined) this.scheduleEpoch()
      })
    }, this.init.pricing.epochMs)
    this.epochTimer.unref()
  }

  private async epoch(): Promise<void> {
    const pricing = this.pricing
    if (pricing === undefined) return
    try {
      const changes = await pricing.nextEpoch(this.pricingProbe(), this.clock.now())
      if (this.pricing !== pricing) return
      await this.run({ changes: [], actions: [], events: [] }, changes)
      const current = pricing.book.current
      this.metrics.pGas.set(Number(current.pGas))
      this.metrics.gasDemand.set(current.demandGas)
      this.metrics.gasSupply.set(current.supplyGasPerSec)
      await this.p2p?.services.pubsub.publish(PGAS_TOPIC, new TextEncoder().encode(JSON.stringify(current)))
    } catch (err) {
      this.log.error({ err }, 'P_gas epoch failed')
    }
  }

}
