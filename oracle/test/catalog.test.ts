import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FileBlobStore } from '@galactic/net'
import { Catalog, contentHash, GalacticError, type ContentHash } from '@galactic/schemas'
import { CatalogFile, listTar, openTarFile, publishPlugin, readDockerArchive, type TarEntry } from '../src/catalog/index.js'

const dir = mkdtempSync(join(tmpdir(), 'galactic-catalog-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const enc = new TextEncoder()
const sha = (bytes: Uint8Array | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

// ---- A tar writer written for these tests, independent of the reader (ustar, pax and GNU long names). ----

interface Member {
  name: string
  data?: Uint8Array | string
  type?: '0' | '5' | '2' | 'x' | 'L'
  /** Put the name in the ustar prefix field (name must be `prefix/rest`). */
  prefix?: string
}

function header(name: string, size: number, type: string, prefix = ''): Uint8Array {
  const h = new Uint8Array(512)
  const put = (text: string, at: number, len: number): void => h.set(enc.encode(text).subarray(0, len), at)
  put(name, 0, 100)
  put('0000644\0', 100, 8)
  put('0000000\0', 108, 8)
  put('0000000\0', 116, 8)
  put(`${size.toString(8).padStart(11, '0')}\0`, 124, 12)
  put('00000000000\0', 136, 12)
  put(type, 156, 1)
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  put(prefix, 345, 155)
  h.fill(0x20, 148, 156)
  const sum = h.reduce((a, b) => a + b, 0)
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8)
  return h
}

function tarOf(members: Member[], { end = true } = {}): Uint8Array {
  const parts: Uint8Array[] = []
  for (const m of members) {
    const data = typeof m.data === 'string' ? enc.encode(m.data) : (m.data ?? new Uint8Array())
    parts.push(header(m.name, data.length, m.type ?? '0', m.prefix))
    parts.push(data)
    parts.push(new Uint8Array((512 - (data.length % 512)) % 512))
  }
  if (end) parts.push(new Uint8Array(1024))
  return new Uint8Array(Buffer.concat(parts))
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`
  let len = body.length + 1
  while (`${len}${body}`.length !== len) len = `${len}${body}`.length
  return `${len}${body}`
}

const fromBytes = (bytes: Uint8Array) => (pos: number, len: number) => Promise.resolve(bytes.subarray(pos, pos + len))

async function entriesOf(bytes: Uint8Array): Promise<TarEntry[]> {
  return listTar(fromBytes(bytes), bytes.length)
}

async function rejection(p: Promise<unknown>): Promise<GalacticError> {
  try {
    await p
  } catch (err) {
    if (err instanceof GalacticError) return err
    throw err
  }
  throw new Error('expected a rejection')
}

describe('tar reader', () => {
  it('lists members with their names, types, sizes and data offsets', async () => {
    const big = new Uint8Array(1500).map((_, i) => i % 251)
    const bytes = tarOf([{ name: 'a/', type: '5' }, { name: 'a/one.txt', data: 'hello' }, { name: 'big.bin', data: big }, { name: 'empty', data: '' }])
    const entries = await entriesOf(bytes)
    expect(entries.map((e) => [e.name, e.type, e.size])).toEqual([['a/', 'directory', 0], ['a/one.txt', 'file', 5], ['big.bin', 'file', 1500], ['empty', 'file', 0]])
    const one = entries[1] as TarEntry
    expect(Buffer.from(bytes.subarray(one.offset, one.offset + one.size)).toString()).toBe('hello')
    const b = entries[2] as TarEntry
    expect(bytes.subarray(b.offset, b.offset + b.size)).toEqual(big)
  })

  it('reads long names from the ustar prefix, a pax header and a GNU long-name member', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(90)}`
    const bytes = tarOf([
      { name: 'f'.repeat(90), prefix: 'd'.repeat(120), data: 'prefixed' },
      { name: 'PaxHeaders/x', type: 'x', data: paxRecord('path', `pax/${long}`) },
      { name: 'truncated-name', data: 'pax' },
      { name: '././@LongLink', type: 'L', data: `gnu/${long}\0` },
      { name: 'gnu-truncated', data: 'gnu' },
      { name: 'after', data: 'plain' },
    ])
    const entries = await entriesOf(bytes)
    expect(entries.map((e) => e.name)).toEqual([long, `pax/${long}`, `gnu/${long}`, 'after'])
  })

  it('agrees with the system tar on archives it writes (gnu and pax formats)', async () => {
    const src = join(dir, 'tar-src')
    const deep = join(src, 'x'.repeat(70), 'y'.repeat(70))
    mkdirSync(deep, { recursive: true })
    const files: Record<string, Buffer> = {
      'small.txt': Buffer.from('small'),
      [`${'x'.repeat(70)}/${'y'.repeat(70)}/${'z'.repeat(80)}.bin`]: Buffer.alloc(70_000, 7),
      'block.bin': Buffer.alloc(512, 1),
    }
    for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data)
    for (const format of ['gnu', 'pax', 'ustar']) {
      const out = join(dir, `sys-${format}.tar`)
      const names = format === 'ustar' ? ['small.txt', 'block.bin'] : Object.keys(files)
      execFileSync('tar', [`--format=${format}`, '-C', src, '-cf', out, ...names])
      const tar = await openTarFile(out)
      try {
        const got = tar.entries.filter((e) => e.type === 'file').map((e) => e.name)
        expect(got.sort(), format).toEqual([...names].sort())
        for (const name of names) expect(Buffer.from((await tar.read(name, 1 << 20)) as Uint8Array), `${format} ${name}`).toEqual(files[name])
      } finally {
        await tar.close()
      }
    }
  })

  it('refuses what is not a tar, naming the problem', async () => {
    const good = tarOf([{ name: 'one', data: 'x'.repeat(600) }])
    const corrupt = new Uint8Array(good)
    corrupt[10] = (corrupt[10] as number) ^ 0xff
    const checksum = await rejection(entriesOf(corrupt))
    expect(checksum.code).toBe('INVALID_INPUT')
    expect(checksum.details).toMatchObject({ problem: 'not-a-tar', offset: 0 })
    expect(checksum.message).toContain('checksum')

    const cut = await rejection(entriesOf(good.subarray(0, 700)))
    expect(cut.details).toMatchObject({ problem: 'not-a-tar', offset: 0 })

    expect((await rejection(entriesOf(enc.encode('{"not":"a tar"}'.repeat(100))))).details?.['problem']).toBe('not-a-tar')
    expect((await rejection(entriesOf(new Uint8Array(1024)))).details?.['problem']).toBe('not-a-tar')
    expect((await rejection(entriesOf(new Uint8Array(10)))).details?.['problem']).toBe('not-a-tar')
  })
})

