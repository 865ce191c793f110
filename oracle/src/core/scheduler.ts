import { GalacticError, taskKey } from '@galactic/schemas'
import type { ErrorObject, Graph, GraphEvent, GraphStatus, OpStatus, OutputRef, Task, TaskOutcome, TaskRef } from '@galactic/schemas'
import { DEFAULT_FILTERS, passesAll } from './filters.js'
import type {
  Action,
  Change,
  Explanation,
  GraphRecord,
  OpRecord,
  PlacementFilter,
  ProverInfo,
  ProverRecord,
  ProverRegistration,
  ProverView,
  SchedulerComponents,
  SchedulerCounts,
  SchedulerInit,
  Snapshot,
  Step,
} from './types.js'

const DEFAULTS = { heartbeatIntervalMs: 1000, livenessTimeoutMs: 5000, maxAttempts: 5 } as const

/** One op plus the links the scheduler keeps for it. `rec` is mutated in place; Steps carry copies. */
interface OpEntry {
  readonly key: string
  readonly graph: GraphEntry
  readonly rec: OpRecord
  readonly inputs: OpEntry[]
  readonly consumers: OpEntry[]
}

interface GraphEntry {
  readonly rec: GraphRecord
  /** In index order. */
  readonly ops: OpEntry[]
  succeeded: number
}

class ProverEntry implements ProverView {
  connected = false
  /** Ops in state assigned/running whose deviceIds include this prover. */
  readonly assigned = new Set<OpEntry>()
  /** Order of its latest assignment (0: never); ties in placement go to the least recent. */
  lastAssign = 0
  constructor(public record: ProverRecord) {}
  get running(): number {
    return this.assigned.size
  }
}

/** Ready ops ordered by (graph seq, op index). */
class ReadyQueue {
  private readonly items: OpEntry[] = []
  private readonly members = new Set<OpEntry>()

  get size(): number {
    return this.items.length
  }

  at(i: number): OpEntry | undefined {
    return this.items[i]
  }

  has(e: OpEntry): boolean {
    return this.members.has(e)
  }

  add(e: OpEntry): void {
    if (this.members.has(e)) return
    this.members.add(e)
    const i = this.search(e)
    this.items.splice(i, 0, e)
  }

  delete(e: OpEntry): void {
    if (!this.members.delete(e)) return
    const i = this.search(e)
    if (this.items[i] === e) this.items.splice(i, 1)
  }

  /** First position whose item is not before `e`. */
  private search(e: OpEntry): number {
    let lo = 0
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const m = this.items[mid] as OpEntry
      if (before(m, e)) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function before(a: OpEntry, b: OpEntry): boolean {
  const sa = a.graph.rec.seq
  const sb = b.graph.rec.seq
  return sa < sb || (sa === sb && a.rec.index < b.rec.index)
}

/**
 * Collects one call's changes, actions and events. Changes are deduplicated (the final record
 * wins) and ordered by first touch, so a new graph comes before its ops and a finished op
 * before its graph.
 */
class StepBuilder {
  private readonly touched = new Map<string, Change>()
  readonly actions: Action[] = []
  readonly events: GraphEvent[] = []

  graph(g: GraphRecord): void {
    this.touched.set(`g:${g.graphId}`, { type: 'graph.put', graph: g })
  }

  op(key: string, o: OpRecord): void {
    this.touched.set(`o:${key}`, { type: 'op.put', op: o })
  }

  prover(p: ProverRecord): void {
    this.touched.set(`p:${p.proverId}`, { type: 'prover.put', prover: p })
  }

  /** The Step, with copies of the records as they are now. */
  finish(): Step {
    const changes: Change[] = []
    for (const c of this.touched.values()) {
      if (c.type === 'graph.put') changes.push({ type: 'graph.put', graph: { ...c.graph } })
      else if (c.type === 'op.put') changes.push({ type: 'op.put', op: copyOp(c.op) })
      else changes.push({ type: 'prover.put', prover: { ...c.prover } })
    }
    return { changes, actions: this.actions, events: this.events }
  }
}

function copyOp(o: OpRecord): OpRecord {
  return { ...o }
}

function emptyStep(): Step {
  return { changes: [], actions: [], events: [] }
}

function refOf(e: OpEntry): TaskRef {
  return { graphId: e.rec.graphId, opId: e.rec.spec.id, attempt: e.rec.attempt }
}

function opKey(graphId: string, opId: string): string {
  return `${graphId}/${opId}`
}

function inFlight(e: OpEntry): boolean {
  return e.rec.state === 'assigned' || e.rec.state === 'running'
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 1) throw new GalacticError('INVALID_INPUT', `${name} must be an integer >= 1`, { [name]: v })
  return v
}

/**
 * The oracle's scheduling policy: graphs, ops and provers in memory, decisions out as Steps.
 * Pure: no sockets, no storage, no timers; time comes from `components.clock`.
 *
 * Every mutating method returns a {@link Step}: commit its `changes` in one transaction,
 * then send its `actions` and publish its `events`. Every method ends by placing ready ops.
 *
 * @example
 * const scheduler = new Scheduler({}, { clock: { now: () => Date.now() } }, journal.load())
 * const { step, created } = scheduler.submit(graphId, specHash, parseGraph(input))
 */
export class Scheduler {
  readonly heartbeatIntervalMs: number
  readonly livenessTimeoutMs: number
  readonly maxAttempts: number
  /** The placement filters, in order. */
  readonly filters: readonly PlacementFilter[] = DEFAULT_FILTERS

