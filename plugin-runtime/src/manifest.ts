import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { GalacticError, PluginManifest, zodIssues } from '@galactic/schemas'

/** The file name a plugin's manifest has by convention. */
export const MANIFEST_FILE = 'galactic-plugin.json'

/**
 * Reads and validates a plugin manifest (`galactic-plugin.json`). Returns it with its folder, from
 * which the manifest's relative paths are resolved. Throws INVALID_INPUT naming the file and, for a
 * bad manifest, the field (`details.issues` lists every one).
 */
export function loadPluginManifest(path: string): { manifest: PluginManifest; dir: string } {
  const file = resolve(path)
  const value = readJson(file, 'plugin manifest')
  const parsed = PluginManifest.safeParse(value)
  if (!parsed.success) {
    const issues = zodIssues(parsed.error)
    const first = issues[0]
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
    throw new GalacticError('INVALID_INPUT', `invalid plugin manifest ${file}: ${first?.path}: ${first?.message}${more}`, { file, issues })
  }
  return { manifest: parsed.data, dir: dirname(file) }
}

/**
 * Loads the manifest of a plugin package: the folder's `package.json` names it under
 * `galactic.manifest` (default {@link MANIFEST_FILE}). Throws INVALID_INPUT like {@link loadPluginManifest}.
 */
export function loadPluginPackage(packageDir: string): { manifest: PluginManifest; dir: string } {
  const pkgFile = join(resolve(packageDir), 'package.json')
  const pkg = readJson(pkgFile, 'package.json') as { galactic?: { manifest?: unknown } } | null
  const named = pkg?.galactic?.manifest
  if (named !== undefined && (typeof named !== 'string' || named === '')) {
    throw new GalacticError('INVALID_INPUT', `invalid ${pkgFile}: galactic.manifest: expected a path`, {
      file: pkgFile,
      issues: [{ path: 'galactic.manifest', message: 'expected a path' }],
    })
  }
  return loadPluginManifest(join(dirname(pkgFile), named ?? MANIFEST_FILE))
}

function readJson(file: string, what: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `cannot read ${what} ${file}: ${(err as Error).message}`, { file }, { cause: err })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `${what} ${file} is not JSON: ${(err as Error).message}`, { file }, { cause: err })
  }
}
