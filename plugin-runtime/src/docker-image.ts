import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import type Docker from 'dockerode'
import { GalacticError, type PluginManifest } from '@galactic/schemas'

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

/** A plugin's manifest run by Docker instead: `image`, pinned by its id. */
export function dockerManifest(manifest: PluginManifest, image: BuiltImage): PluginManifest {
  const { runtime: _process, ...rest } = manifest
  return { ...rest, runtime: { type: 'docker', image: image.tag, digest: image.id } }
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
  const out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const libs: string[] = []
  for (const line of out.split('\n')) {
    if (/=>\s*not found/.test(line)) throw new Error(`${binary} needs ${line.trim()}`)
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

/**
 * What a plugin's image holds besides `dist` and its run-time packages: its `package.json`'s
 * `galactic.image`, e.g. `{ "include": ["artifacts"], "exclude": ["artifacts/ptau", "*.r1cs"] }`.
 */
export interface PluginImageSpec {
  /** Files or folders of the plugin, relative to its folder, copied to the same place under /app. They must exist. */
  include?: string[]
  /** What not to copy from them: a path relative to the plugin's folder (and everything under it), or `*.ext` anywhere. */
  exclude?: string[]
}

interface PackageJson {
  name?: string
  version?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  galactic?: { image?: PluginImageSpec }
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson
}

/**
 * Copies the tree at `from` to `to`, links followed, keeping what `keep` accepts (`rel` is the
 * path below `from`, `/`-separated).
 */
function copyTree(from: string, to: string, keep: (rel: string, name: string) => boolean, rel = ''): void {
  mkdirSync(to, { recursive: true })
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`
    if (!keep(path, entry.name)) continue
    const src = join(from, entry.name)
    const real = entry.isSymbolicLink() ? realpathSync(src) : src
    if (statSync(real).isDirectory()) copyTree(real, join(to, entry.name), keep, path)
    else copyFileSync(real, join(to, entry.name))
  }
}

/** What a package needs at run time: everything but nested node_modules, sources, tests, maps and TypeScript files. */
const runtimeFile = (rel: string, name: string): boolean =>
  name !== 'node_modules' && name !== '.git' && rel !== 'test' && rel !== 'tests' && !/\.(?:ts|mts|cts|map|tsbuildinfo)$/.test(name)

/**
 * A package the image holds: where it is here (links resolved) and where it goes in the image.
 * Node finds a dependency in the nearest `node_modules` up from the package that needs it; the
 * image keeps that: a package installed inside another's `node_modules` (another version than
 * the hoisted one) goes inside that package's folder in the image, every other one in
 * `/app/node_modules`.
 */
interface Placed {
  real: string
  image: string
}

/** Where Node would find package `name` from the package at `from`: the folder whose node_modules holds it, and the package. */
function findPackage(name: string, from: string): { holder: string; real: string } | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return { holder: dir, real: realpathSync(candidate) }
    if (dirname(dir) === dir) return undefined
  }
}

/**
 * Every package the plugin at `pluginDir` needs at run time, from its `dependencies` (followed
 * transitively, workspace links resolved) and the `optionalDependencies` that are installed,
 * placed for the image (`/app` is the plugin). Throws when a dependency is not installed, or two
 * versions of a package would have to be at the same place.
 */
function runtimePackages(pluginDir: string): Placed[] {
  const byReal = new Map<string, string>([[pluginDir, '/app']])
  const byImage = new Map<string, string>([['/app', pluginDir]])
  const placed: Placed[] = []
  const needs = (dir: string): Array<{ name: string; optional: boolean }> => {
    const pkg = readPackage(dir)
    return [
      ...Object.keys(pkg.dependencies ?? {}).map((name) => ({ name, optional: false })),
      ...Object.keys(pkg.optionalDependencies ?? {}).map((name) => ({ name, optional: true })),
    ]
  }
  const queue = needs(pluginDir).map((dep) => ({ ...dep, from: pluginDir }))
  while (queue.length > 0) {
    const { name, optional, from } = queue.shift() as (typeof queue)[number]
    const found = findPackage(name, from)
    if (found === undefined) {
      if (optional) continue
      throw new Error(`dependency ${name} (needed by ${from}) is not installed`)
    }
    if (byReal.has(found.real)) continue
    const image = join(byReal.get(found.holder) ?? '/app', 'node_modules', name)
    const other = byImage.get(image)
    if (other !== undefined) throw new Error(`${image} would hold both ${other} and ${found.real}`)
    byReal.set(found.real, image)
    byImage.set(image, found.real)
    placed.push({ real: found.real, image })
    for (const dep of needs(found.real)) queue.push({ ...dep, from: found.real })
  }
  return placed
}

/** Copies the plugin's `galactic.image.include` paths (less `exclude`) from `dir` into `app`. */
function copyIncluded(dir: string, app: string, spec: PluginImageSpec): void {
  const exclude = spec.exclude ?? []
  const keep = (rel: string): boolean =>
    !exclude.some((x) => (x.startsWith('*.') ? rel.endsWith(x.slice(1)) : rel === x || rel.startsWith(`${x}/`)))
  for (const path of spec.include ?? []) {
    const from = join(dir, path)
    if (!existsSync(from)) throw new Error(`${from} is missing (galactic.image.include in the plugin's package.json names it: run the plugin's setup first)`)
    const to = join(app, path)
    if (statSync(from).isDirectory()) copyTree(from, to, (rel) => keep(`${path}/${rel}`), '')
    else if (keep(path)) {
      mkdirSync(dirname(to), { recursive: true })
      copyFileSync(from, to)
    }
  }
}

/**
 * The libraries the Node add-ons (`*.node`) under `dir` link. Add-ons built for another OS or CPU
 * (prebuilds packages ship for every platform) cannot load here and are left out.
 */
function addonLibraries(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => rel.endsWith('.node') && statSync(join(dir, rel)).isFile())
    .flatMap((rel) => {
      try {
        return sharedLibraries(join(dir, rel))
      } catch (err) {
        if (String((err as { stderr?: unknown }).stderr).includes('not a dynamic executable')) return []
        throw err
      }
    })
}

/**
 * Builds an image of a plugin package: `FROM` the base, its `package.json`, manifest and `dist`
 * in /app, what its `package.json`'s `galactic.image` includes ({@link PluginImageSpec}: keys,
 * circuits), and every package it needs at run time in /app/node_modules: its `dependencies`
 * followed transitively and the `optionalDependencies` that are installed (native add-ons),
 * workspace links resolved, a package installed inside another's node_modules (another version)
 * kept inside it. Libraries that its add-ons (`*.node`) link and node does not are added at their
 * paths. Runs as nobody; the command is the plugin's own (`node dist/main.js` for sha256-chain).
 * Resolves the image id and tag; rejects PLUGIN_FAILED naming what failed (a dependency not
 * installed, an included path missing, the daemon's build error).
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
    copyTree(join(dir, 'dist'), join(app, 'dist'), (rel, name) => runtimeFile(`dist/${rel}`, name))
    copyIncluded(dir, app, readPackage(dir).galactic?.image ?? {})
    let command = options.command
    const manifestFile = join(dir, 'galactic-plugin.json')
    if (existsSync(manifestFile)) {
      copyFileSync(manifestFile, join(app, 'galactic-plugin.json'))
      const runtime = (JSON.parse(readFileSync(manifestFile, 'utf8')) as { runtime?: { type?: string; command?: string[] } }).runtime
      if (command === undefined && runtime?.type === 'process' && Array.isArray(runtime.command)) command = runtime.command
    }
    command = (command ?? ['node', 'dist/main.js']).map((part, i) => (i === 0 && part === 'node' ? NODE_PATH : part))
    for (const { real, image } of runtimePackages(dir)) copyTree(real, join(staging, image), runtimeFile)

    // Libraries of native add-ons that the base (node and its libraries) lacks, at their paths.
    const inBase = new Set(sharedLibraries(realpathSync(process.execPath)))
    const libs = new Set(addonLibraries(staging).filter((lib) => !inBase.has(lib)))
    for (const lib of libs) {
      mkdirSync(dirname(join(staging, 'libs', lib)), { recursive: true })
      copyFileSync(lib, join(staging, 'libs', lib))
    }

    writeFileSync(
      join(staging, 'Dockerfile'),
      // USER 65534:65534 and WORKDIR /app come from the base: every instruction is a layer.
      [`FROM ${options.base}`, 'COPY app /app', ...(libs.size > 0 ? ['COPY libs /'] : []), `CMD ${JSON.stringify(command)}`, ''].join('\n'),
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