  private readonly clock: SchedulerComponents['clock']
  private readonly graphs = new Map<string, GraphEntry>()
  private readonly runningGraphs = new Set<GraphEntry>()
  private readonly ops = new Map<string, OpEntry>()
  private readonly proverMap = new Map<string, ProverEntry>()
  private readonly ready = new ReadyQueue()
  private readonly outputIndex = new Map<string, OutputRef>()
  /** In-flight ops restored from a snapshot whose prover is unknown: re-queued at the next tick. */
  private readonly orphans = new Set<OpEntry>()
  private lastSeq = 0
  private assignCounter = 0
  /**
   * Whether placement could find something new: set when an op becomes ready or a prover
   * gains capacity, connects or comes back. Plain heartbeats leave it alone, so they cost
   * no placement pass. A new filter that reads other state must set it when that state changes.
   */
  private placementDirty = true

  constructor(init: SchedulerInit, components: SchedulerComponents, snapshot?: Snapshot) {
    this.heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', init.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs)
    this.livenessTimeoutMs = positiveInt('livenessTimeoutMs', init.livenessTimeoutMs, DEFAULTS.livenessTimeoutMs)
    this.maxAttempts = positiveInt('maxAttempts', init.maxAttempts, DEFAULTS.maxAttempts)
    this.clock = components.clock
    if (snapshot !== undefined) this.restore(snapshot)
  }

  // ---------------------------------------------------------------- graphs

  /**
   * Adds a graph (already checked by `parseGraph`: ops in topological order). Idempotent:
   * the same `graphId` with the same `specHash` returns `created: false` and an empty Step.
   *
   * @throws GalacticError `NONCE_CONFLICT` when `graphId` exists with another `specHash`.
   */
  submit(graphId: string, specHash: string, graph: Graph): { step: Step; created: boolean } {
    const existing = this.graphs.get(graphId)
    if (existing !== undefined) {
      if (existing.rec.specHash === specHash) return { step: emptyStep(), created: false }
      throw new GalacticError('NONCE_CONFLICT', `graph ${graphId} was already submitted with different contents`, {
        graphId,
        requester: graph.requester,
        nonce: graph.nonce,
      })
    }
    const now = this.clock.now()
    const sb = new StepBuilder()
    const g: GraphEntry = {
      rec: {
        graphId,
        seq: ++this.lastSeq,
        requester: graph.requester,
        nonce: graph.nonce,
        specHash,
        priority: graph.priority,
        redundancy: graph.redundancy ?? null,
        pluginMode: graph.pluginMode,
        state: 'running',
        submittedAt: now,
        finishedAt: null,
      },
      ops: [],
      succeeded: 0,
    }
    this.graphs.set(graphId, g)
    this.runningGraphs.add(g)
    this.graphChanged(sb, g)
    graph.ops.forEach((spec, index) => {
      const ready = spec.inputs.length === 0
      this.addOp(g, {
        graphId,
        index,
        spec,
        state: ready ? 'ready' : 'pending',
        attempt: 0,
        deviceIds: null,
        outputs: null,
        error: null,
        readyAt: ready ? now : null,
        assignedAt: null,
        startedAt: null,
        finishedAt: null,
      })
    })
    this.link(g)
    for (const e of g.ops) {
      sb.op(e.key, e.rec)
      if (e.rec.state === 'ready') {
        this.enqueue(e)
        this.opEvent(sb, e)
      }
    }
    this.place(sb)
    return { step: sb.finish(), created: true }
  }

