import type { DeviceDescriptor } from '@galactic/schemas'

/** The device every simulated agent of the oracle-scale bench registers: a CPU prover with one plugin. */
export const SIM_DEVICE: DeviceDescriptor = {
  os: 'linux',
  cpu: { model: 'bench-sim', arch: 'x64', cores: 16 },
  gpus: [],
  memoryMiB: 32_768,
  plugins: [{ name: 'noop', version: '1.0.0' }],
}
