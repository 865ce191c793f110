import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

/** CPU time (user + system) a process has used so far, in ms; undefined where /proc cannot tell (not Linux, gone). */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name, which is in parentheses and may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return ((utime + stime) * 1000) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

/** The process ids of a process's children (Linux: /proc/<pid>/task/<pid>/children). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number)
  } catch {
    return []
  }
}

/** CPU ms per named group of processes, summed; for this process, `process.cpuUsage`. */
export function cpuSnapshot(groups: Record<string, number[]>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, pids] of Object.entries(groups)) out[name] = pids.reduce((sum, pid) => sum + (cpuMsOf(pid) ?? 0), 0)
  const self = process.cpuUsage()
  out['requester'] = (self.user + self.system) / 1000
  return out
}
