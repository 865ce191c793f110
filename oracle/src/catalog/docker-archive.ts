import { contentHash, GalacticError, type ImageDigest } from '@galactic/schemas'
import { openTarFile } from './tar.js'

/** One image in a `docker save` archive. */
export interface ArchivedImage {
  /** Its image id: the SHA-256 of its config file's bytes, as read from the archive. */
  digest: ImageDigest
  /** The config file's path in the archive. */
  config: string
  repoTags: string[]
  layers: string[]
}

interface SaveManifestItem {
  Config: string
  RepoTags: string[]
  Layers: string[]
}

/** `manifest.json` of a `docker save` archive (classic and OCI layouts both write it): `[{ Config, RepoTags, Layers }]`. */
function parseSaveManifest(json: unknown): SaveManifestItem[] | string {
  if (!Array.isArray(json) || json.length === 0) return 'expected a non-empty array'
  const out: SaveManifestItem[] = []
  for (const [i, item] of json.entries()) {
    const o = item as { Config?: unknown; RepoTags?: unknown; Layers?: unknown } | null
    if (typeof o !== 'object' || o === null) return `[${i}] is not an object`
    if (typeof o.Config !== 'string' || o.Config === '') return `[${i}].Config is not a path`
    if (!Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string' && l !== '')) return `[${i}].Layers is not a list of paths`
    const tags = o.RepoTags ?? []
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return `[${i}].RepoTags is not a list of tags`
    out.push({ Config: o.Config, RepoTags: tags as string[], Layers: o.Layers as string[] })
  }
  return out
}

function notDockerSave(path: string, why: string, details: Record<string, unknown> = {}): GalacticError {
  return new GalacticError('INVALID_INPUT', `${path} is not a docker save archive: ${why}`, { problem: 'not-docker-archive', file: path, ...details })
}

/**
 * Reads the images of a `docker save` archive: its `manifest.json`, and for each image the
 * SHA-256 of its config file (the image id, computed from the bytes, not taken from file names)
 * after checking every layer it names is in the archive. Throws INVALID_INPUT with
 * `details.problem` `not-a-tar` (not a tar at all) or `not-docker-archive` (no or bad
 * `manifest.json`, a config or layer missing), naming what is wrong.
 *
 * @example
 * const [image] = await readDockerArchive('image.tar') // image.digest === docker's image id
 */
export async function readDockerArchive(path: string): Promise<ArchivedImage[]> {
  const tar = await openTarFile(path)
  try {
    const raw = await tar.read('manifest.json', 4 * 1024 * 1024)
    if (raw === undefined) throw notDockerSave(path, 'it has no manifest.json')
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder().decode(raw))
    } catch (err) {
      throw notDockerSave(path, `its manifest.json is not JSON (${(err as Error).message})`)
    }
    const parsed = parseSaveManifest(json)
    if (typeof parsed === 'string') throw notDockerSave(path, `its manifest.json is not a list of { Config, RepoTags, Layers }: ${parsed}`)
    const names = new Set(tar.entries.map((e) => e.name))
    const images: ArchivedImage[] = []
    for (const item of parsed) {
      const config = await tar.read(item.Config, 16 * 1024 * 1024)
      if (config === undefined) throw notDockerSave(path, `its image config ${item.Config} is missing`, { member: item.Config })
      const missing = item.Layers.find((layer) => !names.has(layer))
      if (missing !== undefined) throw notDockerSave(path, `layer ${missing} is missing`, { member: missing })
      images.push({ digest: contentHash(config), config: item.Config, repoTags: item.RepoTags, layers: item.Layers })
    }
    return images
  } finally {
    await tar.close()
  }
}