// ---- A docker-save archive made by hand: manifest.json, a config, one layer. ----

function dockerSave(opts: { config?: string; manifest?: unknown; layers?: string[]; omit?: string[] } = {}): { bytes: Uint8Array; digest: string } {
  const config = opts.config ?? JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })
  const digest = sha(config)
  const configName = `${digest.slice(7)}.json`
  const layers = opts.layers ?? ['0123abcd/layer.tar']
  const manifest = opts.manifest ?? [{ Config: configName, RepoTags: ['galactic-test/p:1.0.0'], Layers: layers }]
  const members: Member[] = [
    ...layers.map((l) => ({ name: l, data: tarOf([{ name: 'app/file', data: `layer ${l}` }]) })),
    { name: configName, data: config },
    { name: 'manifest.json', data: JSON.stringify(manifest) },
    { name: 'repositories', data: '{}' },
  ].filter((m) => !(opts.omit ?? []).includes(m.name))
  return { bytes: tarOf(members), digest }
}

let counter = 0
function fresh(): string {
  const d = join(dir, `case-${++counter}`)
  mkdirSync(d, { recursive: true })
  return d
}

function write(d: string, name: string, content: Uint8Array | string | object): string {
  const path = join(d, name)
  writeFileSync(path, typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content))
  return path
}

const manifestFor = (digest: string | undefined, extra: Record<string, unknown> = {}) => ({
  name: 'sha256-chain',
  version: '1.0.0',
  description: 'test',
  ops: ['split', 'prove'],
  runtime: { type: 'docker', image: 'galactic-test/p:1.0.0', ...(digest === undefined ? {} : { digest }) },
  ...extra,
})