  hasGraph(graphId: string): boolean {
    return this.graphs.has(graphId)
  }

  /** A graph as requesters see it, ops in index order. */
  graphStatus(graphId: string): GraphStatus | undefined {
    const g = this.graphs.get(graphId)
    if (g === undefined) return undefined
    const r = g.rec
    return {
      graphId: r.graphId,
      requester: r.requester,
      nonce: r.nonce,
      priority: r.priority,
      pluginMode: r.pluginMode,
      state: r.state,
      submittedAt: r.submittedAt,
      finishedAt: r.finishedAt,
      ops: g.ops.map((e) => opStatus(e.rec)),
    }
  }

  /** Why a ready op is (not) placed: per filter, how many provers it rejects and why. Empty for other states. */
  explain(graphId: string, opId: string): Explanation | undefined {
    const e = this.ops.get(opKey(graphId, opId))
    if (e === undefined) return undefined
    if (!this.ready.has(e)) return { state: e.rec.state, rejections: [] }
    const rejections = this.filters.map((f) => {
      let count = 0
      const reasons = new Set<string>()
      for (const p of this.proverMap.values()) {
        const r = f.filter(e.rec, p)
        if (!r.ok) {
          count++
          reasons.add(r.reason)
        }
      }
      return { filter: f.name, count, reasons: [...reasons] }
    })
    return { state: e.rec.state, rejections }
  }

  /** An output of a succeeded op, by content hash. */
  output(hash: string): OutputRef | undefined {
    return this.outputIndex.get(hash)
  }

  counts(): SchedulerCounts {
    let opsRunning = 0
    let proversLive = 0
    for (const p of this.proverMap.values()) {
      opsRunning += p.assigned.size
      if (p.record.state === 'live') proversLive++
    }
    return { graphsRunning: this.runningGraphs.size, opsReady: this.ready.size, opsRunning, proversLive }
  }

  // --------------------------------------------------------------- provers

  /**
   * A prover (re)connects. It becomes live and connected. Its assigned ops that it does not
   * report as running are delivered again (same attempt); the tasks it reports that are not
   * its current assignments are cancelled; reported current tasks still `assigned` become `running`.
   *
   * @throws GalacticError `PROTOCOL_ERROR` when another peer holds this prover id on a live connection.
   */
  registerProver(p: ProverRegistration): Step {
    const existing = this.proverMap.get(p.proverId)
    if (existing !== undefined && existing.connected && existing.record.peerId !== p.peerId) {
      throw new GalacticError('PROTOCOL_ERROR', `prover ${p.proverId} is already connected from another peer`, {
        proverId: p.proverId,
      })
    }
    const now = this.clock.now()
    const sb = new StepBuilder()
    const record: ProverRecord = {
      proverId: p.proverId,
      peerId: p.peerId,
      device: p.device,
      slots: p.slots,
      registeredAt: now,
      lastSeenAt: now,
      state: 'live',
    }
    const entry = existing ?? new ProverEntry(record)
    entry.record = record
    entry.connected = true
    this.proverMap.set(p.proverId, entry)
    this.placementDirty = true
    sb.prover(record)

    const reported = new Set(p.running.map(taskKey))
    for (const e of entry.assigned) {
      if (!reported.has(taskKey(refOf(e)))) sb.actions.push({ type: 'assign', proverId: p.proverId, task: this.task(e) })
    }
    this.reconcileRunning(sb, entry, p.running)
    this.place(sb)
    return sb.finish()
  }

