import { pluginKey } from '@galactic/schemas'
import type { FilterPlugin, PlacementContext, ProverBan, ProverView, Status } from './types.js'

/** A `success` Status for `plugin`. Shared and frozen: successes allocate nothing. */
export function success(plugin: string): Status {
  return Object.freeze({ code: 'success', reasons: Object.freeze([]) as unknown as string[], plugin }) as Status
}

export function unschedulable(plugin: string, reason: string): Status {
  return { code: 'unschedulable', reasons: [reason], plugin }
}

/** Whether a ban keeps a prover out at `now`. */
export function isBanned(ban: ProverBan | undefined, now: number): boolean {
  if (ban === undefined) return false
  return ban.permanent || (ban.bannedUntil !== null && ban.bannedUntil > now)
}

function filter(
  name: string,
  run: (ok: Status, ctx: PlacementContext, p: ProverView) => Status,
  options: { preference?: boolean; skip?: (ctx: PlacementContext) => boolean } = {},
): FilterPlugin {
  const ok = success(name)
  return {
    name,
    ...(options.preference === true ? { preference: true } : {}),
    ...(options.skip === undefined ? {} : { skip: options.skip }),
    filter: (ctx, p) => run(ok, ctx, p),
  }
}

/** Required. The prover is live and connected right now. */
export const liveFilter = filter('live', (ok, _ctx, p) => {
  if (p.record.state !== 'live') return unschedulable('live', 'prover is lost')
  if (!p.connected) return unschedulable('live', 'prover is not connected')
  return ok
})

/** Required. The prover has a free slot. */
export const capacityFilter = filter('capacity', (ok, _ctx, p) =>
  p.running < p.record.slots ? ok : unschedulable('capacity', `all ${p.record.slots} slots busy`),
)

/** Required. The prover offers the op's plugin, same name and exact version. */
export const pluginFilter = filter('plugin', (ok, ctx, p) => {
  const want = ctx.op.spec.plugin
  const plugins = p.record.device.plugins
  if (plugins.some((x) => x.name === want.name && x.version === want.version)) return ok
  const other = plugins.filter((x) => x.name === want.name).map(pluginKey)
  return unschedulable('plugin', `no plugin ${pluginKey(want)}${other.length > 0 ? ` (has ${other.join(', ')})` : ''}`)
})

/** The prover is not serving a ban: neither inside a failure window nor banned for good. */
export const banFilter = filter('ban', (ok, ctx, p) => {
  const ban = p.record.ban
  if (ban === undefined || !isBanned(ban, ctx.now)) return ok
  if (ban.permanent) return unschedulable('ban', `banned permanently after ${ban.consecutiveFailures} consecutive failures`)
  return unschedulable('ban', `banned for ${ban.consecutiveFailures} consecutive failure${ban.consecutiveFailures === 1 ? '' : 's'}, until ${new Date(ban.bannedUntil ?? 0).toISOString()}`)
})

export const osFilter = filter('os', (ok, ctx, p) => {
  const want = ctx.op.spec.requirements.os
  const has = p.record.device.os
  return want === undefined || want === has ? ok : unschedulable('os', `os is ${has}, needs ${want}`)
}, { skip: (ctx) => ctx.op.spec.requirements.os === undefined })

export const cpuFilter = filter('cpu', (ok, ctx, p) => {
  const want = ctx.op.spec.requirements.cpu
  if (want === undefined) return ok
  const cpu = p.record.device.cpu
  if (want.arch !== undefined && want.arch !== cpu.arch) return unschedulable('cpu', `cpu arch is ${cpu.arch}, needs ${want.arch}`)
  if (want.minCores !== undefined && cpu.cores < want.minCores) return unschedulable('cpu', `cpu has ${cpu.cores} cores, needs ${want.minCores}`)
  return ok
}, { skip: (ctx) => ctx.op.spec.requirements.cpu === undefined })

/** When the op needs GPUs: enough of the prover's GPUs match vendor, model and memory. */
export const gpuFilter = filter('gpu', (ok, ctx, p) => {
  const want = ctx.op.spec.requirements.gpu
  if (want === undefined) return ok
  const matching = p.record.device.gpus.filter(
    (g) =>
      (want.vendor === undefined || g.vendor === want.vendor) &&
      (want.model === undefined || g.model === want.model) &&
      (want.minMemoryMiB === undefined || g.memoryMiB >= want.minMemoryMiB),
  ).length
  if (matching >= want.count) return ok
  const what = [want.vendor, want.model, want.minMemoryMiB === undefined ? undefined : `>= ${want.minMemoryMiB} MiB`]
    .filter((x) => x !== undefined)
    .join(' ')
  return unschedulable('gpu', `has ${matching} matching gpus${what === '' ? '' : ` (${what})`}, needs ${want.count}`)
}, { skip: (ctx) => ctx.op.spec.requirements.gpu === undefined })

export const memoryFilter = filter('memory', (ok, ctx, p) => {
  const want = ctx.op.spec.requirements.minMemoryMiB
  const has = p.record.device.memoryMiB
  return want === undefined || has >= want ? ok : unschedulable('memory', `memory is ${has} MiB, needs ${want} MiB`)
}, { skip: (ctx) => ctx.op.spec.requirements.minMemoryMiB === undefined })

/**
 * Preference. An op that needs no GPU stays off GPU provers while a CPU-only prover can take it;
 * relaxed (GPU provers used) only when no CPU-only prover passes the required filters.
 */
export const affinityFilter = filter(
  'affinity',
  (ok, ctx, p) =>
    ctx.op.spec.requirements.gpu === undefined && p.record.device.gpus.length > 0
      ? unschedulable('affinity', 'gpu prover kept for gpu ops: op needs no gpu')
      : ok,
  { preference: true, skip: (ctx) => ctx.op.spec.requirements.gpu !== undefined },
)

/**
 * Preference. A retried op goes to a prover that has not failed it before; relaxed when only
 * such provers are left.
 */
export const retryElsewhereFilter = filter(
  'retry-elsewhere',
  (ok, ctx, p) => (ctx.failedOn.has(p.record.proverId) ? unschedulable('retry-elsewhere', 'failed this op before') : ok),
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
