import type { Explanation, GraphStatus, OpState, ProverStatus, WatchEvent } from '@galactic/sdk'

/** A one-line summary: `running 5/9 ops succeeded (2 running, 2 ready)`. */
export function summary(status: GraphStatus): string {
  const counts = countStates(status)
  const parts = (['running', 'assigned', 'ready', 'pending', 'failed'] as const)
    .filter((s) => counts[s] > 0)
    .map((s) => `${counts[s]} ${s}`)
  return `${status.state} ${counts.succeeded}/${status.ops.length} ops succeeded${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`
}

export function countStates(status: GraphStatus): Record<OpState, number> {
  const counts: Record<OpState, number> = { pending: 0, ready: 0, assigned: 0, running: 0, succeeded: 0, failed: 0 }
  for (const op of status.ops) counts[op.state]++
  return counts
}

/** A table of a graph's ops for a terminal. */
export function opsTable(status: GraphStatus): string {
  const rows = status.ops.map((op) => [
    op.id,
    op.name,
    op.state,
    String(op.attempt),
    (op.deviceIds ?? []).join(',') || '-',
    op.startedAt !== null && op.finishedAt !== null ? `${op.finishedAt - op.startedAt}ms` : '-',
    op.outputs?.map((o) => `${o.name}=${o.hash.slice(7, 19)}`).join(' ') ?? (op.error !== null ? `${op.error.code}: ${op.error.message}` : '-'),
  ])
  return table(['OP', 'NAME', 'STATE', 'TRY', 'PROVER', 'TIME', 'OUTPUT'], rows).trimEnd()
}

/** A progress line for one watch event, or undefined for events not worth a line. */
export function eventLine(event: WatchEvent): string | undefined {
  if (event.type === 'snapshot') return `graph ${event.status.graphId}: ${summary(event.status)}`
  if (event.type === 'graph') return `graph ${event.graphId} ${event.state}`
  if (event.state === 'assigned' || event.state === 'pending') return undefined
  const where = event.deviceIds !== null && event.deviceIds.length > 0 ? ` on ${event.deviceIds.join(',')}` : ''
  const why = event.error !== null && event.state !== 'succeeded' ? ` (${event.error.code}: ${event.error.message})` : ''
  return `  ${event.opId} ${event.state}${where}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}${why}`
}

/** Why an op waits, one placement plugin a line. */
export function explainText(why: Explanation): string {
  const head = `op ${why.opId} of graph ${why.graphId} is ${why.state}`
  if (why.state !== 'ready') return `${head}\n`
  const lines = why.rejections.filter((r) => r.count > 0).map((r) => `  ${r.plugin}: rejected ${r.count} prover(s): ${r.reasons.join('; ')}`)
  if (lines.length === 0) lines.push('  no plugin rejected any prover')
  lines.push(`  ${why.feasible} feasible prover(s), ${why.wanted} wanted`)
  if (why.relaxed.length > 0) lines.push(`  relaxed preferences: ${why.relaxed.join(', ')}`)
  for (const r of why.ranking) {
    lines.push(`  candidate ${r.proverId}: score ${r.total.toFixed(1)} (${Object.entries(r.scores).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')})`)
  }
  return `${head}\n${lines.join('\n')}\n`
}

/** The provers table for a terminal. */
export function proversTable(provers: ProverStatus[]): string {
  const rows = provers.map((p) => [
    p.proverId,
    p.state + (p.connected ? '' : ' (disconnected)'),
    banText(p.ban),
    `${p.running.length}/${p.slots}`,
    `${p.device.os}/${p.device.cpu.arch} ${p.device.cpu.cores} cores ${Math.round(p.device.memoryMiB / 1024)} GiB`,
    p.device.gpus.length > 0 ? p.device.gpus.map((g) => `${g.vendor} ${g.model}`).join(', ') : '-',
    gasText(p.gas),
    p.device.plugins.map((x) => `${x.name}@${x.version}`).join(','),
  ])
  return table(['PROVER', 'STATE', 'BAN', 'BUSY', 'DEVICE', 'GPUS', 'GAS/S (CLAIMED/SEEN)', 'PLUGINS'], rows)
}

/** Claimed / observed gas per second, e.g. `2.1e8/1.9e8`, with `doubted` when they disagree. */
function gasText(gas: ProverStatus['gas']): string {
  if (gas === undefined) return '-'
  const n = (v: number | null): string => (v === null ? '-' : v.toPrecision(2).replace('e+', 'e'))
  return `${n(gas.claimedPerSec)}/${n(gas.observedPerSec)}${gas.doubted ? ' doubted' : ''}`
}

function banText(ban: ProverStatus['ban']): string {
  if (ban.permanent) return `permanent (${ban.consecutiveFailures} failures)`
  if (ban.banned && ban.bannedUntil !== null) return `until ${new Date(ban.bannedUntil).toISOString().slice(11, 19)} (${ban.consecutiveFailures} failures)`
  return ban.consecutiveFailures > 0 ? `no (${ban.consecutiveFailures} failures)` : 'no'
}

export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')
  return `${[line(head), ...rows.map(line)].join('\n')}\n`
}

/**
 * A graph's progress for a terminal: `[#####-----] 12/25 ops  split 1/1 · prove 8/12 · ...  12s, ETA 9s`.
 * Fed with watch events; the ETA assumes the remaining ops go at the pace so far.
 */
export class Progress {
  private readonly started: number
  private readonly ops = new Map<string, { name: string; state: OpState }>()
  private graphState = 'running'

  constructor(started: number) {
    this.started = started
  }

  apply(event: WatchEvent): void {
    if (event.type === 'snapshot') {
      this.ops.clear()
      for (const op of event.status.ops) this.ops.set(op.id, { name: op.name, state: op.state })
      this.graphState = event.status.state
    } else if (event.type === 'graph') this.graphState = event.state
    else {
      const op = this.ops.get(event.opId)
      if (op !== undefined) op.state = event.state
    }
  }

  line(now: number, columns = 100): string {
    const total = this.ops.size
    let done = 0
    const stages = new Map<string, { done: number; total: number }>()
    for (const op of this.ops.values()) {
      const stage = stages.get(op.name) ?? { done: 0, total: 0 }
      stage.total++
      if (op.state === 'succeeded') {
        stage.done++
        done++
      }
      stages.set(op.name, stage)
    }
    const width = 20
    const filled = total === 0 ? 0 : Math.round((done / total) * width)
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`
    const elapsed = (now - this.started) / 1000
    const eta = done > 0 && done < total ? ` ETA ${formatSeconds((elapsed / done) * (total - done))}` : ''
    const byStage = [...stages].map(([name, s]) => `${name} ${s.done}/${s.total}`).join(' · ')
    const state = this.graphState === 'running' ? '' : ` ${this.graphState}`
    const text = `${bar} ${done}/${total} ops  ${byStage}  ${formatSeconds(elapsed)}${eta}${state}`
    return text.length > columns ? text.slice(0, Math.max(columns - 1, 10)) : text
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
}
