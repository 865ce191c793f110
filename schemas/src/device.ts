import { z } from 'zod'

export const OsType = z.enum(['linux', 'darwin', 'windows'])
export type OsType = z.infer<typeof OsType>

export const CpuArch = z.enum(['x64', 'arm64'])
export type CpuArch = z.infer<typeof CpuArch>

export const GpuVendor = z.enum(['nvidia', 'amd', 'intel', 'apple'])
export type GpuVendor = z.infer<typeof GpuVendor>

/** A plugin by name and exact version, e.g. `{ name: 'sha256-chain', version: '1.0.0' }`. */
export const PluginRef = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lowercase letters, digits and dashes, at most 64'),
  version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a semantic version such as 1.0.0').max(64),
})
export type PluginRef = z.infer<typeof PluginRef>

export function pluginKey(ref: PluginRef): string {
  return `${ref.name}@${ref.version}`
}

export const Gpu = z.strictObject({
  vendor: GpuVendor,
  model: z.string().min(1).max(128),
  memoryMiB: z.int().min(0).max(16 * 1024 * 1024),
})
export type Gpu = z.infer<typeof Gpu>

/** What a prover agent runs on, as it reports it when it registers. */
export const DeviceDescriptor = z.strictObject({
  os: OsType,
  cpu: z.strictObject({
    model: z.string().max(256),
    arch: CpuArch,
    cores: z.int().min(1).max(65_536),
  }),
  gpus: z.array(Gpu).max(64),
  memoryMiB: z.int().min(1).max(1 << 30),
  plugins: z.array(PluginRef).max(256),
})
export type DeviceDescriptor = z.infer<typeof DeviceDescriptor>
