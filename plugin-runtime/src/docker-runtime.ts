import { Writable } from 'node:stream'
import Docker from 'dockerode'
import { GalacticError, LIMITS, pluginKey, type PluginManifest } from '@galactic/schemas'
import { DRAIN_MS, readyOrClose, StdioPluginInstance, type ExitDescription, type StdioInstanceOptions } from './stdio-instance.js'
import type { PluginLaunchOptions, PluginResources, PluginRuntime, PluginRuntimeComponents } from './types.js'

/** Label on every container: the agent that made it (see {@link DockerRuntime.cleanupStale}). */
export const AGENT_LABEL = 'galactic.agent'
/** Label on every container: the plugin it runs, `name@version`. */
export const PLUGIN_LABEL = 'galactic.plugin'

/** The default Docker socket. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

export interface DockerRuntimeInit {
  /** This agent's id, put on every container as label `galactic.agent` so a later run can remove leftovers. */
  agentId: string
  /** The Docker daemon's unix socket. @default '/var/run/docker.sock' */
  socketPath?: string
  /** Milliseconds between asking a plugin to stop (on `close()`) and killing its container. @default 2000 */
  closeGraceMs?: number
  /** How many of a plugin's last stderr lines go into a PLUGIN_FAILED error. @default 20 */
  stderrTailLines?: number
  /** Longest protocol line, each way, in bytes (as {@link ProcessRuntimeInit.maxMessageBytes}). @default LIMITS.maxMessageBytes */
  maxMessageBytes?: number
  /** The user the plugin runs as in its container; never root. @default '65534:65534' (nobody) */
  user?: string
  /**
   * Limits when neither the launch options nor the plugin's `describe` name them.
   * @default { cpuCores: 1, memoryMiB: 512 }
   */
  resources?: PluginResources
  /** Size of the writable tmpfs at /tmp in MiB (the rest of the filesystem is read-only). @default 64 */
  tmpfsMiB?: number
  /** Most processes/threads in one container. @default 256 */
  pidsLimit?: number
  /** Environment variables for every plugin container. @default {} */
  env?: Record<string, string>
  /** Milliseconds the `describe` of a new image may take before the runtime falls back to its default limits. @default 10000 */
  describeTimeoutMs?: number
}

export interface DockerRuntimeComponents extends PluginRuntimeComponents {
  /** A Docker client; by default one on `socketPath`. */
  docker?: Docker
}

type Settings = Required<Omit<DockerRuntimeInit, 'resources'>> & { resources: Required<PluginResources> }

/** Read through a call so the compiler doesn't assume `aborted` keeps the value it had before an await. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode
  return typeof code === 'number' ? code : undefined
}

/**
 * Runs each plugin instance in its own Docker container made from `manifest.runtime.image`,
 * speaking the plugin protocol over the container's attached stdin/stdout (stderr is logged).
 * The image is never pulled: it must be on the Docker host, and when the manifest names a
 * `digest` the image's id or one of its repo digests must equal it.
 *
 * Sandbox of every container: no network (`NetworkMode: 'none'`), read-only root filesystem with a
 * tmpfs at /tmp, a non-root user, all capabilities dropped, `no-new-privileges`, a pids limit, and
 * memory (no swap) and CPU limits taken from the launch options, else from the plugin's
 * `describe` (asked once per image, in a throwaway container), else from the runtime's defaults.
 * Containers carry the labels `galactic.agent` and `galactic.plugin` and are removed when they end.
 *
 * Refuses a manifest of another runtime type with INVALID_INPUT, a missing or mismatching image
 * with PLUGIN_NOT_FOUND; a container that cannot be made or started rejects PLUGIN_FAILED.
 *
 * @example
 * const runtime = new DockerRuntime({ agentId: 'agent-1', socketPath: '/var/run/docker.sock' })
 * await runtime.cleanupStale()
 * const host = new PluginHost({ plugins }, { runtimes: { process: new ProcessRuntime(), docker: runtime } })
 */
export class DockerRuntime implements PluginRuntime {
  readonly kind = 'docker'
  /** The Docker client this runtime uses. */
  readonly docker: Docker
  readonly #settings: Settings
  readonly #log: (line: string) => void
  /** Resources each image's plugin asks for in `describe`, by image id. */
  readonly #described = new Map<string, Promise<PluginResources>>()
  /** Containers of this runtime that are not removed yet. */
  readonly #live = new Set<string>()