  /**
   * A prover is alive. Updates `lastSeenAt` in memory only (no change is journaled). Also
   * cancels reported tasks that are not its current assignments, marks reported current
   * tasks `running`, and revives a prover that was declared lost.
   *
   * @throws GalacticError `PROTOCOL_ERROR` for an unknown prover.
   */
  heartbeat(proverId: string, running: TaskRef[]): Step {
    const entry = this.proverMap.get(proverId)
    if (entry === undefined) throw new GalacticError('PROTOCOL_ERROR', `unknown prover ${proverId}: register first`, { proverId })
    const sb = new StepBuilder()
    entry.record.lastSeenAt = this.clock.now()
    if (entry.record.state === 'lost') {
      entry.record.state = 'live'
      this.placementDirty = true
      sb.prover(entry.record)
    }
    this.reconcileRunning(sb, entry, running)
    this.place(sb)
    return sb.finish()
  }

  /** A prover's connection closed: no new work. Its ops stay with it until liveness times out. */
  disconnected(proverId: string): Step {
    const entry = this.proverMap.get(proverId)
    if (entry !== undefined) entry.connected = false
    return emptyStep()
  }

  /** Every known prover, with whether it is connected and the tasks it holds. */
  provers(): ProverInfo[] {
    return [...this.proverMap.values()].map((p) => ({
      ...p.record,
      connected: p.connected,
      running: [...p.assigned].map(refOf),
    }))
  }

  // ----------------------------------------------------------------- tasks

  /** The prover started a task: `assigned` -> `running` when `ref` is its current assignment. */
  taskStarted(proverId: string, ref: TaskRef): Step {
    const sb = new StepBuilder()
    const e = this.current(proverId, ref)
    if (e !== undefined && e.rec.state === 'assigned') this.markRunning(sb, e)
    this.place(sb)
    return sb.finish()
  }

  /**
   * A prover reports a task's outcome. Always acked. Applied only when `ref` is the op's
   * current attempt held by this prover; a stale result changes nothing.
   */
  taskResult(proverId: string, ref: TaskRef, outcome: TaskOutcome, providers: string[]): Step {
    const sb = new StepBuilder()
    sb.actions.push({ type: 'ack', proverId, ref: { graphId: ref.graphId, opId: ref.opId, attempt: ref.attempt } })
    const e = this.current(proverId, ref)
    if (e !== undefined) {
      if (outcome.ok) {
        const outputs = outcome.outputs.map((o) => ({ name: o.name, hash: o.hash, size: o.size, providers: [...providers] }))
        this.succeed(sb, e, outputs)
      } else {
        this.release(e)
        this.retryOrFail(sb, e, outcome.error)
      }
    }
    this.place(sb)
    return sb.finish()
  }

