import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { checksumAddress } from '@galactic/sdk'
import { ALLOWLIST_FILE, AllowlistFile, EthAddress, GalacticError, parseOrThrow } from '@galactic/schemas'
import { fail } from '../util.js'

const DEFAULT_DATA_DIR = '.galactic/oracle'

/** `galactic allowlist add|remove|list`: the requesters an oracle started with --allowlist accepts. */
export function allowlistCommand(): Command {
  const allowlist = new Command('allowlist').description(
    `manage the requester addresses an oracle run with --allowlist accepts (${ALLOWLIST_FILE} in its data dir; a running oracle sees changes at once)`,
  )
  allowlist
    .command('add')
    .description('allow an Ethereum address to submit graphs')
    .argument('<address>', '0x and 40 hex digits')
    .option('--data-dir <dir>', "the oracle's data dir", DEFAULT_DATA_DIR)
    .action((address: string, opts: { dataDir: string }) => edit(opts.dataDir, address, 'add'))
  allowlist
    .command('remove')
    .description('stop accepting an address')
    .argument('<address>', '0x and 40 hex digits')
    .option('--data-dir <dir>', "the oracle's data dir", DEFAULT_DATA_DIR)
    .action((address: string, opts: { dataDir: string }) => edit(opts.dataDir, address, 'remove'))
  allowlist
    .command('list')
    .description('print the allowed addresses, one per line')
    .option('--data-dir <dir>', "the oracle's data dir", DEFAULT_DATA_DIR)
    .option('--json', 'print JSON')
    .action((opts: { dataDir: string; json?: boolean }) => {
      try {
        const { addresses } = readAllowlist(opts.dataDir)
        process.stdout.write(opts.json === true ? `${JSON.stringify({ addresses })}\n` : addresses.map((a) => `${a}\n`).join(''))
      } catch (err) {
        fail(err, opts.json === true)
      }
    })
  return allowlist
}

function edit(dataDir: string, input: string, op: 'add' | 'remove'): void {
  try {
    const address = checksumAddress(parseOrThrow(EthAddress, input, 'address'))
    const set = new Set(readAllowlist(dataDir).addresses)
    const changed = op === 'add' ? !set.has(address) : set.has(address)
    if (op === 'add') set.add(address)
    else set.delete(address)
    if (changed) writeAllowlist(dataDir, { addresses: [...set].sort() })
    process.stdout.write(`${changed ? (op === 'add' ? 'added' : 'removed') : op === 'add' ? 'already allowed' : 'was not allowed'}: ${address}\n`)
  } catch (err) {
    fail(err, false)
  }
}

/** Reads `<dataDir>/allowlist.json`; a missing file is an empty list. */
export function readAllowlist(dataDir: string): AllowlistFile {
  const path = join(dataDir, ALLOWLIST_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { addresses: [] }
    throw new GalacticError('STORAGE_ERROR', `cannot read ${path}: ${(err as Error).message}`, { path })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new GalacticError('STORAGE_ERROR', `${path} is not JSON: ${(err as Error).message}`, { path })
  }
  const file = parseOrThrow(AllowlistFile, json, path, 'STORAGE_ERROR')
  return { addresses: file.addresses.map((a) => checksumAddress(a)) }
}

/** Replaces the file atomically (write, then rename), so the oracle never reads half a list. */
function writeAllowlist(dataDir: string, file: AllowlistFile): void {
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, ALLOWLIST_FILE)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o644 })
  renameSync(tmp, path)
}
