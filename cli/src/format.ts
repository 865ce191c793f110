import type { GraphStatus, OpState, WatchEvent } from '@galactic/sdk'

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
  const head = ['OP', 'NAME', 'STATE', 'TRY', 'PROVER', 'TIME', 'OUTPUT']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')
  return [line(head), ...rows.map(line)].join('\n')
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