describe('docker save archives', () => {
  it("reads each image's id from its config bytes", async () => {
    const d = fresh()
    const { bytes, digest } = dockerSave()
    const images = await readDockerArchive(write(d, 'image.tar', bytes))
    expect(images).toEqual([{ digest, config: `${digest.slice(7)}.json`, repoTags: ['galactic-test/p:1.0.0'], layers: ['0123abcd/layer.tar'] }])
  })

  it('refuses a tar without manifest.json, with a missing layer or config, or a bad manifest.json', async () => {
    const d = fresh()
    const cases: Array<[string, Uint8Array, string]> = [
      ['no manifest', dockerSave({ omit: ['manifest.json'] }).bytes, 'manifest.json'],
      ['missing layer', dockerSave({ omit: ['0123abcd/layer.tar'] }).bytes, '0123abcd/layer.tar'],
      ['bad manifest', dockerSave({ manifest: { Config: 1 } }).bytes, 'manifest.json'],
      ['missing config', dockerSave({ manifest: [{ Config: 'nope.json', Layers: [] }] }).bytes, 'nope.json'],
    ]
    for (const [what, bytes, named] of cases) {
      const error = await rejection(readDockerArchive(write(d, `${what}.tar`, bytes)))
      expect(error.code, what).toBe('INVALID_INPUT')
      expect(error.details?.['problem'], what).toBe('not-docker-archive')
      expect(error.message, what).toContain(named)
    }
  })
})

describe('galactic plugin publish', () => {
  it('stores the archive in chunks in the blob store and writes the entry into catalog.json', async () => {
    const d = fresh()
    const dataDir = join(d, 'oracle')
    const { bytes, digest } = dockerSave({ layers: ['l1/layer.tar', 'l2/layer.tar'] })
    const archive = write(d, 'image.tar', bytes)
    const manifest = write(d, 'galactic-plugin.json', manifestFor(digest))
    const entry = await publishPlugin(
      { dataDir, manifest, archive, resources: { memoryMiB: 512, gpu: false }, chunkBytes: 1024 },
      { now: () => new Date('2026-01-02T03:04:05Z') },
    )
    expect(entry).toMatchObject({
      name: 'sha256-chain',
      version: '1.0.0',
      description: 'test',
      ops: ['split', 'prove'],
      resources: { memoryMiB: 512, gpu: false },
      image: { ref: 'galactic-test/p:1.0.0', digest, archive: { hash: contentHash(bytes), size: bytes.length } },
      publishedAt: '2026-01-02T03:04:05.000Z',
    })
    const chunks = entry.image.archive?.chunks ?? []
    expect(chunks.length).toBe(Math.ceil(bytes.length / 1024))
    const blobs = new FileBlobStore(join(dataDir, 'blobs'))
    const joined = Buffer.concat(await Promise.all(chunks.map(async (c) => (await blobs.get(c.hash as ContentHash)) as Uint8Array)))
    expect(new Uint8Array(joined)).toEqual(bytes)
    expect(Catalog.parse(JSON.parse(readFileSync(join(dataDir, 'catalog.json'), 'utf8')))).toEqual({ plugins: [entry] })

    // Publishing again is idempotent; another version is added beside it.
    await publishPlugin({ dataDir, manifest, archive })
    const v2 = write(d, 'v2.json', manifestFor(digest, { version: '2.0.0' }))
    await publishPlugin({ dataDir, manifest: v2, archive })
    const catalog = await new CatalogFile(join(dataDir, 'catalog.json')).read()
    expect(catalog.plugins.map((p) => `${p.name}@${p.version}`)).toEqual(['sha256-chain@1.0.0', 'sha256-chain@2.0.0'])
  })

  it('refuses an archive whose image is not the manifest digest, and writes nothing', async () => {
    const d = fresh()
    const dataDir = join(d, 'oracle')
    const { bytes, digest } = dockerSave()
    const other = sha('another config')
    const error = await rejection(publishPlugin({ dataDir, manifest: write(d, 'm.json', manifestFor(other)), archive: write(d, 'image.tar', bytes) }))
    expect(error.code).toBe('INVALID_INPUT')
    expect(error.details).toMatchObject({ problem: 'digest-mismatch', expected: other, found: [digest] })
    expect(() => readFileSync(join(dataDir, 'catalog.json'))).toThrow()
  })

  it('refuses an archive that is not a docker save tar', async () => {
    const d = fresh()
    const { digest } = dockerSave()
    const manifest = write(d, 'm.json', manifestFor(digest))
    const notTar = await rejection(publishPlugin({ dataDir: d, manifest, archive: write(d, 'image.tar', 'not a tar at all'.repeat(100)) }))
    expect(notTar.details?.['problem']).toBe('not-a-tar')
    const plainTar = await rejection(publishPlugin({ dataDir: d, manifest, archive: write(d, 'plain.tar', tarOf([{ name: 'readme', data: 'hi' }])) }))
    expect(plainTar.details?.['problem']).toBe('not-docker-archive')
    const missing = await rejection(publishPlugin({ dataDir: d, manifest, archive: join(d, 'nowhere.tar') }))
    expect(missing.details?.['problem']).toBe('unreadable')
  })

  it('refuses a manifest with missing fields, another runtime, or no digest, naming the field', async () => {
    const d = fresh()
    const { bytes, digest } = dockerSave()
    const archive = write(d, 'image.tar', bytes)
    const noOps = manifestFor(digest) as Record<string, unknown>
    delete noOps['ops']
    const missing = await rejection(publishPlugin({ dataDir: d, manifest: write(d, 'no-ops.json', noOps), archive }))
    expect(missing.code).toBe('INVALID_INPUT')
    expect(missing.details?.['problem']).toBe('invalid-manifest')
    expect(missing.issues.map((i) => i.path)).toContain('ops')

    const process = await rejection(publishPlugin({ dataDir: d, manifest: write(d, 'process.json', { ...manifestFor(digest), runtime: { type: 'process', command: ['node', 'x.js'] } }), archive }))
    expect(process.details?.['problem']).toBe('not-docker-runtime')
    expect(process.issues.map((i) => i.path)).toEqual(['runtime.type'])

    const noDigest = await rejection(publishPlugin({ dataDir: d, manifest: write(d, 'nodigest.json', manifestFor(undefined)), archive }))
    expect(noDigest.details?.['problem']).toBe('no-digest')
    expect(noDigest.issues.map((i) => i.path)).toEqual(['runtime.digest'])

    const badResources = await rejection(publishPlugin({ dataDir: d, manifest: write(d, 'ok.json', manifestFor(digest)), archive, resources: { memoryMiB: -1 } }))
    expect(badResources.issues.map((i) => i.path)).toEqual(['memoryMiB'])
  })

  it('refuses another image under a published name@version unless asked to replace it', async () => {
    const d = fresh()
    const dataDir = join(d, 'oracle')
    const first = dockerSave({ config: '{"n":1}' })
    const second = dockerSave({ config: '{"n":2}' })
    await publishPlugin({ dataDir, manifest: write(d, 'a.json', manifestFor(first.digest)), archive: write(d, 'a.tar', first.bytes) })
    const args = { dataDir, manifest: write(d, 'b.json', manifestFor(second.digest)), archive: write(d, 'b.tar', second.bytes) }
    const error = await rejection(publishPlugin(args))
    expect(error.details).toMatchObject({ problem: 'already-published', published: first.digest })
    const replaced = await publishPlugin({ ...args, replace: true })
    expect((await new CatalogFile(join(dataDir, 'catalog.json')).read()).plugins).toEqual([replaced])
  })
})