  /**
   * Time passes: provers silent longer than `livenessTimeoutMs` are lost and their ops go back
   * to `ready`; ops assigned longer than their `timeoutMs` are cancelled and go back to `ready`.
   * An op that has used up `maxAttempts` fails for good instead, and so does its graph.
   */
  tick(): Step {
    const now = this.clock.now()
    const sb = new StepBuilder()
    for (const e of this.orphans) {
      this.orphans.delete(e)
      if (!inFlight(e)) continue
      this.retryOrFail(sb, e, { code: 'CONNECTION_CLOSED', message: 'prover unknown after restart' })
    }
    for (const p of this.proverMap.values()) {
      if (p.record.state !== 'live' || p.record.lastSeenAt + this.livenessTimeoutMs >= now) continue
      p.record.state = 'lost'
      sb.prover(p.record)
      const error: ErrorObject = {
        code: 'CONNECTION_CLOSED',
        message: `prover ${p.record.proverId} lost: silent for ${now - p.record.lastSeenAt} ms`,
        details: { proverId: p.record.proverId },
      }
      for (const e of [...p.assigned]) {
        if (!inFlight(e)) continue // failed with its graph meanwhile
        this.release(e)
        this.retryOrFail(sb, e, error)
      }
    }
    for (const p of this.proverMap.values()) {
      for (const e of [...p.assigned]) {
        if (!inFlight(e)) continue // failed with its graph meanwhile
        const assignedAt = e.rec.assignedAt ?? now
        if (assignedAt + e.rec.spec.timeoutMs >= now) continue
        const ref = refOf(e)
        const reason = `deadline: not finished within ${e.rec.spec.timeoutMs} ms`
        for (const id of e.rec.deviceIds ?? []) sb.actions.push({ type: 'cancel', proverId: id, ref, reason })
        this.release(e)
        this.retryOrFail(sb, e, { code: 'TIMEOUT', message: reason, details: { timeoutMs: e.rec.spec.timeoutMs } })
      }
    }
    this.place(sb)
    return sb.finish()
  }

  // ------------------------------------------------------------- internals

  private restore(s: Snapshot): void {
    const now = this.clock.now()
    for (const r of s.graphs) {
      const g: GraphEntry = { rec: { ...r }, ops: [], succeeded: 0 }
      this.graphs.set(r.graphId, g)
      if (r.state === 'running') this.runningGraphs.add(g)
      this.lastSeq = Math.max(this.lastSeq, r.seq)
    }
    for (const r of s.provers) {
      this.proverMap.set(r.proverId, new ProverEntry({ ...r, lastSeenAt: now }))
    }
    for (const r of s.ops) {
      const g = this.graphs.get(r.graphId)
      if (g === undefined) {
        throw new GalacticError('STORAGE_ERROR', `snapshot has op ${r.spec.id} of unknown graph ${r.graphId}`, {
          graphId: r.graphId,
          opId: r.spec.id,
        })
      }
      this.addOp(g, { ...r })
    }
    for (const g of this.graphs.values()) {
      g.ops.sort((a, b) => a.rec.index - b.rec.index)
      this.link(g)
      for (const e of g.ops) {
        const rec = e.rec
        if (rec.state === 'succeeded') {
          g.succeeded++
          for (const o of rec.outputs ?? []) this.outputIndex.set(o.hash, o)
        } else if (rec.state === 'ready' && g.rec.state === 'running') {
          this.enqueue(e)
        } else if (inFlight(e)) {
          let held = false
          for (const id of rec.deviceIds ?? []) {
            const p = this.proverMap.get(id)
            if (p !== undefined) {
              p.assigned.add(e)
              held = true
            }
          }
          if (!held) this.orphans.add(e)
        }
      }
    }
  }

  private enqueue(e: OpEntry): void {
    this.ready.add(e)
    this.placementDirty = true
  }

  private addOp(g: GraphEntry, rec: OpRecord): void {
    const key = opKey(rec.graphId, rec.spec.id)
    const e: OpEntry = { key, graph: g, rec, inputs: [], consumers: [] }
    g.ops.push(e)
    this.ops.set(key, e)
  }

  /** Fills inputs and consumers of a graph's ops. */
  private link(g: GraphEntry): void {
    for (const e of g.ops) {
      for (const id of e.rec.spec.inputs) {
        const input = this.ops.get(opKey(g.rec.graphId, id))
        if (input === undefined) {
          throw new GalacticError('INVALID_GRAPH', `op "${e.rec.spec.id}": unknown input op "${id}"`, { opId: e.rec.spec.id })
        }
        e.inputs.push(input)
        input.consumers.push(e)
      }
    }
  }

