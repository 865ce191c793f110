import { open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { Catalog, GalacticError, parseOrThrow } from '@galactic/schemas'

/**
 * `<dataDir>/catalog.json`. {@link CatalogFile.read} re-reads the file only when it changed
 * (inode, mtime or size), so a running oracle serves what `galactic plugin publish` wrote a moment
 * ago without a restart; {@link CatalogFile.write} replaces it atomically (temporary file, fsync,
 * rename), so a reader never sees half a catalog.
 */
export class CatalogFile {
  readonly path: string
  #cached: { key: string; catalog: Catalog } | undefined

  constructor(path: string) {
    this.path = path
  }

  /** The catalog; empty when the file does not exist. Throws STORAGE_ERROR naming the bad field of a damaged file. */
  async read(): Promise<Catalog> {
    let key: string
    try {
      const s = await stat(this.path)
      key = `${s.ino}:${s.mtimeMs}:${s.size}`
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { plugins: [] }
      throw new GalacticError('STORAGE_ERROR', `cannot stat ${this.path}: ${(err as Error).message}`, { file: this.path }, { cause: err })
    }
    if (this.#cached?.key === key) return this.#cached.catalog
    let json: unknown
    try {
      json = JSON.parse(await readFile(this.path, 'utf8'))
    } catch (err) {
      throw new GalacticError('STORAGE_ERROR', `cannot read ${this.path}: ${(err as Error).message}`, { file: this.path }, { cause: err })
    }
    const catalog = parseOrThrow(Catalog, json, `catalog ${this.path}`, 'STORAGE_ERROR')
    this.#cached = { key, catalog }
    return catalog
  }

  /** Replaces the file with `catalog` (validated first) in one rename. */
  async write(catalog: Catalog): Promise<void> {
    const checked = parseOrThrow(Catalog, catalog, 'catalog')
    const tmp = `${this.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    try {
      const file = await open(tmp, 'w')
      try {
        await file.writeFile(`${JSON.stringify(checked, null, 2)}\n`)
        await file.sync()
      } finally {
        await file.close()
      }
      await rename(tmp, this.path)
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw new GalacticError('STORAGE_ERROR', `cannot write ${this.path}: ${(err as Error).message}`, { file: this.path }, { cause: err })
    }
  }
}
