import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GalacticError, type PluginManifest } from '@galactic/schemas'
import { writeScriptPlugin } from '../../test/docker/images.js'
import { ProcessPluginInstance, ProcessRuntime, type PluginInstance } from '../src/index.js'
import type { ComplianceRuntimeOptions, ComplianceTarget } from './compliance.js'

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function pidOf(instance: PluginInstance): number | undefined {
  if (!(instance instanceof ProcessPluginInstance)) throw new GalacticError('INTERNAL', 'not a process instance')
  return instance.pid
}

/** The compliance target for {@link ProcessRuntime}: plugins run from their folders, scripts from a temp folder. */
export function processTarget(options: ComplianceRuntimeOptions): ComplianceTarget {
  const scratch = mkdtempSync(join(tmpdir(), 'galactic-compliance-'))
  return {
    runtime: new ProcessRuntime(options),
    prepare: async (plugin) => plugin,
    prepareScript: async (name, source) => {
      const dir = writeScriptPlugin(join(scratch, name), source)
      const manifest: PluginManifest = { name, version: '0.0.1', ops: ['work'], runtime: { type: 'process', command: ['node', 'dist/main.js'] } }
      return { manifest, dir }
    },
    crash: async (instance) => {
      process.kill(pidOf(instance) ?? 0, 'SIGKILL')
      await (instance as ProcessPluginInstance).exited
    },
    exists: async (instance) => alive(pidOf(instance)),
    close: async () => rmSync(scratch, { recursive: true, force: true }),
  }
}
