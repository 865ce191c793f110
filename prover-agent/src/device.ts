import { execFile } from 'node:child_process'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { DeviceDescriptor, GalacticError, pluginKey, type CpuArch, type Gpu, type OsType, type PluginRef } from '@galactic/schemas'

export interface DetectDeviceOptions {
  /** The nvidia-smi executable (a path or a name on PATH). @default 'nvidia-smi' */
  nvidiaSmi?: string
  /** How long nvidia-smi may take before it counts as absent. @default 10000 */
  nvidiaSmiTimeoutMs?: number
}

const OS: Partial<Record<NodeJS.Platform, OsType>> = { linux: 'linux', darwin: 'darwin', win32: 'windows' }
const ARCH: Partial<Record<string, CpuArch>> = { x64: 'x64', arm64: 'arm64' }
const MiB = 1024 * 1024

/**
 * Describes this machine as the agent reports it when it registers: OS, CPU, memory, NVIDIA GPUs
 * (from `nvidia-smi`, when present; otherwise none) and the given plugins. Rejects INTERNAL on an
 * OS or CPU architecture the descriptor cannot express.
 *
 * @example
 * const device = await detectDevice(host.offered())
 */
export async function detectDevice(plugins: PluginRef[], opts: DetectDeviceOptions = {}): Promise<DeviceDescriptor> {
  const os = OS[process.platform]
  if (os === undefined) throw new GalacticError('INTERNAL', `unsupported operating system ${process.platform}`)
  const arch = ARCH[process.arch]
  if (arch === undefined) throw new GalacticError('INTERNAL', `unsupported CPU architecture ${process.arch}`)
  const cpuList = cpus()
  const model = (cpuList[0]?.model ?? '').trim().replace(/\s+/g, ' ').slice(0, 256) || 'unknown'
  const cores = Math.max(1, Math.min(65_536, availableParallelism()))
  const memoryMiB = Math.max(1, Math.floor(totalmem() / MiB))
  const gpus = parseNvidiaSmi(await runNvidiaSmi(opts.nvidiaSmi ?? 'nvidia-smi', opts.nvidiaSmiTimeoutMs ?? 10_000))
  const unique = new Map<string, PluginRef>()
  for (const p of plugins) unique.set(pluginKey(p), { name: p.name, version: p.version })
  return DeviceDescriptor.parse({ os, cpu: { model, arch, cores }, gpus, memoryMiB, plugins: [...unique.values()] })
}

/** nvidia-smi's output, or '' when it is missing, fails or hangs. Never rejects. */
function runNvidiaSmi(command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    try {
      execFile(
        command,
        ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'],
        { timeout: timeoutMs, windowsHide: true, maxBuffer: 1024 * 1024 },
        (err, stdout) => resolve(err === null ? stdout : ''),
      ).on('error', () => resolve(''))
    } catch {
      resolve('')
    }
  })
}

/**
 * Parses `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`: one GPU per
 * line, `name, memoryMiB`. The last comma separates the memory, so a name with commas survives;
 * a memory that is not a number (`[N/A]`) counts as 0; lines without a comma or a name (blank
 * lines, messages such as "No devices were found") are skipped; at most 64 GPUs.
 *
 * @example
 * parseNvidiaSmi('NVIDIA H100 80GB HBM3, 81559\n') // [{ vendor: 'nvidia', model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 }]
 */
export function parseNvidiaSmi(text: string): Gpu[] {
  const gpus: Gpu[] = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '') continue
    const comma = line.lastIndexOf(',')
    if (comma === -1) continue // not a GPU row, e.g. "No devices were found"
    const name = line.slice(0, comma).trim().slice(0, 128)
    if (name === '') continue
    const mem = line.slice(comma + 1).trim().replace(/\s*MiB$/i, '')
    const memoryMiB = /^\d+(\.\d+)?$/.test(mem) ? Math.min(16 * MiB, Math.floor(Number(mem))) : 0
    gpus.push({ vendor: 'nvidia', model: name, memoryMiB })
    if (gpus.length === 64) break
  }
  return gpus
}
