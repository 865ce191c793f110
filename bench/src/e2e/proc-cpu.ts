import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

/** CPU time a process has used so far in user and in kernel (system) mode, in ms; undefined where /proc cannot tell (not Linux, gone). */
export function cpuTimesOf(pid: number): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name, which is in parentheses and may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { user: (Number(fields[11]) * 1000) / TICKS_PER_SECOND, system: (Number(fields[12]) * 1000) / TICKS_PER_SECOND }
  } catch {
    return undefined
  }
}

/** CPU time (user + system) a process has used so far, in ms; undefined where /proc cannot tell. */
export function cpuMsOf(pid: number): number | undefined {
  const t = cpuTimesOf(pid)
  return t === undefined ? undefined : t.user + t.system
}

/** The process ids of a process's children (Linux: /proc/<pid>/task/<pid>/children). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number)
  } catch {
    return []
  }
}

export type CpuTimes = Record<string, { user: number; system: number }>

/** CPU ms (user and system) per named group of processes, summed; for this process, `process.cpuUsage`. */
export function cpuSnapshot(groups: Record<string, number[]>): CpuTimes {
  const out: CpuTimes = {}
  for (const [name, pids] of Object.entries(groups)) {
    out[name] = pids.reduce(
      (sum, pid) => {
        const t = cpuTimesOf(pid)
        return t === undefined ? sum : { user: sum.user + t.user, system: sum.system + t.system }
      },
      { user: 0, system: 0 },
    )
  }
  const self = process.cpuUsage()
  out['requester'] = { user: self.user / 1000, system: self.system / 1000 }
  return out
}

/** CPU ms per group between two snapshots: in all (user + system) and in the kernel (system), rounded. */
export function cpuSpent(before: CpuTimes, after: CpuTimes): { total: Record<string, number>; system: Record<string, number> } {
  const spent = (k: string, mode: 'user' | 'system'): number => (after[k]?.[mode] ?? 0) - (before[k]?.[mode] ?? 0)
  const keys = Object.keys(after)
  return {
    total: Object.fromEntries(keys.map((k) => [k, Math.round(spent(k, 'user') + spent(k, 'system'))])),
    system: Object.fromEntries(keys.map((k) => [k, Math.round(spent(k, 'system'))])),
  }
}