  /** The op `ref` names when it is its current attempt, in flight, and held by `proverId`. */
  private current(proverId: string, ref: TaskRef): OpEntry | undefined {
    const e = this.ops.get(opKey(ref.graphId, ref.opId))
    if (e === undefined || e.rec.attempt !== ref.attempt || !inFlight(e)) return undefined
    if (!(e.rec.deviceIds ?? []).includes(proverId)) return undefined
    return e
  }

  private reconcileRunning(sb: StepBuilder, p: ProverEntry, running: TaskRef[]): void {
    const proverId = p.record.proverId
    for (const ref of running) {
      const e = this.current(proverId, ref)
      if (e === undefined) {
        sb.actions.push({
          type: 'cancel',
          proverId,
          ref: { graphId: ref.graphId, opId: ref.opId, attempt: ref.attempt },
          reason: 'not assigned to this prover',
        })
      } else if (e.rec.state === 'assigned') {
        this.markRunning(sb, e)
      }
    }
  }

  private markRunning(sb: StepBuilder, e: OpEntry): void {
    e.rec.state = 'running'
    e.rec.startedAt = this.clock.now()
    this.opChanged(sb, e)
  }

  /** Removes an in-flight op from its provers' sets. */
  private release(e: OpEntry): void {
    for (const id of e.rec.deviceIds ?? []) if (this.proverMap.get(id)?.assigned.delete(e) === true) this.placementDirty = true
    this.orphans.delete(e)
  }

  private succeed(sb: StepBuilder, e: OpEntry, outputs: OutputRef[]): void {
    const now = this.clock.now()
    this.release(e)
    e.rec.state = 'succeeded'
    e.rec.outputs = outputs
    e.rec.error = null
    e.rec.finishedAt = now
    this.opChanged(sb, e)
    for (const o of outputs) this.outputIndex.set(o.hash, o)
    const g = e.graph
    g.succeeded++
    for (const c of e.consumers) {
      if (c.rec.state !== 'pending' || !c.inputs.every((i) => i.rec.state === 'succeeded')) continue
      c.rec.state = 'ready'
      c.rec.readyAt = now
      this.enqueue(c)
      this.opChanged(sb, c)
    }
    if (g.succeeded === g.ops.length && g.rec.state === 'running') {
      g.rec.state = 'succeeded'
      g.rec.finishedAt = now
      this.runningGraphs.delete(g)
      this.graphChanged(sb, g)
    }
  }

  /** An in-flight op (already released) ended without success: back to `ready`, or failed for good. */
  private retryOrFail(sb: StepBuilder, e: OpEntry, error: ErrorObject): void {
    const now = this.clock.now()
    e.rec.error = error
    if (e.rec.attempt >= this.maxAttempts) {
      e.rec.state = 'failed'
      e.rec.finishedAt = now
      this.opChanged(sb, e)
      this.failGraph(sb, e)
      return
    }
    e.rec.state = 'ready'
    e.rec.readyAt = now
    e.rec.deviceIds = null
    e.rec.assignedAt = null
    e.rec.startedAt = null
    if (e.graph.rec.state === 'running') this.enqueue(e)
    this.opChanged(sb, e)
  }

  /**
   * The graph fails because `cause` failed for good. Its other in-flight ops are cancelled
   * (a `cancel` action each) and become `failed` with a TASK_CANCELLED error; its pending and
   * ready ops keep their state but are never placed.
   */
  private failGraph(sb: StepBuilder, cause: OpEntry): void {
    const g = cause.graph
    if (g.rec.state !== 'running') return
    const now = this.clock.now()
    g.rec.state = 'failed'
    g.rec.finishedAt = now
    this.runningGraphs.delete(g)
    this.graphChanged(sb, g)
    const reason = `graph failed: op ${cause.rec.spec.id} failed after ${cause.rec.attempt} attempts`
    for (const e of g.ops) {
      this.ready.delete(e)
      if (e === cause || !inFlight(e)) continue
      const ref = refOf(e)
      for (const id of e.rec.deviceIds ?? []) sb.actions.push({ type: 'cancel', proverId: id, ref, reason })
      this.release(e)
      e.rec.state = 'failed'
      e.rec.error = { code: 'TASK_CANCELLED', message: reason, details: { cause: cause.rec.spec.id } }
      e.rec.finishedAt = now
      this.opChanged(sb, e)
    }
  }

