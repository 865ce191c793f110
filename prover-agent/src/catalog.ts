import { createHash } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type Docker from 'dockerode'
import type { Logger } from 'pino'
import { fetchBlob, FramedStream, type Libp2p, type Multiaddr, type PeerId } from '@galactic/net'
import { followDockerProgress, type InstalledPlugin } from '@galactic/plugin-runtime'
import {
  CATALOG_PROTOCOL,
  CatalogReply,
  GalacticError,
  PluginManifest,
  pluginKey,
  type Catalog,
  type CatalogEntry,
  type CatalogRequest,
  type ContentHash,
  type DeviceDescriptor,
} from '@galactic/schemas'

/**
 * The agent's side of the plugin catalog: fetch the oracle's catalog, keep the plugins this device
 * can run, make sure each one's image (by its pinned id) is in the local Docker daemon — already
 * there, pulled from its registry, or loaded from the archive the oracle serves — and turn them
 * into manifests for the PluginHost.
 */

/** Asks the oracle for its catalog over `/galactic/catalog/1.0.0`. Rejects with the oracle's error, or CONNECTION_CLOSED. */
export async function fetchCatalog(node: Libp2p, oracle: PeerId | Multiaddr, options: { signal?: AbortSignal } = {}): Promise<Catalog> {
  let stream
  try {
    stream = await node.dialProtocol(oracle, CATALOG_PROTOCOL, options)
  } catch (err) {
    throw new GalacticError('CONNECTION_CLOSED', `cannot open a catalog stream: ${(err as Error).message}`, undefined, { cause: err })
  }
  const framed = new FramedStream<CatalogReply, CatalogRequest>(stream, CatalogReply, 'catalog reply')
  try {
    await framed.send({ type: 'list' }, options)
    const reply = await framed.read(options)
    if (!reply.ok) throw GalacticError.fromObject(reply.error)
    return reply.catalog
  } finally {
    await framed.close()
  }
}

/** Why this device cannot run the plugin, or undefined when it can. */
export function unfitReason(entry: CatalogEntry, device: DeviceDescriptor): string | undefined {
  const r = entry.resources
  if (r.gpu === true && device.gpus.length === 0) return 'it needs a GPU and this device has none'
  if (r.memoryMiB !== undefined && r.memoryMiB > device.memoryMiB) return `it needs ${r.memoryMiB} MiB of memory and this device has ${device.memoryMiB}`
  if (r.cpuCores !== undefined && r.cpuCores > device.cpu.cores) return `it needs ${r.cpuCores} CPU cores and this device has ${device.cpu.cores}`
  return undefined
}

/** The image operations the catalog needs from a Docker daemon (see {@link dockerImages}). */
export interface ImageDaemon {
  /** The id of the image named `ref` (a name:tag or an id), or undefined when the daemon has none. */
  imageId(ref: string): Promise<string | undefined>
  /** Every image id the daemon has. */
  imageIds(): Promise<Set<string>>
  /** Pulls `ref` from its registry; rejects when it cannot (no registry, timeout via `signal`). */
  pull(ref: string, signal: AbortSignal): Promise<void>
  /** Loads a `docker save` archive; resolves the ids of the images it loaded. */
  load(file: string): Promise<string[]>
  /** Removes an image by id (and its tags). */
  remove(id: string): Promise<void>
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode
  return typeof code === 'number' ? code : undefined
}


/** An {@link ImageDaemon} over a dockerode client. */
export function dockerImages(docker: Docker): ImageDaemon {
  const imageId = async (ref: string): Promise<string | undefined> => {
    try {
      return (await docker.getImage(ref).inspect()).Id
    } catch (err) {
      if (statusCode(err) === 404) return undefined
      throw err
    }
  }
  return {
    imageId,
    imageIds: async () => new Set((await docker.listImages({ all: true })).map((i) => i.Id)),
    pull: async (ref, signal) => {
      const stream = (await docker.pull(ref, { abortSignal: signal })) as NodeJS.ReadableStream
      await followDockerProgress(docker, stream)
    },
    load: async (file) => {
      const { createReadStream } = await import('node:fs')
      const stream = await docker.loadImage(createReadStream(file), { quiet: true })
      const output = await followDockerProgress(docker, stream)
      const ids: string[] = []
      for (const line of output.flatMap((o) => (o.stream ?? '').split('\n'))) {
        const byId = /^Loaded image ID: (sha256:[0-9a-f]{64})/.exec(line.trim())
        const byTag = /^Loaded image: (.+)$/.exec(line.trim())
        if (byId?.[1] !== undefined) ids.push(byId[1])
        else if (byTag?.[1] !== undefined) {
          const id = await imageId(byTag[1])
          if (id !== undefined) ids.push(id)
        }
      }
      return [...new Set(ids)]
    },
    remove: async (id) => {
      await docker.getImage(id).remove({ force: true })
    },
  }
}

