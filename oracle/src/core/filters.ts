import { pluginKey } from '@galactic/schemas'
import type { FilterPlugin, PlacementContext, ProverBan, ProverView, Status } from './types.js'

/** A `success` Status for `plugin`. Shared and frozen: successes allocate nothing. */
export function success(plugin: string): Status {
  return Object.freeze({ code: 'success', reasons: Object.freeze([]) as unknown as string[], plugin }) as Status
}

export function unschedulable(plugin: string, reason: string): Status {
  return { code: 'unschedulable', reasons: [reason], plugin }
}

/** An `unschedulable` Status whose reason never varies: made once, shared and frozen. */
function fixedUnschedulable(plugin: string, reason: string): Status {
  return Object.freeze({ code: 'unschedulable', reasons: Object.freeze([reason]) as unknown as string[], plugin }) as Status
}

const LOST = fixedUnschedulable('live', 'prover is lost')
const NOT_CONNECTED = fixedUnschedulable('live', 'prover is not connected')
const GPU_KEPT = fixedUnschedulable('affinity', 'gpu prover kept for gpu ops: op needs no gpu')
const FAILED_BEFORE = fixedUnschedulable('retry-elsewhere', 'failed this op before')

/** Whether a ban keeps a prover out at `now`. */
export function isBanned(ban: ProverBan | undefined, now: number): boolean {
  if (ban === undefined) return false
  return ban.permanent || (ban.bannedUntil !== null && ban.bannedUntil > now)
}

/**
 * A filter plugin named `name`: `make` gets its shared `success` Status and returns the filter
 * function itself (one function per plugin, called directly: no wrapper in between).
 */
function filter(
  name: string,
  make: (ok: Status) => (ctx: PlacementContext, p: ProverView) => Status,
  options: { preference?: boolean; skip?: (ctx: PlacementContext) => boolean; skipPerClass?: boolean } = {},
): FilterPlugin {
  return {
    name,
    ...(options.preference === true ? { preference: true } : {}),
    ...(options.skip === undefined ? {} : { skip: options.skip }),
    ...(options.skipPerClass === true ? { skipPerClass: true } : {}),
    filter: make(success(name)),
  }
}

/** Required. The prover is live and connected right now. */
export const liveFilter = filter('live', (ok) => (_ctx, p) => {
  if (p.record.state !== 'live') return LOST
  if (!p.connected) return NOT_CONNECTED
  return ok
})

/** Required. The prover has a free slot. */
export const capacityFilter = filter('capacity', (ok) => (_ctx, p) =>
  p.running < p.record.slots ? ok : unschedulable('capacity', `all ${p.record.slots} slots busy`),
)

/** Required. The prover offers the op's plugin, same name and exact version. */
export const pluginFilter = filter('plugin', (ok) => (ctx, p) => {
  const want = ctx.op.spec.plugin
  const plugins = p.record.device.plugins
  if (plugins.some((x) => x.name === want.name && x.version === want.version)) return ok
  const other = plugins.filter((x) => x.name === want.name).map(pluginKey)
  return unschedulable('plugin', `no plugin ${pluginKey(want)}${other.length > 0 ? ` (has ${other.join(', ')})` : ''}`)
})

/** The prover is not serving a ban: neither inside a failure window nor banned for good. */
export const banFilter = filter('ban', (ok) => (ctx, p) => {
  const ban = p.record.ban
  if (ban === undefined || !isBanned(ban, ctx.now)) return ok
  if (ban.permanent) return unschedulable('ban', `banned permanently after ${ban.consecutiveFailures} consecutive failures`)
  return unschedulable('ban', `banned for ${ban.consecutiveFailures} consecutive failure${ban.consecutiveFailures === 1 ? '' : 's'}, until ${new Date(ban.bannedUntil ?? 0).toISOString()}`)
})

