import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { GalacticError, type PluginManifest } from '@galactic/schemas'
import { buildPluginImage, dockerManifest, ensureNodeBaseImage, writeScriptPlugin, type BuiltImage } from '../../test/docker/images.js'
import { DockerPluginInstance, DockerRuntime, type PluginInstance } from '../src/index.js'
import type { ComplianceRuntimeOptions, ComplianceTarget } from './compliance.js'

/** Images built for one Docker daemon, shared by the tests of a file: each plugin is built once. */
export class TestImages {
  readonly docker: Docker
  readonly #scratch = mkdtempSync(join(tmpdir(), 'galactic-docker-test-'))
  readonly #built = new Map<string, Promise<BuiltImage>>()
  #base: Promise<BuiltImage> | undefined
  /** Milliseconds spent building images, by tag (reported by the tests' log). */
  readonly buildMs = new Map<string, number>()

  constructor(docker: Docker) {
    this.docker = docker
  }

  base(): Promise<BuiltImage> {
    this.#base ??= this.#timed('node-base', () => ensureNodeBaseImage(this.docker))
    return this.#base
  }

  /** The plugin package at `dir` as a docker manifest (image built once, pinned by its id). */
  async plugin(plugin: { manifest: PluginManifest; dir: string }): Promise<{ manifest: PluginManifest; dir: string }> {
    const tag = `galactic-test/${plugin.manifest.name}:${plugin.manifest.version}`
    let image = this.#built.get(tag)
    if (image === undefined) {
      image = this.#timed(tag, async () => buildPluginImage(this.docker, plugin.dir, tag, { base: (await this.base()).tag }))
      this.#built.set(tag, image)
    }
    return { manifest: dockerManifest(plugin.manifest, await image), dir: plugin.dir }
  }

  /** A script plugin (see `writeScriptPlugin`) as a docker manifest. */
  async script(name: string, source: string): Promise<{ manifest: PluginManifest; dir: string }> {
    const dir = writeScriptPlugin(join(this.#scratch, name), source)
    const manifest: PluginManifest = { name, version: '0.0.1', ops: ['work'], runtime: { type: 'process', command: ['node', 'dist/main.js'] } }
    return this.plugin({ manifest, dir })
  }

  close(): void {
    rmSync(this.#scratch, { recursive: true, force: true })
  }

  async #timed(what: string, build: () => Promise<BuiltImage>): Promise<BuiltImage> {
    const t0 = performance.now()
    const image = await build()
    this.buildMs.set(what, Math.round(performance.now() - t0))
    return image
  }
}

function containerOf(instance: PluginInstance): string {
  if (!(instance instanceof DockerPluginInstance)) throw new GalacticError('INTERNAL', 'not a docker instance')
  return instance.containerId
}

/** Whether a container (by id) still exists. */
export async function containerExists(docker: Docker, id: string): Promise<boolean> {
  try {
    await docker.getContainer(id).inspect()
    return true
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false
    throw err
  }
}

/** The compliance target for {@link DockerRuntime}: plugins and scripts become images built FROM the node base. */
export function dockerTarget(images: () => TestImages, agentId: string, options: ComplianceRuntimeOptions): ComplianceTarget {
  const built = images()
  return {
    runtime: new DockerRuntime({ agentId, ...options }, { docker: built.docker }),
    prepare: (plugin) => built.plugin(plugin),
    prepareScript: (name, source) => built.script(name, source),
    crash: async (instance) => {
      await built.docker.getContainer(containerOf(instance)).kill()
      await (instance as DockerPluginInstance).exited
    },
    exists: (instance) => containerExists(built.docker, containerOf(instance)),
  }
}