export interface CatalogPluginsInit {
  /** Where archives are staged while they download (`<agent dataDir>/catalog`). */
  dir: string
  /** This device: plugins it cannot run are not offered. */
  device: DeviceDescriptor
  /** `name@version` of the agent's local plugins: a local plugin wins over a catalog one. @default none */
  local?: Iterable<string>
  /** How long a registry pull may take before the archive is used instead. @default 10_000 */
  pullTimeoutMs?: number
  /** How long one archive chunk may take to arrive. @default 120_000 */
  chunkTimeoutMs?: number
}

export interface CatalogPluginsComponents {
  images: ImageDaemon
  /** Fetches one blob by hash and checks its hash (e.g. `fetchBlob` from the oracle). */
  fetchChunk: (hash: ContentHash, signal: AbortSignal) => Promise<Uint8Array>
  log: Logger
  signal?: AbortSignal
}

/** A catalog plugin this agent does not offer, and why. */
export interface RefusedPlugin {
  plugin: string
  reason: string
}

/**
 * Installs the catalog's plugins that this device can run and resolves them as PluginHost
 * entries (docker manifests pinning the catalog's digest), plus those it refused and why. For each
 * plugin: the image with the catalog's digest if the daemon has it; else a pull of `image.ref`
 * (bounded by `pullTimeoutMs`) if it yields that digest; else the archive from the oracle, chunk by
 * chunk (each chunk's hash checked by `fetchChunk`, then the whole archive's hash and size), loaded
 * into the daemon. An image whose id is not the catalog's digest is refused (logged with both) and
 * removed if this call brought it in. Never rejects for one plugin: a refused plugin is not offered.
 */
export async function installCatalogPlugins(
  catalog: Catalog,
  init: CatalogPluginsInit,
  components: CatalogPluginsComponents,
): Promise<{ plugins: InstalledPlugin[]; refused: RefusedPlugin[] }> {
  const local = new Set(init.local ?? [])
  const plugins: InstalledPlugin[] = []
  const refused: RefusedPlugin[] = []
  for (const entry of catalog.plugins) {
    const key = pluginKey(entry)
    const log = components.log.child({ plugin: key })
    if (local.has(key)) {
      log.info('a local plugin of the same name and version is offered instead of the catalog one')
      continue
    }
    const unfit = unfitReason(entry, init.device)
    if (unfit !== undefined) {
      log.info({ reason: unfit }, 'catalog plugin not offered: this device cannot run it')
      refused.push({ plugin: key, reason: unfit })
      continue
    }
    try {
      const image = await ensureImage(entry, init, components, log)
      const manifest = PluginManifest.parse({
        name: entry.name,
        version: entry.version,
        ...(entry.description === undefined ? {} : { description: entry.description }),
        ops: entry.ops,
        runtime: { type: 'docker', image, digest: entry.image.digest },
      })
      plugins.push({ manifest, dir: init.dir })
      log.info({ image, digest: entry.image.digest }, 'catalog plugin offered')
    } catch (err) {
      if (components.signal?.aborted === true) throw new GalacticError('ABORTED', 'catalog install aborted')
      const error = GalacticError.from(err)
      log.warn({ code: error.code, err: error.message, ...error.details }, 'catalog plugin not offered')
      refused.push({ plugin: key, reason: error.message })
    }
  }
  return { plugins, refused }
}

