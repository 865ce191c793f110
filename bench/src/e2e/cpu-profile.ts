import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface ProfileSummary {
  file: string
  /** Whether only samples inside the window were counted (false: the whole profile). */
  windowed: boolean
  /** Time counted and time not idle in it (ms). */
  totalMs: number
  busyMs: number
  /** Self time by function, most first. */
  functions: Array<{ name: string; ms: number }>
  /** Self time by package or area (a node_modules package, a galactic package, node internals, GC), most first. */
  areas: Array<{ name: string; ms: number }>
  /** Time in galactic's own functions including what they call (each sample counted once per function), most first. */
  inclusive: Array<{ name: string; ms: number }>
}

/** Where a frame's code lives: `pino`, `@libp2p/yamux`, `galactic:oracle`, `node:internal/streams`, `(gc)`. */
function areaOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (nm?.[1] !== undefined) return nm[1]
  const g = /\/work\/main\/((?:plugins\/)?[^/]+)\/dist\//.exec(url) ?? /\/((?:plugins\/)?[a-z-]+)\/dist\/[^/]+\.js$/.exec(url)
  if (g?.[1] !== undefined) return `galactic:${g[1]}`
  const internal = /^node:(internal\/[^/]+|[^/]+)/.exec(url)
  if (internal?.[1] !== undefined) return `node:${internal[1]}`
  return url
}

/**
 * Self time per function and per area of a V8 `.cpuprofile`, counting only samples inside
 * `window` (µs on the monotonic clock, as `process.hrtime.bigint() / 1000n`; V8 stamps samples on
 * the same clock on Linux) when it overlaps the profile.
 */
export function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parentOf = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id)
  const self = new Map<number, number>()
  const windowed = window !== undefined && window.fromUs < profile.endTime && window.toUs > profile.startTime
  let t = profile.startTime
  let counted = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    t += delta
    if (windowed && (t < window.fromUs || t > window.toUs)) continue
    const id = profile.samples[i] as number
    self.set(id, (self.get(id) ?? 0) + delta)
    counted += delta
  }
  const nameOf = (frame: ProfileNode['callFrame']): string => {
    const short = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '')
    return `${frame.functionName || '(anonymous)'} ${short}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`
  }
  const fns = new Map<string, number>()
  const areas = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let idle = 0
  for (const [id, us] of self) {
    const frame = (byId.get(id) as ProfileNode).callFrame
    if (frame.functionName === '(idle)') {
      idle += us
      continue
    }
    const name = nameOf(frame)
    fns.set(name, (fns.get(name) ?? 0) + us)
    const area = areaOf(frame.url, frame.functionName)
    areas.set(area, (areas.get(area) ?? 0) + us)
    // Up the stack: every galactic function on it spent this sample, itself or in a callee.
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
      const f = (byId.get(cur) as ProfileNode).callFrame
      if (!areaOf(f.url, f.functionName).startsWith('galactic:')) continue
      const key = nameOf(f)
      if (seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + us)
    }
  }
  const sorted = (m: Map<string, number>, n = top): Array<{ name: string; ms: number }> =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10 }))
  const totalUs = windowed ? counted : profile.endTime - profile.startTime
  return { file, windowed, totalMs: Math.round(totalUs / 1000), busyMs: Math.round((totalUs - idle) / 1000), functions: sorted(fns), areas: sorted(areas), inclusive: sorted(inclusive, 2 * top) }
}

/** The profile a process with this pid wrote into `dir` (`<pid>.cpuprofile`, see cpu-prof-preload.ts). */
export function profileOf(dir: string, pid: number | undefined): string | undefined {
  if (pid === undefined) return undefined
  const file = readdirSync(dir).find((f) => f === `${pid}.cpuprofile`)
  return file === undefined ? undefined : join(dir, file)
}
