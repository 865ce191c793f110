import { readFileSync, statSync } from 'node:fs'
import { getAddress } from 'ethers'
import { AllowlistFile, GalacticError, parseOrThrow } from '@galactic/schemas'

/**
 * The requester allowlist the operator edits with `galactic allowlist add|remove`: a JSON file
 * in the data dir. Read again whenever its inode, size or mtime changed (one `stat` per check),
 * so the running oracle sees edits without a restart. A missing file is an empty list.
 */
export class AllowlistReader {
  readonly path: string
  private stamp = ''
  private addresses = new Set<string>()

  constructor(path: string) {
    this.path = path
  }

  /** Whether `address` (any case) is on the list. @throws STORAGE_ERROR for an unreadable or malformed file. */
  has(address: string): boolean {
    this.refresh()
    return this.addresses.has(getAddress(address))
  }

  private refresh(): void {
    let stamp: string
    try {
      const st = statSync(this.path)
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storage(this.path, err)
      this.stamp = ''
      this.addresses = new Set()
      return
    }
    if (stamp === this.stamp) return
    let file: AllowlistFile
    try {
      file = parseOrThrow(AllowlistFile, JSON.parse(readFileSync(this.path, 'utf8')), 'allowlist file')
    } catch (err) {
      throw storage(this.path, err)
    }
    this.addresses = new Set(file.addresses.map((a) => getAddress(a.toLowerCase())))
    this.stamp = stamp
  }
}

function storage(path: string, err: unknown): GalacticError {
  return new GalacticError('STORAGE_ERROR', `cannot read the allowlist ${path}: ${(err as Error).message}`, { path }, { cause: err })
}