/** Makes the image with the entry's digest present; resolves the reference to run it by. */
async function ensureImage(entry: CatalogEntry, init: CatalogPluginsInit, components: CatalogPluginsComponents, log: Logger): Promise<string> {
  const { images } = components
  const { ref, digest } = entry.image
  const runAs = async (): Promise<string> => ((await images.imageId(ref)) === digest ? ref : digest)
  if ((await images.imageId(digest)) === digest) {
    log.debug({ digest }, 'image already in the daemon')
    return runAs()
  }

  if (!/^sha256:[0-9a-f]{64}$/.test(ref)) {
    const before = await images.imageId(ref)
    const signal = AbortSignal.any([AbortSignal.timeout(init.pullTimeoutMs ?? 10_000), ...(components.signal === undefined ? [] : [components.signal])])
    try {
      await images.pull(ref, signal)
      const pulled = await images.imageId(ref)
      if (pulled === digest) {
        log.info({ ref, digest }, 'image pulled from its registry')
        return ref
      }
      log.warn({ ref, expectedDigest: digest, pulledDigest: pulled }, 'the registry served another image than the catalog pins; using the archive')
      if (pulled !== undefined && pulled !== before) await images.remove(pulled).catch(() => {})
    } catch (err) {
      log.info({ ref, err: (err as Error).message }, 'no registry pull; using the archive')
    }
  }

  const archive = entry.image.archive
  if (archive === undefined) throw new GalacticError('PLUGIN_NOT_FOUND', `image ${digest} is not here, cannot be pulled, and the catalog has no archive of it`, { digest })
  await mkdir(init.dir, { recursive: true })
  const file = join(init.dir, `${pluginKey(entry)}.tar`)
  const partial = `${file}.partial`
  try {
    const whole = createHash('sha256')
    let size = 0
    const out = await open(partial, 'w')
    try {
      for (const chunk of archive.chunks) {
        const signal = AbortSignal.any([AbortSignal.timeout(init.chunkTimeoutMs ?? 120_000), ...(components.signal === undefined ? [] : [components.signal])])
        const bytes = await components.fetchChunk(chunk.hash, signal)
        if (bytes.byteLength !== chunk.size) throw new GalacticError('PROTOCOL_ERROR', `archive chunk ${chunk.hash} is ${bytes.byteLength} bytes, not ${chunk.size}`)
        whole.update(bytes)
        await out.write(bytes)
        size += bytes.byteLength
      }
    } finally {
      await out.close()
    }
    const hash = `sha256:${whole.digest('hex')}`
    if (hash !== archive.hash || size !== archive.size) {
      throw new GalacticError('PROTOCOL_ERROR', `the archive joined from its chunks is ${hash} (${size} bytes), not ${archive.hash} (${archive.size} bytes)`, {
        expected: archive.hash,
        actual: hash,
      })
    }
    await rename(partial, file)
    const before = await images.imageIds()
    const loaded = await images.load(file)
    if ((await images.imageId(digest)) !== digest) {
      const brought = loaded.filter((id) => !before.has(id))
      for (const id of brought) await images.remove(id).catch(() => {})
      throw new GalacticError('PLUGIN_NOT_FOUND', `the archive holds image ${loaded.join(', ') || '(none)'}, not the ${digest} the catalog pins`, {
        expectedDigest: digest,
        loadedDigests: loaded,
        removed: brought,
      })
    }
    log.info({ digest, bytes: size }, 'image loaded from the oracle')
    return await runAs()
  } finally {
    await rm(partial, { force: true })
    await rm(file, { force: true })
  }
}

export interface CatalogForAgent {
  dataDir: string
  device: DeviceDescriptor
  local: InstalledPlugin[]
  pullTimeoutMs: number
  /** How long to keep trying to reach the oracle for its catalog. */
  waitMs: number
}

/**
 * What the agent calls at start with `catalog: true`: fetches the catalog from the oracle (retrying
 * until `waitMs`), installs what this device can run, and resolves the PluginHost entries. Rejects
 * INVALID_INPUT without a Docker client, CONNECTION_CLOSED when the oracle cannot be reached.
 */
export async function catalogPlugins(
  init: CatalogForAgent,
  components: { node: Libp2p; oracle: () => Promise<Multiaddr>; docker: Docker | undefined; log: Logger; signal: AbortSignal },
): Promise<InstalledPlugin[]> {
  if (components.docker === undefined) throw new GalacticError('INVALID_INPUT', 'the plugin catalog holds Docker images: it needs dockerSocket')
  const deadline = Date.now() + init.waitMs
  let catalog: Catalog | undefined
  let oracle: Multiaddr | undefined
  for (let backoff = 200; catalog === undefined; backoff = Math.min(backoff * 2, 5_000)) {
    try {
      oracle = await components.oracle()
      catalog = await fetchCatalog(components.node, oracle, { signal: AbortSignal.any([components.signal, AbortSignal.timeout(10_000)]) })
    } catch (err) {
      if (components.signal.aborted) throw new GalacticError('ABORTED', 'agent stopping')
      if (Date.now() + backoff > deadline) throw new GalacticError('CONNECTION_CLOSED', `cannot fetch the plugin catalog: ${(err as Error).message}`, undefined, { cause: err })
      components.log.warn({ err: (err as Error).message }, 'catalog not fetched yet; retrying')
      await new Promise((resolve) => setTimeout(resolve, backoff))
    }
  }
  const from = oracle as Multiaddr
  const { plugins, refused } = await installCatalogPlugins(
    catalog,
    { dir: join(init.dataDir, 'catalog'), device: init.device, local: init.local.map((p) => pluginKey(p.manifest)), pullTimeoutMs: init.pullTimeoutMs },
    {
      images: dockerImages(components.docker),
      fetchChunk: (hash, signal) => fetchBlob(components.node, from, hash, { signal }),
      log: components.log,
      signal: components.signal,
    },
  )
  components.log.info({ offered: plugins.map((p) => pluginKey(p.manifest)), refused }, 'plugin catalog read')
  return plugins
}
