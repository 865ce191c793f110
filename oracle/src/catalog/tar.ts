import { open } from 'node:fs/promises'
import { GalacticError } from '@galactic/schemas'

/**
 * A small reader of tar archives (POSIX ustar, with pax and GNU long-name extensions): enough to
 * look inside a `docker save` archive without a dependency. It reads headers only, through a
 * positional reader, so a large archive is never held in memory.
 */

const BLOCK = 512
const decoder = new TextDecoder('utf-8')

/** One member of a tar archive. */
export interface TarEntry {
  /** Its path in the archive (pax `path`, GNU long name or ustar prefix + name). */
  name: string
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other'
  /** Bytes of its data. */
  size: number
  /** Where its data starts in the archive. */
  offset: number
}

/** Reads `length` bytes at `position` (fewer at the end of the archive). */
export type ReadAt = (position: number, length: number) => Promise<Uint8Array>

function tarError(message: string, details: Record<string, unknown> = {}): GalacticError {
  return new GalacticError('INVALID_INPUT', `not a readable tar archive: ${message}`, { problem: 'not-a-tar', ...details })
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0)
  return decoder.decode(end === -1 ? bytes : bytes.subarray(0, end))
}

/** A numeric header field: octal text (space/NUL padded), or base-256 when its first byte has the high bit set. */
function numeric(bytes: Uint8Array, field: string, at: number): number {
  if (bytes.length > 0 && ((bytes[0] as number) & 0x80) !== 0) {
    let value = (bytes[0] as number) & 0x7f
    for (let i = 1; i < bytes.length; i++) value = value * 256 + (bytes[i] as number)
    if (!Number.isSafeInteger(value)) throw tarError(`${field} of the header at ${at} is too large`, { offset: at })
    return value
  }
  const text = cString(bytes).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) throw tarError(`${field} of the header at ${at} is not octal (${JSON.stringify(text)})`, { offset: at })
  return parseInt(text, 8)
}

function checksumOk(header: Uint8Array, at: number): boolean {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number)
  return sum === numeric(header.subarray(148, 156), 'checksum', at)
}

/** Pax extended header records: `<length> <key>=<value>\n`. */
export function parsePax(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {}
  let pos = 0
  while (pos < bytes.length) {
    const space = bytes.indexOf(0x20, pos)
    if (space === -1) break
    const length = Number(decoder.decode(bytes.subarray(pos, space)))
    if (!Number.isInteger(length) || length <= 0 || pos + length > bytes.length) throw tarError('a pax record has a bad length')
    const record = decoder.decode(bytes.subarray(space + 1, pos + length - 1))
    const eq = record.indexOf('=')
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1)
    pos += length
  }
  return out
}

const TYPES: Record<string, TarEntry['type']> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'directory', '2': 'symlink', '1': 'hardlink' }

/**
 * Lists the members of a tar archive of `totalSize` bytes. Throws INVALID_INPUT
 * (`details.problem: 'not-a-tar'`) naming what is wrong: a bad header checksum, a member running
 * past the end, no members at all.
 *
 * @example
 * const entries = await listTar((pos, len) => Promise.resolve(bytes.subarray(pos, pos + len)), bytes.length)
 */
export async function listTar(readAt: ReadAt, totalSize: number): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  let pos = 0
  let longName: string | undefined
  let pax: Record<string, string> = {}
  let sawEnd = false
  while (pos + BLOCK <= totalSize) {
    const header = await readAt(pos, BLOCK)
    if (header.length < BLOCK) throw tarError(`the header at ${pos} is cut short`, { offset: pos })
    if (header.every((b) => b === 0)) {
      sawEnd = true
      break
    }
    if (!checksumOk(header, pos)) throw tarError(`bad header checksum at offset ${pos}`, { offset: pos })
    const flag = String.fromCharCode(header[156] as number)
    const size = numeric(header.subarray(124, 136), 'size', pos)
    const dataAt = pos + BLOCK
    const next = dataAt + Math.ceil(size / BLOCK) * BLOCK
    if (dataAt + size > totalSize) throw tarError(`the member at ${pos} runs past the end of the archive`, { offset: pos })
    if (flag === 'L' || flag === 'x' || flag === 'g') {
      const body = await readAt(dataAt, size)
      if (flag === 'L') longName = cString(body)
      else if (flag === 'x') pax = parsePax(body)
      pos = next
      continue
    }
    let name = cString(header.subarray(0, 100))
    const magic = decoder.decode(header.subarray(257, 263))
    if (magic === 'ustar\0') {
      const prefix = cString(header.subarray(345, 500))
      if (prefix !== '') name = `${prefix}/${name}`
    }
    if (longName !== undefined) name = longName
    if (pax['path'] !== undefined) name = pax['path']
    let realSize = size
    if (pax['size'] !== undefined) {
      realSize = Number(pax['size'])
      if (!Number.isSafeInteger(realSize) || realSize < 0 || dataAt + realSize > totalSize) throw tarError(`bad pax size for ${name}`, { offset: pos })
    }
    entries.push({ name: name.replace(/^\.\//, ''), type: TYPES[flag] ?? 'other', size: realSize, offset: dataAt })
    pos = realSize === size ? next : dataAt + Math.ceil(realSize / BLOCK) * BLOCK
    longName = undefined
    pax = {}
  }
  if (entries.length === 0) throw tarError(sawEnd ? 'it holds no members' : `too short (${totalSize} bytes) or no tar header`, { size: totalSize })
  return entries
}

/** A tar archive in a file: its members and a way to read their data. Close it when done. */
export interface TarFile {
  entries: TarEntry[]
  /** The data of a member, or undefined when there is none by that name. Refuses members over `maxBytes`. */
  read(name: string, maxBytes?: number): Promise<Uint8Array | undefined>
  close(): Promise<void>
}

/** Opens a tar archive on disk (see {@link listTar}). Throws INVALID_INPUT when the file cannot be read. */
export async function openTarFile(path: string): Promise<TarFile> {
  let file
  try {
    file = await open(path, 'r')
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `cannot read ${path}: ${(err as Error).message}`, { problem: 'unreadable', file: path }, { cause: err })
  }
  const handle = file
  try {
    const { size } = await handle.stat()
    const readAt: ReadAt = async (position, length) => {
      const buf = new Uint8Array(length)
      const { bytesRead } = await handle.read(buf, 0, length, position)
      return buf.subarray(0, bytesRead)
    }
    const entries = await listTar(readAt, size)
    return {
      entries,
      read: async (name, maxBytes = 16 * 1024 * 1024) => {
        const entry = entries.find((e) => e.name === name && e.type === 'file')
        if (entry === undefined) return undefined
        if (entry.size > maxBytes) throw tarError(`member ${name} is ${entry.size} bytes, more than the ${maxBytes} expected`, { member: name })
        return readAt(entry.offset, entry.size)
      },
      close: () => handle.close(),
    }
  } catch (err) {
    await handle.close()
    throw err
  }
}