describe('catalog.json', () => {
  it('is empty when absent, re-read when it changes, and a damaged file is a STORAGE_ERROR naming the field', async () => {
    const d = fresh()
    const file = new CatalogFile(join(d, 'catalog.json'))
    expect(await file.read()).toEqual({ plugins: [] })
    const { bytes, digest } = dockerSave()
    await publishPlugin({ dataDir: d, manifest: write(d, 'm.json', manifestFor(digest)), archive: write(d, 'image.tar', bytes) })
    expect((await file.read()).plugins.map((p) => p.name)).toEqual(['sha256-chain'])
    // Changed in place, with the same size and an older mtime: still noticed (inode/mtime/size key).
    const text = readFileSync(join(d, 'catalog.json'), 'utf8').replace('"test"', '"TEST"')
    writeFileSync(join(d, 'catalog.json'), text)
    utimesSync(join(d, 'catalog.json'), new Date(2000, 1, 1), new Date(2000, 1, 1))
    expect((await file.read()).plugins[0]?.description).toBe('TEST')
    writeFileSync(join(d, 'catalog.json'), JSON.stringify({ plugins: [{ name: 'x' }] }))
    const damaged = await rejection(file.read())
    expect(damaged.code).toBe('STORAGE_ERROR')
    expect(damaged.issues.map((i) => i.path)).toContain('plugins[0].version')
  })
})
