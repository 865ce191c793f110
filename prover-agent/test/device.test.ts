import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DeviceDescriptor } from '@galactic/schemas'
import { detectDevice, parseNvidiaSmi } from '../src/device.js'

describe('parseNvidiaSmi', () => {
  it('parses one GPU per line', () => {
    expect(parseNvidiaSmi('NVIDIA H100 80GB HBM3, 81559\nNVIDIA GeForce RTX 4090, 24564\n')).toEqual([
      { vendor: 'nvidia', model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
      { vendor: 'nvidia', model: 'NVIDIA GeForce RTX 4090', memoryMiB: 24564 },
    ])
  })

  it('copes with CRLF, blank lines, units, N/A memory, commas in names and non-GPU messages', () => {
    expect(parseNvidiaSmi('\r\n  Tesla T4 , 15360 MiB\r\n\r\nWeird, Name, 1024\nGRID, [N/A]\nNo devices were found\n, 12\n')).toEqual([
      { vendor: 'nvidia', model: 'Tesla T4', memoryMiB: 15360 },
      { vendor: 'nvidia', model: 'Weird, Name', memoryMiB: 1024 },
      { vendor: 'nvidia', model: 'GRID', memoryMiB: 0 },
    ])
    expect(parseNvidiaSmi('')).toEqual([])
  })

  it('keeps at most 64 GPUs and 128-character names', () => {
    const many = parseNvidiaSmi(Array.from({ length: 70 }, (_, i) => `${'G'.repeat(200)}${i}, 100`).join('\n'))
    expect(many).toHaveLength(64)
    expect(many[0]?.model).toHaveLength(128)
  })
})

describe('detectDevice', () => {
  let tmp = ''
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'galactic-device-test-'))
  })
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  function script(name: string, body: string): string {
    const path = join(tmp, name)
    writeFileSync(path, `#!/bin/sh\n${body}\n`)
    chmodSync(path, 0o755)
    return path
  }

  const plugins = [
    { name: 'sha256-chain', version: '1.0.0' },
    { name: 'sha256-chain', version: '1.0.0' },
    { name: 'other', version: '2.0.0' },
  ]

  it('reports this machine and the GPUs nvidia-smi lists', async () => {
    const smi = script('nvidia-smi', `[ "$1" = "--query-gpu=name,memory.total" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 9\necho "NVIDIA H100 80GB HBM3, 81559"`)
    const device = await detectDevice(plugins, { nvidiaSmi: smi })
    expect(DeviceDescriptor.safeParse(device).success).toBe(true)
    expect(device.gpus).toEqual([{ vendor: 'nvidia', model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 }])
    expect(device.os).toBe(process.platform === 'darwin' ? 'darwin' : 'linux')
    expect(device.cpu.arch).toBe(process.arch)
    expect(device.cpu.cores).toBeGreaterThanOrEqual(1)
    expect(device.cpu.model).toBe(cpus()[0]?.model.trim().replace(/\s+/g, ' ') || 'unknown')
    expect(device.memoryMiB).toBeGreaterThan(0)
    expect(device.plugins).toEqual([plugins[0], plugins[2]])
  })

  it('no GPUs when nvidia-smi is missing or fails', async () => {
    expect((await detectDevice([], { nvidiaSmi: join(tmp, 'does-not-exist') })).gpus).toEqual([])
    const failing = script('failing-smi', 'echo "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver"; exit 9')
    expect((await detectDevice([], { nvidiaSmi: failing })).gpus).toEqual([])
    const slow = script('slow-smi', 'sleep 5; echo "X, 1"')
    // Had the timeout not cut it off, the slow script would have reported a GPU "X".
    expect((await detectDevice([], { nvidiaSmi: slow, nvidiaSmiTimeoutMs: 200 })).gpus).toEqual([])
  })
})