export const osFilter = filter('os', (ok) => (ctx, p) => {
  const want = ctx.op.spec.requirements.os
  const has = p.record.device.os
  return want === undefined || want === has ? ok : unschedulable('os', `os is ${has}, needs ${want}`)
}, { skip: (ctx) => ctx.op.spec.requirements.os === undefined, skipPerClass: true })

export const cpuFilter = filter('cpu', (ok) => (ctx, p) => {
  const want = ctx.op.spec.requirements.cpu
  if (want === undefined) return ok
  const cpu = p.record.device.cpu
  if (want.arch !== undefined && want.arch !== cpu.arch) return unschedulable('cpu', `cpu arch is ${cpu.arch}, needs ${want.arch}`)
  if (want.minCores !== undefined && cpu.cores < want.minCores) return unschedulable('cpu', `cpu has ${cpu.cores} cores, needs ${want.minCores}`)
  return ok
}, { skip: (ctx) => ctx.op.spec.requirements.cpu === undefined, skipPerClass: true })

/** When the op needs GPUs: enough of the prover's GPUs match vendor, model and memory. */
export const gpuFilter = filter('gpu', (ok) => (ctx, p) => {
  const want = ctx.op.spec.requirements.gpu
  if (want === undefined) return ok
  let matching = 0
  for (const g of p.record.device.gpus) {
    if (
      (want.vendor === undefined || g.vendor === want.vendor) &&
      (want.model === undefined || g.model === want.model) &&
      (want.minMemoryMiB === undefined || g.memoryMiB >= want.minMemoryMiB)
    ) {
      matching++
    }
  }
  if (matching >= want.count) return ok
  const what = [want.vendor, want.model, want.minMemoryMiB === undefined ? undefined : `>= ${want.minMemoryMiB} MiB`]
    .filter((x) => x !== undefined)
    .join(' ')
  return unschedulable('gpu', `has ${matching} matching gpus${what === '' ? '' : ` (${what})`}, needs ${want.count}`)
}, { skip: (ctx) => ctx.op.spec.requirements.gpu === undefined, skipPerClass: true })

export const memoryFilter = filter('memory', (ok) => (ctx, p) => {
  const want = ctx.op.spec.requirements.minMemoryMiB
  const has = p.record.device.memoryMiB
  return want === undefined || has >= want ? ok : unschedulable('memory', `memory is ${has} MiB, needs ${want} MiB`)
}, { skip: (ctx) => ctx.op.spec.requirements.minMemoryMiB === undefined, skipPerClass: true })

/**
 * Preference. An op that needs no GPU stays off GPU provers while a CPU-only prover can take it;
 * relaxed (GPU provers used) only when no CPU-only prover passes the required filters.
 */
export const affinityFilter = filter(
  'affinity',
  (ok) => (ctx, p) => (ctx.op.spec.requirements.gpu === undefined && p.gpuCount > 0 ? GPU_KEPT : ok),
  { preference: true, skip: (ctx) => ctx.op.spec.requirements.gpu !== undefined, skipPerClass: true },
)

/**
 * Preference. A retried op goes to a prover that has not failed it before; relaxed when only
 * such provers are left.
 */
export const retryElsewhereFilter = filter(
  'retry-elsewhere',
  (ok) => (ctx, p) => (ctx.failedOn.has(p.record.proverId) ? FAILED_BEFORE : ok),
  { preference: true, skip: (ctx) => ctx.failedOn.size === 0 },
)

/**
 * The built-in filter plugins, in the order the default profile runs them. Required ones first;
 * preference filters last.
 */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [
  liveFilter,
  capacityFilter,
  pluginFilter,
  banFilter,
  osFilter,
  cpuFilter,
  gpuFilter,
  memoryFilter,
  affinityFilter,
  retryElsewhereFilter,
]

/** Filters every profile must enable: the prover index is built on them. */
export const REQUIRED_FILTERS: readonly string[] = ['live', 'capacity', 'plugin']
