import { pluginKey } from '@galactic/schemas'
import type { FilterResult, OpRecord, PlacementFilter, ProverView } from './types.js'

const OK: FilterResult = { ok: true }

function no(reason: string): FilterResult {
  return { ok: false, reason }
}

/** The prover is live and connected right now. */
export const liveFilter: PlacementFilter = {
  name: 'live',
  filter(_op, p) {
    if (p.record.state !== 'live') return no('prover is lost')
    if (!p.connected) return no('prover is not connected')
    return OK
  },
}

/** The prover has a free slot. */
export const capacityFilter: PlacementFilter = {
  name: 'capacity',
  filter(_op, p) {
    return p.running < p.record.slots ? OK : no(`all ${p.record.slots} slots busy`)
  },
}

/** The prover has the op's plugin, same name and exact version. */
export const pluginFilter: PlacementFilter = {
  name: 'plugin',
  filter(op, p) {
    const want = op.spec.plugin
    const plugins = p.record.device.plugins
    if (plugins.some((x) => x.name === want.name && x.version === want.version)) return OK
    const other = plugins.filter((x) => x.name === want.name).map(pluginKey)
    return no(`no plugin ${pluginKey(want)}${other.length > 0 ? ` (has ${other.join(', ')})` : ''}`)
  },
}

export const osFilter: PlacementFilter = {
  name: 'os',
  filter(op, p) {
    const want = op.spec.requirements.os
    const has = p.record.device.os
    return want === undefined || want === has ? OK : no(`os is ${has}, needs ${want}`)
  },
}

export const cpuFilter: PlacementFilter = {
  name: 'cpu',
  filter(op, p) {
    const want = op.spec.requirements.cpu
    if (want === undefined) return OK
    const cpu = p.record.device.cpu
    if (want.arch !== undefined && want.arch !== cpu.arch) return no(`cpu arch is ${cpu.arch}, needs ${want.arch}`)
    if (want.minCores !== undefined && cpu.cores < want.minCores) return no(`cpu has ${cpu.cores} cores, needs ${want.minCores}`)
    return OK
  },
}

/** When the op needs GPUs: enough of the prover's GPUs match vendor, model and memory. */
export const gpuFilter: PlacementFilter = {
  name: 'gpu',
  filter(op, p) {
    const want = op.spec.requirements.gpu
    if (want === undefined) return OK
    const matching = p.record.device.gpus.filter(
      (g) =>
        (want.vendor === undefined || g.vendor === want.vendor) &&
        (want.model === undefined || g.model === want.model) &&
        (want.minMemoryMiB === undefined || g.memoryMiB >= want.minMemoryMiB),
    ).length
    if (matching >= want.count) return OK
    const what = [want.vendor, want.model, want.minMemoryMiB === undefined ? undefined : `>= ${want.minMemoryMiB} MiB`]
      .filter((x) => x !== undefined)
      .join(' ')
    return no(`has ${matching} matching gpus${what === '' ? '' : ` (${what})`}, needs ${want.count}`)
  },
}

export const memoryFilter: PlacementFilter = {
  name: 'memory',
  filter(op, p) {
    const want = op.spec.requirements.minMemoryMiB
    const has = p.record.device.memoryMiB
    return want === undefined || has >= want ? OK : no(`memory is ${has} MiB, needs ${want} MiB`)
  },
}

/**
 * The placement filters, in the order they run. A prover is a candidate for an op when
 * every filter passes. Later filters (bans, stake) are added here.
 */
export const DEFAULT_FILTERS: readonly PlacementFilter[] = [
  liveFilter,
  capacityFilter,
  pluginFilter,
  osFilter,
  cpuFilter,
  gpuFilter,
  memoryFilter,
]

/** Whether `prover` passes every filter for `op`. */
export function passesAll(filters: readonly PlacementFilter[], op: OpRecord, prover: ProverView): boolean {
  for (const f of filters) if (!f.filter(op, prover).ok) return false
  return true
}