  /**
   * How many provers one op runs on. Always 1 for now; `performance` priority with
   * `redundancy` will return more here.
   */
  private proversPerOp(_g: GraphRecord, _op: OpRecord): number {
    return 1
  }

  /**
   * Places ready ops in (graph seq, op index) order, each on the prover(s) that pass every
   * filter, preferring the fewest running ops, then the least recently assigned, then the id.
   * Stops early when no prover has a free slot.
   */
  private place(sb: StepBuilder): void {
    if (!this.placementDirty) return
    this.placementDirty = false
    if (this.ready.size === 0) return
    const available: ProverEntry[] = []
    for (const p of this.proverMap.values()) {
      if (p.record.state === 'live' && p.connected && p.running < p.record.slots) available.push(p)
    }
    let i = 0
    while (i < this.ready.size && available.length > 0) {
      const e = this.ready.at(i) as OpEntry
      const want = this.proversPerOp(e.graph.rec, e.rec)
      const candidates = available.filter((p) => passesAll(this.filters, e.rec, p))
      if (candidates.length < want) {
        i++
        continue
      }
      candidates.sort(
        (a, b) =>
          a.running - b.running ||
          a.lastAssign - b.lastAssign ||
          (a.record.proverId < b.record.proverId ? -1 : a.record.proverId > b.record.proverId ? 1 : 0),
      )
      const chosen = candidates.slice(0, want)
      this.assign(sb, e, chosen)
      for (const p of chosen) {
        if (p.running >= p.record.slots) available.splice(available.indexOf(p), 1)
      }
    }
  }

  private assign(sb: StepBuilder, e: OpEntry, provers: ProverEntry[]): void {
    this.ready.delete(e)
    const rec = e.rec
    rec.attempt += 1
    rec.state = 'assigned'
    rec.deviceIds = provers.map((p) => p.record.proverId)
    rec.assignedAt = this.clock.now()
    rec.startedAt = null
    this.opChanged(sb, e)
    const task = this.task(e)
    for (const p of provers) {
      p.assigned.add(e)
      p.lastAssign = ++this.assignCounter
      sb.actions.push({ type: 'assign', proverId: p.record.proverId, task })
    }
  }

  private task(e: OpEntry): Task {
    const spec = e.rec.spec
    return {
      graphId: e.rec.graphId,
      opId: spec.id,
      attempt: e.rec.attempt,
      name: spec.name,
      plugin: spec.plugin,
      params: spec.params,
      requirements: spec.requirements,
      inputs: e.inputs.map((i) => ({ opId: i.rec.spec.id, outputs: i.rec.outputs ?? [] })),
      timeoutMs: spec.timeoutMs,
      pluginMode: e.graph.rec.pluginMode,
    }
  }

  private opChanged(sb: StepBuilder, e: OpEntry): void {
    sb.op(e.key, e.rec)
    this.opEvent(sb, e)
  }

  private opEvent(sb: StepBuilder, e: OpEntry): void {
    const r = e.rec
    sb.events.push({
      type: 'op',
      graphId: r.graphId,
      opId: r.spec.id,
      state: r.state,
      attempt: r.attempt,
      deviceIds: r.deviceIds,
      outputs: r.outputs,
      error: r.error,
      at: this.clock.now(),
    })
  }

  private graphChanged(sb: StepBuilder, g: GraphEntry): void {
    sb.graph(g.rec)
    sb.events.push({ type: 'graph', graphId: g.rec.graphId, state: g.rec.state, at: this.clock.now() })
  }
}

function opStatus(r: OpRecord): OpStatus {
  return {
    ...r.spec,
    deviceIds: r.deviceIds,
    outputs: r.outputs,
    state: r.state,
    attempt: r.attempt,
    error: r.error,
    readyAt: r.readyAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  }
}
