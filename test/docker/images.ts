import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { buildNodeBaseImage, buildPluginImage, dockerManifest, type BuiltImage } from '../../plugin-runtime/src/docker-image.js'

export { buildNodeBaseImage, buildPluginImage, dockerManifest, type BuiltImage }

/** The tag of the test base image: one per Node version. */
export function nodeBaseTag(): string {
  return `galactic-test/node-base:${process.versions.node}`
}

/** The base image, built once per daemon (reused when the tag exists). */
export async function ensureNodeBaseImage(docker: Docker, tag = nodeBaseTag()): Promise<BuiltImage> {
  try {
    return { id: (await docker.getImage(tag).inspect()).Id, tag }
  } catch {
    return buildNodeBaseImage(docker, tag)
  }
}

/**
 * Writes a throwaway plugin package (`package.json` without dependencies, `dist/main.js` = `source`,
 * an ES module run with node) into `dir`, for tests of misbehaving plugins. Returns `dir`.
 */
export function writeScriptPlugin(dir: string, source: string): string {
  mkdirSync(join(dir, 'dist'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'script-plugin', version: '0.0.1', type: 'module', private: true }))
  writeFileSync(join(dir, 'dist', 'main.js'), source)
  return dir
}

/** `docker save` of one image to a file, through the API. */
export async function saveImage(docker: Docker, ref: string, file: string): Promise<void> {
  await pipeline((await docker.getImage(ref).get()) as NodeJS.ReadableStream, createWriteStream(file))
}