  constructor(init: DockerRuntimeInit, components: DockerRuntimeComponents = {}) {
    if (init.agentId === '') throw new GalacticError('INVALID_INPUT', 'DockerRuntime needs an agentId')
    const socketPath = init.socketPath ?? DEFAULT_DOCKER_SOCKET
    this.#settings = {
      agentId: init.agentId,
      socketPath,
      closeGraceMs: init.closeGraceMs ?? 2000,
      stderrTailLines: init.stderrTailLines ?? 20,
      maxMessageBytes: init.maxMessageBytes ?? LIMITS.maxMessageBytes,
      user: init.user ?? '65534:65534',
      resources: { cpuCores: init.resources?.cpuCores ?? 1, memoryMiB: init.resources?.memoryMiB ?? 512 },
      tmpfsMiB: init.tmpfsMiB ?? 64,
      pidsLimit: init.pidsLimit ?? 256,
      env: init.env ?? {},
      describeTimeoutMs: init.describeTimeoutMs ?? 10_000,
    }
    this.docker = components.docker ?? new Docker({ socketPath })
    this.#log = components.log ?? (() => {})
  }

  /** The agent id on this runtime's containers. */
  get agentId(): string {
    return this.#settings.agentId
  }

  /**
   * Removes (killing if needed) every container labelled `galactic.agent=<agentId>`, except those
   * this runtime runs now: leftovers of a previous run of the agent. Call it when the agent starts.
   * Resolves how many were removed.
   */
  async cleanupStale(agentId: string = this.#settings.agentId): Promise<number> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [`${AGENT_LABEL}=${agentId}`] } })
    let removed = 0
    for (const info of containers) {
      if (this.#live.has(info.Id)) continue
      try {
        await this.docker.getContainer(info.Id).remove({ force: true })
        removed++
        this.#log(`docker: removed stale container ${info.Id.slice(0, 12)} (${info.Labels[PLUGIN_LABEL] ?? '?'})`)
      } catch (err) {
        if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err
      }
    }
    return removed
  }

  async launch(manifest: PluginManifest, _manifestDir: string, signal?: AbortSignal, options?: PluginLaunchOptions): Promise<DockerPluginInstance> {
    const key = pluginKey(manifest)
    if (manifest.runtime.type !== 'docker') {
      throw new GalacticError('INVALID_INPUT', `plugin ${key}: runtime ${manifest.runtime.type} is not served by the docker runtime`, {
        plugin: key,
        runtime: manifest.runtime.type,
      })
    }
    if (isAborted(signal)) throw new GalacticError('ABORTED', `launch of ${key} aborted`)
    const imageId = await this.#resolveImage(key, manifest.runtime.image, manifest.runtime.digest)
    const wanted = options?.resources ?? {}
    let described: PluginResources = {}
    if (wanted.cpuCores === undefined || wanted.memoryMiB === undefined) described = await this.#describe(manifest, imageId, signal)
    const resources: Required<PluginResources> = {
      cpuCores: wanted.cpuCores ?? described.cpuCores ?? this.#settings.resources.cpuCores,
      memoryMiB: wanted.memoryMiB ?? described.memoryMiB ?? this.#settings.resources.memoryMiB,
    }
    return this.#start(manifest, imageId, resources, signal)
  }

  /** The image's id; PLUGIN_NOT_FOUND when it is missing or its digest is not the manifest's. */
  async #resolveImage(key: string, image: string, digest: string | undefined): Promise<string> {
    let info: Docker.ImageInspectInfo
    try {
      info = await this.docker.getImage(image).inspect()
    } catch (err) {
      if (statusCode(err) === 404) {
        throw new GalacticError('PLUGIN_NOT_FOUND', `plugin ${key}: image ${image} is not on the Docker host (images are never pulled)`, {
          plugin: key,
          image,
        })
      }
      throw new GalacticError('PLUGIN_FAILED', `plugin ${key}: cannot inspect image ${image}: ${(err as Error).message}`, { plugin: key, image }, { cause: err })
    }
    if (digest !== undefined) {
      const repoDigests = info.RepoDigests ?? []
      if (info.Id !== digest && !repoDigests.some((d) => d.endsWith(`@${digest}`))) {
        throw new GalacticError(
          'PLUGIN_NOT_FOUND',
          `plugin ${key}: image ${image} is ${info.Id}, not the ${digest} its manifest requires`,
          { plugin: key, image, expectedDigest: digest, imageId: info.Id, repoDigests },
        )
      }
    }
    return info.Id
  }

  /** What the plugin in this image asks for, from its `describe` in a throwaway container; {} when it cannot say. */
  #describe(manifest: PluginManifest, imageId: string, signal: AbortSignal | undefined): Promise<PluginResources> {
    let cached = this.#described.get(imageId)
    if (cached === undefined) {
      cached = this.#probe(manifest, imageId)
      this.#described.set(imageId, cached)
    }
    if (signal === undefined) return cached
    const key = pluginKey(manifest)
    return new Promise<PluginResources>((resolve, reject) => {
      const abort = (): void => reject(new GalacticError('ABORTED', `launch of ${key} aborted`))
      if (signal.aborted) return abort()
      signal.addEventListener('abort', abort, { once: true })
      void (cached as Promise<PluginResources>).then((r) => {
        signal.removeEventListener('abort', abort)
        resolve(r)
      })
    })
  }

  async #probe(manifest: PluginManifest, imageId: string): Promise<PluginResources> {
    const key = pluginKey(manifest)
    let instance: DockerPluginInstance | undefined
    try {
      instance = await this.#start(manifest, imageId, this.#settings.resources)
      const info = await instance.describe(AbortSignal.timeout(this.#settings.describeTimeoutMs))
      const resources: PluginResources = {}
      if (info.resources.cpuCores !== undefined) resources.cpuCores = info.resources.cpuCores
      if (info.resources.memoryMiB !== undefined) resources.memoryMiB = info.resources.memoryMiB
      this.#log(`docker: ${key} (${imageId.slice(7, 19)}) asks for ${JSON.stringify(resources)}`)
      return resources
    } catch (err) {
      this.#log(`docker: ${key}: describe failed, using default limits: ${(err as Error).message}`)
      return {}
    } finally {
      await instance?.close()
    }
  }

  async #start(manifest: PluginManifest, imageId: string, resources: Required<PluginResources>, signal?: AbortSignal): Promise<DockerPluginInstance> {
    const key = pluginKey(manifest)
    const s = this.#settings
    const memory = Math.round(resources.memoryMiB * 1024 * 1024)
    let container: Docker.Container
    try {
      container = await this.docker.createContainer({
        Image: imageId,
        User: s.user,
        Env: Object.entries(s.env).map(([k, v]) => `${k}=${v}`),
        Labels: { [AGENT_LABEL]: s.agentId, [PLUGIN_LABEL]: key },
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        OpenStdin: true,
        StdinOnce: true,
        Tty: false,
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          Memory: memory,
          MemorySwap: memory,
          NanoCpus: Math.round(resources.cpuCores * 1e9),
          PidsLimit: s.pidsLimit,
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${s.tmpfsMiB}m` },
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          AutoRemove: false,
          RestartPolicy: { Name: 'no' },
        },
      })
    } catch (err) {
      throw new GalacticError('PLUGIN_FAILED', `plugin ${key}: cannot create its container: ${(err as Error).message}`, { plugin: key }, { cause: err })
    }
    this.#live.add(container.id)
    const instance = new DockerPluginInstance(manifest, this.docker, container, resources, {
      closeGraceMs: s.closeGraceMs,
      stderrTailLines: s.stderrTailLines,
      maxMessageBytes: s.maxMessageBytes,
      log: this.#log,
    })
    void instance.exited.then(() => this.#live.delete(container.id))
    return readyOrClose(instance, key, signal)
  }
}

/** One plugin container. Made by {@link DockerRuntime.launch}; removed when it ends. */
export class DockerPluginInstance extends StdioPluginInstance {
  /** The container's id. */
  readonly containerId: string
  /** The limits the container runs with. */
  readonly resources: Required<PluginResources>
  readonly #docker: Docker
  readonly #container: Docker.Container
  #stream: NodeJS.ReadWriteStream | undefined
  #exit: { code: number | null; oomKilled: boolean } | undefined
  #killing = false
  #removal: Promise<boolean> | undefined

  constructor(manifest: PluginManifest, docker: Docker, container: Docker.Container, resources: Required<PluginResources>, opts: StdioInstanceOptions) {
    super(manifest, opts)
    this.#docker = docker
    this.#container = container
    this.containerId = container.id
    this.resources = resources
    void this.#boot()
  }

  protected override get instanceId(): string {
    return this.containerId.slice(0, 12)
  }

  protected override get inputOpen(): boolean {
    const stream = this.#stream as (NodeJS.ReadWriteStream & { writableEnded?: boolean; destroyed?: boolean }) | undefined
    return stream !== undefined && stream.writableEnded !== true && stream.destroyed !== true
  }

  protected override writeLine(line: string): void {
    this.#stream?.write(line)
  }

  protected override endInput(): void {
    this.#stream?.end()
  }

  /** Kills and removes the container (`remove --force`); #watch() then finalizes. */
  protected override kill(): void {
    if (this.#killing || this.finalized) return
    this.#killing = true
    void this.#remove().then((removed) => {
      this.markExited()
      // #watch() finalizes once its wait returns; if the daemon never answers it, don't hang.
      setTimeout(() => this.finalize(), removed ? 5 * DRAIN_MS : 0).unref()
    })
  }

  protected override describeExit(): ExitDescription {
    const exit = this.#exit
    const details = { exitCode: exit?.code ?? null, oomKilled: exit?.oomKilled ?? false, containerId: this.containerId }
    if (exit === undefined) return { how: this.#killing ? 'was killed' : 'stopped', details }
    if (exit.oomKilled) return { how: `was killed: out of memory (limit ${this.resources.memoryMiB} MiB)`, details }
    if (exit.code === 137) return { how: 'was killed (exit code 137)', details }
    return { how: `exited with code ${exit.code}`, details }
  }

  async #boot(): Promise<void> {
    let stream: NodeJS.ReadWriteStream
    try {
      stream = await this.#container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })
      this.#stream = stream
      const drained = new Promise<void>((resolve) => {
        stream.on('end', resolve)
        stream.on('close', resolve)
        stream.on('error', (err) => {
          this.opts.log(`${this.key}[${this.instanceId}]: attach stream: ${err.message}`)
          resolve()
        })
      })
      this.#docker.modem.demuxStream(stream, sink((chunk) => this.pushStdout(chunk)), sink((chunk) => this.pushStderr(chunk)))
      void drained.then(() => this.endStderr())
      await this.#container.start()
      this.markReady()
      void this.#watch(drained)
    } catch (err) {
      this.markStartFailed(new GalacticError('PLUGIN_FAILED', `plugin ${this.key} could not start: ${(err as Error).message}`, { plugin: this.key }))
      ;(this.#stream as { destroy?: () => void } | undefined)?.destroy?.()
      await this.#remove()
    }
  }

  /** Waits for the container to stop, reads why, removes it and finalizes. */
  async #watch(drained: Promise<void>): Promise<void> {
    let code: number | null = null
    try {
      const result = (await this.#container.wait({ condition: 'not-running' })) as { StatusCode?: number }
      code = typeof result.StatusCode === 'number' ? result.StatusCode : null
    } catch (err) {
      if (statusCode(err) !== 404) this.opts.log(`${this.key}[${this.instanceId}]: wait: ${(err as Error).message}`)
    }
    let oomKilled = false
    try {
      const info = await this.#container.inspect()
      oomKilled = info.State.OOMKilled
      if (code === null) code = info.State.ExitCode
    } catch {
      // Removed already (killed).
    }
    this.#exit = { code, oomKilled }
    this.markExited()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))])
    clearTimeout(timer)
    ;(this.#stream as { destroy?: () => void } | undefined)?.destroy?.()
    await this.#remove()
    this.finalize()
  }

  /** Removes the container (killing it if it runs), once; resolves whether it is gone. */
  #remove(): Promise<boolean> {
    this.#removal ??= (async () => {
      try {
        await this.#container.remove({ force: true })
        return true
      } catch (err) {
        const code = statusCode(err)
        if (code === 404) return true
        if (code === 409) {
          // Someone else is removing it (cleanupStale): wait until it is gone.
          await this.#container.wait({ condition: 'removed' }).catch(() => {})
          return true
        }
        this.opts.log(`${this.key}[${this.instanceId}]: cannot remove container: ${(err as Error).message}`)
        return false
      }
    })()
    return this.#removal
  }
}

function sink(onChunk: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      onChunk(chunk)
      callback()
    },
  })
}
