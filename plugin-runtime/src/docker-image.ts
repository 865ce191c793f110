import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import type Docker from 'dockerode'
import { GalacticError } from '@galactic/schemas'

/**
 * Makes plugin images without a registry: a base image from this host's own `node` binary and the
 * shared libraries `ldd` lists for it (imported as a root filesystem), and plugin images built
 * `FROM` it with the plugin's `dist` and the packages it needs at run time. For tests, benchmarks
 * and offline hosts; needs `ldd` and `tar` on the host. Images are built with the legacy builder.
 */

/** An image made by {@link buildNodeBaseImage} or {@link buildPluginImage}. */
export interface BuiltImage {
  /** The image id, `sha256:...` (what a manifest's `digest` may name). */
  id: string
  /** The tag it was given. */
  tag: string
}

/** Where node lives in the base image. */
const NODE_PATH = '/usr/local/bin/node'

function splitTag(tag: string): { repo: string; tag: string } {
  const slash = tag.lastIndexOf('/')
  const colon = tag.lastIndexOf(':')
  return colon > slash ? { repo: tag.slice(0, colon), tag: tag.slice(colon + 1) } : { repo: tag, tag: 'latest' }
}

/** Packs a folder as a tar stream (owner root, numeric ids). */
function tarStream(dir: string): { stream: Readable; done: Promise<void> } {
  const tar = spawn('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const done = new Promise<void>((resolve, reject) => {
    tar.once('error', reject)
    tar.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited with ${code}: ${stderr.trim()}`))))
  })
  return { stream: tar.stdout, done }
}

/** One line of a Docker build, import, load or pull progress stream. */
export interface DockerProgress {
  error?: string
  errorDetail?: { message?: string }
  stream?: string
  status?: string
}

/** Reads a build/import/load/pull progress stream to its end; rejects with the daemon's error, if any. */
export function followDockerProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<DockerProgress[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: DockerProgress[]) => {
      if (err !== null) return reject(err)
      const failed = output.find((o) => o.error !== undefined || o.errorDetail !== undefined)
      if (failed !== undefined) return reject(new Error(failed.errorDetail?.message ?? failed.error ?? 'docker error'))
      resolve(output)
    })
  })
}

async function imageId(docker: Docker, tag: string): Promise<string> {
  return (await docker.getImage(tag).inspect()).Id
}

/** The shared libraries `ldd` lists for a binary (absolute paths as the loader looks them up). */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' })
  const libs: string[] = []
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
    if (m?.[1] !== undefined) libs.push(m[1])
  }
  return libs
}

/**
 * Builds a minimal Node.js image from this host's `node` ({@link NODE_PATH} in the image), the
 * libraries it links, `/etc/passwd` and `/etc/group` with root and nobody (65534), `/tmp` and
 * `/app`; it runs as nobody (`USER 65534:65534`) in `/app`. About the size of the node binary. Rejects PLUGIN_FAILED naming what failed.
 *
 * @example
 * const base = await buildNodeBaseImage(docker, 'galactic/node-base:test')
 */
export async function buildNodeBaseImage(docker: Docker, tag: string): Promise<BuiltImage> {
  const staging = mkdtempSync(join(tmpdir(), 'galactic-node-base-'))
  try {
    const rootfs = join(staging, 'rootfs')
    const node = realpathSync(process.execPath)
    const put = (from: string, to: string): void => {
      const target = join(rootfs, to)
      mkdirSync(dirname(target), { recursive: true })
      copyFileSync(from, target)
      chmodSync(target, statSync(from).mode & 0o777)
    }
    put(node, NODE_PATH)
    for (const lib of sharedLibraries(node)) put(lib, lib)
    mkdirSync(join(rootfs, 'etc'), { recursive: true })
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n')
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n')
    mkdirSync(join(rootfs, 'tmp'))
    chmodSync(join(rootfs, 'tmp'), 0o1777)
    mkdirSync(join(rootfs, 'app'))
    const { stream, done } = tarStream(rootfs)
    const { repo, tag: version } = splitTag(tag)
    // USER and WORKDIR set here cost the plugin builds a layer each (with vfs, a full copy).
    const progress = await docker.importImage(stream, { repo, tag: version, changes: ['USER 65534:65534', 'WORKDIR /app'] })
    await Promise.all([followDockerProgress(docker, progress), done])
    return { id: await imageId(docker, tag), tag }
  } catch (err) {
    throw new GalacticError('PLUGIN_FAILED', `cannot build the node base image ${tag}: ${(err as Error).message}`, { tag }, { cause: err })
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

export interface BuildPluginImageOptions {
  /** The base image (made by {@link buildNodeBaseImage}: it sets `USER 65534:65534` and `WORKDIR /app`). */
  base: string
  /**
   * The command, as in a process manifest (`node` means the image's node). @default the plugin's
   * `galactic-plugin.json` process command, else `['node', 'dist/main.js']`
   */
  command?: string[]
}

interface PackageJson {
  name?: string
  version?: string
  dependencies?: Record<string, string>
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson
}

/** Where Node would find package `name` from a package in `fromDir`: the nearest node_modules, links followed. */
function findPackage(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate)
    if (dirname(dir) === dir) return undefined
  }
}

/** Copies what a package needs at run time: everything but nested node_modules, sources, tests, maps and TypeScript files. */
function copyRuntimeFiles(from: string, to: string, top = true): void {
  mkdirSync(to, { recursive: true })
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const name = entry.name
    if (name === 'node_modules' || name === '.git' || (top && (name === 'test' || name === 'tests'))) continue
    if (/\.(?:ts|mts|cts|map|tsbuildinfo)$/.test(name)) continue
    const src = join(from, name)
    if (entry.isDirectory()) copyRuntimeFiles(src, join(to, name), false)
    else if (entry.isFile()) copyFileSync(src, join(to, name))
    else if (entry.isSymbolicLink()) {
      const real = realpathSync(src)
      if (statSync(real).isDirectory()) copyRuntimeFiles(real, join(to, name), false)
      else copyFileSync(real, join(to, name))
    }
  }
}

/**
 * Builds an image of a plugin package: `FROM` the base, its `package.json`, manifest and `dist`
 * in /app, and every package its `dependencies` need at run time (followed transitively, workspace
 * links resolved to real folders) flat in /app/node_modules. Runs as nobody; the command is the
 * plugin's own (`node dist/main.js` for sha256-chain). Resolves the image id and tag; rejects
 * PLUGIN_FAILED naming what failed (a dependency not installed, the daemon's build error).
 *
 * @example
 * const image = await buildPluginImage(docker, 'plugins/sha256-chain', 'galactic/sha256-chain:1.0.0', { base: base.tag })
 * // manifest: { ..., runtime: { type: 'docker', image: image.tag, digest: image.id } }
 */
export async function buildPluginImage(docker: Docker, pluginDir: string, tag: string, options: BuildPluginImageOptions): Promise<BuiltImage> {
  const staging = mkdtempSync(join(tmpdir(), 'galactic-plugin-image-'))
  try {
    const dir = realpathSync(pluginDir)
    const app = join(staging, 'app')
    mkdirSync(app)
    copyFileSync(join(dir, 'package.json'), join(app, 'package.json'))
    if (!existsSync(join(dir, 'dist'))) throw new Error(`${dir}/dist is missing (build the plugin first)`)
    copyRuntimeFiles(join(dir, 'dist'), join(app, 'dist'), false)
    let command = options.command
    const manifestFile = join(dir, 'galactic-plugin.json')
    if (existsSync(manifestFile)) {
      copyFileSync(manifestFile, join(app, 'galactic-plugin.json'))
      const runtime = (JSON.parse(readFileSync(manifestFile, 'utf8')) as { runtime?: { type?: string; command?: string[] } }).runtime
      if (command === undefined && runtime?.type === 'process' && Array.isArray(runtime.command)) command = runtime.command
    }
    command = (command ?? ['node', 'dist/main.js']).map((part, i) => (i === 0 && part === 'node' ? NODE_PATH : part))

    // Dependencies, breadth first, each resolved from the package that needs it.
    const copied = new Map<string, string>()
    const queue: Array<{ name: string; from: string }> = Object.keys(readPackage(dir).dependencies ?? {}).map((name) => ({ name, from: dir }))
    while (queue.length > 0) {
      const { name, from } = queue.shift() as { name: string; from: string }
      if (copied.has(name)) continue
      const found = findPackage(name, from)
      if (found === undefined) throw new Error(`dependency ${name} (needed by ${from}) is not installed`)
      copied.set(name, found)
      copyRuntimeFiles(found, join(app, 'node_modules', name))
      for (const dep of Object.keys(readPackage(found).dependencies ?? {})) queue.push({ name: dep, from: found })
    }

    writeFileSync(
      join(staging, 'Dockerfile'),
      // USER 65534:65534 and WORKDIR /app come from the base: every instruction is a layer.
      [`FROM ${options.base}`, 'COPY app /app', `CMD ${JSON.stringify(command)}`, ''].join('\n'),
    )
    const { stream, done } = tarStream(staging)
    const progress = await docker.buildImage(stream, { t: tag, rm: true, forcerm: true, version: '1' } as Docker.ImageBuildOptions)
    await Promise.all([followDockerProgress(docker, progress), done])
    return { id: await imageId(docker, tag), tag }
  } catch (err) {
    throw new GalacticError('PLUGIN_FAILED', `cannot build the plugin image ${tag} from ${pluginDir}: ${(err as Error).message}`, { tag, pluginDir }, { cause: err })
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}
