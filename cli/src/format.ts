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
  const lines = why.rejections.filter((r) => r.count > 0).map((r) => `  ${r.plugin}: rejected ${r.count} prover(s): ${r.reasons.join('; ')}`)
  if (why.state !== 'ready') return `${head}\n`
  return `${head}\n${lines.length > 0 ? lines.join('\n') : '  no plugin rejected any prover: it will be placed on the next free slot'}\n`
}

/** The provers table for a terminal. */
export function proversTable(provers: ProverStatus[]): string {
  const rows = provers.map((p) => [
    p.proverId,
    p.state + (p.connected ? '' : ' (disconnected)'),
    `${p.running.length}/${p.slots}`,
    `${p.device.os}/${p.device.cpu.arch} ${p.device.cpu.cores} cores ${Math.round(p.device.memoryMiB / 1024)} GiB`,
    p.device.gpus.length > 0 ? p.device.gpus.map((g) => `${g.vendor} ${g.model}`).join(', ') : '-',
    p.device.plugins.map((x) => `${x.name}@${x.version}`).join(','),
  ])
  return table(['PROVER', 'STATE', 'BUSY', 'DEVICE', 'GPUS', 'PLUGINS'], rows)
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')
  return `${[line(head), ...rows.map(line)].join('\n')}\n`
}
