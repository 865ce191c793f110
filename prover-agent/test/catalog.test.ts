import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createNode, type Libp2p } from '@galactic/net'
import { CatalogFile, handleCatalogStream } from '@galactic/oracle'
import { CATALOG_PROTOCOL, contentHash, GalacticError, type Catalog, type CatalogEntry, type ContentHash, type DeviceDescriptor } from '@galactic/schemas'
import { fetchCatalog, installCatalogPlugins, unfitReason, type ImageDaemon } from '../src/catalog.js'

const dir = mkdtempSync(join(tmpdir(), 'galactic-agent-catalog-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const log = pino({ level: 'silent' })

const digestOf = (s: string): string => contentHash(new TextEncoder().encode(s))
const DIGEST = digestOf('the image')
const OTHER = digestOf('another image')
const REF = 'galactic-test/p:1.0.0'

const device: DeviceDescriptor = {
  os: 'linux',
  cpu: { model: 'test', arch: 'x64', cores: 4 },
  gpus: [],
  memoryMiB: 8192,
  plugins: [],
}

/** The archive's bytes, split into chunks of 100 bytes, as the oracle stores them. */
function archiveOf(bytes: Uint8Array): { archive: NonNullable<CatalogEntry['image']['archive']>; chunks: Map<ContentHash, Uint8Array> } {
  const chunks = new Map<ContentHash, Uint8Array>()
  const list: Array<{ hash: ContentHash; size: number }> = []
  for (let i = 0; i < bytes.length; i += 100) {
    const c = bytes.subarray(i, i + 100)
    chunks.set(contentHash(c), c)
    list.push({ hash: contentHash(c), size: c.length })
  }
  return { archive: { hash: contentHash(bytes), size: bytes.length, chunks: list }, chunks }
}

const ARCHIVE_BYTES = new Uint8Array(350).map((_, i) => (i * 7) % 256)

function entry(over: Partial<CatalogEntry> = {}, image: Partial<CatalogEntry['image']> = {}): CatalogEntry {
  return {
    name: 'p',
    version: '1.0.0',
    ops: ['prove'],
    resources: {},
    image: { ref: REF, digest: DIGEST, archive: archiveOf(ARCHIVE_BYTES).archive, ...image },
    ...over,
  }
}

/** A Docker daemon in memory: images by ref and id; what it was asked to do. */
class FakeDaemon implements ImageDaemon {
  readonly refs = new Map<string, string>()
  readonly calls: string[] = []
  readonly loadedBytes: Uint8Array[] = []
  /** The image id a pull of REF yields, or undefined: the pull fails. */
  pullGives: string | undefined
  /** The image id (tagged REF) a load yields. */
  loadGives = DIGEST

  add(id: string, ...tags: string[]): void {
    this.refs.set(id, id)
    for (const t of tags) this.refs.set(t, id)
  }
  async imageId(ref: string): Promise<string | undefined> {
    return this.refs.get(ref)
  }
  async imageIds(): Promise<Set<string>> {
    return new Set(this.refs.values())
  }
  async pull(ref: string): Promise<void> {
    this.calls.push(`pull ${ref}`)
    if (this.pullGives === undefined) throw new Error('no registry')
    this.add(this.pullGives, ref)
  }
  async load(file: string): Promise<string[]> {
    this.calls.push('load')
    this.loadedBytes.push(new Uint8Array(readFileSync(file)))
    this.add(this.loadGives, REF)
    return [this.loadGives]
  }
  async remove(id: string): Promise<void> {
    this.calls.push(`remove ${id}`)
    for (const [ref, target] of [...this.refs]) if (target === id) this.refs.delete(ref)
  }
}

/** Serves chunks by hash like `fetchBlob` (which refuses bytes that do not hash to what was asked). */
function chunkServer(chunks: Map<ContentHash, Uint8Array>, tamper?: ContentHash) {
  const fetched: ContentHash[] = []
  const fetchChunk = async (hash: ContentHash): Promise<Uint8Array> => {
    fetched.push(hash)
    const bytes = chunks.get(hash)
    if (bytes === undefined) throw new GalacticError('NOT_FOUND', `no blob ${hash}`)
    if (hash === tamper) throw new GalacticError('PROTOCOL_ERROR', `peer sent bytes hashing to something else for ${hash}`)
    return bytes
  }
  return { fetchChunk, fetched }
}

async function install(catalog: CatalogEntry[], daemon: FakeDaemon, opts: { tamper?: ContentHash; local?: string[]; device?: DeviceDescriptor } = {}) {
  const { chunks } = archiveOf(ARCHIVE_BYTES)
  const server = chunkServer(chunks, opts.tamper)
  const staging = mkdtempSync(join(dir, 'staging-'))
  const result = await installCatalogPlugins(
    { plugins: catalog },
    { dir: staging, device: opts.device ?? device, local: opts.local ?? [], pullTimeoutMs: 1000 },
    { images: daemon, fetchChunk: server.fetchChunk, log },
  )
  return { ...result, fetched: server.fetched, staged: readdirSync(staging) }
}

describe('which catalog plugins a device can run', () => {
  it('needs a GPU for a GPU plugin, and enough memory and cores', () => {
    expect(unfitReason(entry({ resources: {} }), device)).toBeUndefined()
    expect(unfitReason(entry({ resources: { gpu: true } }), device)).toContain('GPU')
    expect(unfitReason(entry({ resources: { gpu: true } }), { ...device, gpus: [{ vendor: 'nvidia', model: 'H100', memoryMiB: 81_559 }] })).toBeUndefined()
    expect(unfitReason(entry({ resources: { memoryMiB: 8193 } }), device)).toContain('8193 MiB')
    expect(unfitReason(entry({ resources: { memoryMiB: 8192 } }), device)).toBeUndefined()
    expect(unfitReason(entry({ resources: { cpuCores: 5 } }), device)).toContain('5 CPU cores')
  })

  it('offers only what fits, and a local plugin of the same name@version instead of the catalog one', async () => {
    const daemon = new FakeDaemon()
    daemon.add(DIGEST, REF)
    const { plugins, refused } = await install(
      [entry({ name: 'gpu-only', resources: { gpu: true } }), entry({ name: 'huge', resources: { memoryMiB: 1 << 20 } }), entry({ name: 'local' }), entry({ name: 'fits' })],
      daemon,
      { local: ['local@1.0.0'] },
    )
    expect(plugins.map((p) => p.manifest.name)).toEqual(['fits'])
    expect(refused.map((r) => r.plugin)).toEqual(['gpu-only@1.0.0', 'huge@1.0.0'])
  })
})

describe('installing catalog images', () => {
  it('uses an image the daemon already has, by its digest, without pulling or fetching', async () => {
    const daemon = new FakeDaemon()
    daemon.add(DIGEST, REF)
    const { plugins, fetched } = await install([entry({ description: 'd' })], daemon)
    expect(plugins).toEqual([
      {
        manifest: { name: 'p', version: '1.0.0', description: 'd', ops: ['prove'], runtime: { type: 'docker', image: REF, digest: DIGEST } },
        dir: expect.any(String),
      },
    ])
    expect(daemon.calls).toEqual([])
    expect(fetched).toEqual([])
  })

  it('runs by digest when the reference names another image here', async () => {
    const daemon = new FakeDaemon()
    daemon.add(DIGEST)
    daemon.add(OTHER, REF)
    const { plugins } = await install([entry()], daemon)
    expect(plugins[0]?.manifest.runtime).toEqual({ type: 'docker', image: DIGEST, digest: DIGEST })
  })

  it('pulls from the registry when it can and the pull yields the digest', async () => {
    const daemon = new FakeDaemon()
    daemon.pullGives = DIGEST
    const { plugins, fetched } = await install([entry()], daemon)
    expect(plugins.map((p) => p.manifest.runtime)).toEqual([{ type: 'docker', image: REF, digest: DIGEST }])
    expect(daemon.calls).toEqual([`pull ${REF}`])
    expect(fetched).toEqual([])
  })

  it('falls back to the archive when the pull fails: fetches every chunk, joins and loads it, leaves no staging file', async () => {
    const daemon = new FakeDaemon()
    const { plugins, fetched, staged } = await install([entry()], daemon)
    expect(plugins.map((p) => p.manifest.runtime)).toEqual([{ type: 'docker', image: REF, digest: DIGEST }])
    expect(daemon.calls).toEqual([`pull ${REF}`, 'load'])
    expect(fetched).toEqual(archiveOf(ARCHIVE_BYTES).archive.chunks.map((c) => c.hash))
    expect(daemon.loadedBytes).toEqual([ARCHIVE_BYTES])
    expect(staged).toEqual([])
  })

  it('removes a pulled image that is not the digest and uses the archive', async () => {
    const daemon = new FakeDaemon()
    daemon.pullGives = OTHER
    const { plugins } = await install([entry()], daemon)
    expect(plugins).toHaveLength(1)
    expect(daemon.calls).toEqual([`pull ${REF}`, `remove ${OTHER}`, 'load'])
  })

  it('refuses an archive whose image is not the digest, and removes the image it loaded', async () => {
    const daemon = new FakeDaemon()
    daemon.loadGives = OTHER
    const { plugins, refused } = await install([entry()], daemon)
    expect(plugins).toEqual([])
    expect(refused).toHaveLength(1)
    expect(refused[0]?.reason).toContain(OTHER)
    expect(refused[0]?.reason).toContain(DIGEST)
    expect(daemon.calls).toEqual([`pull ${REF}`, 'load', `remove ${OTHER}`])
    expect(await daemon.imageId(OTHER)).toBeUndefined()
  })

  it('keeps an image that was there before a load that did not yield the digest', async () => {
    const daemon = new FakeDaemon()
    daemon.add(OTHER, 'something:else')
    daemon.loadGives = OTHER
    const { plugins } = await install([entry()], daemon)
    expect(plugins).toEqual([])
    expect(daemon.calls).toEqual([`pull ${REF}`, 'load'])
    expect(await daemon.imageId(OTHER)).toBe(OTHER)
  })

  it('refuses a plugin whose archive chunk fails its hash check, and loads nothing', async () => {
    const daemon = new FakeDaemon()
    const tamper = archiveOf(ARCHIVE_BYTES).archive.chunks[1]?.hash as ContentHash
    const { plugins, refused, staged } = await install([entry()], daemon, { tamper })
    expect(plugins).toEqual([])
    expect(refused.map((r) => r.plugin)).toEqual(['p@1.0.0'])
    expect(daemon.calls).toEqual([`pull ${REF}`])
    expect(staged).toEqual([])
  })

  it('refuses an archive whose joined bytes are not the archive hash', async () => {
    const daemon = new FakeDaemon()
    const { archive } = archiveOf(ARCHIVE_BYTES)
    const { plugins, refused } = await install([entry({}, { archive: { ...archive, hash: digestOf('other bytes') } })], daemon)
    expect(plugins).toEqual([])
    expect(refused[0]?.reason).toContain(digestOf('other bytes'))
    expect(daemon.calls).toEqual([`pull ${REF}`])
  })

  it('refuses an image it cannot pull when the catalog has no archive', async () => {
    const daemon = new FakeDaemon()
    const { plugins, refused } = await install([entry({}, { archive: undefined })], daemon)
    expect(plugins).toEqual([])
    expect(refused[0]?.reason).toContain('no archive')
  })
})

describe('the catalog protocol', () => {
  it('answers one request with the catalog on disk, re-read when it changed, and an error for a damaged file', async () => {
    const key = async () => generateKeyPair('Ed25519')
    const oracle: Libp2p = await createNode({ privateKey: await key(), listen: ['/ip4/127.0.0.1/tcp/0'] })
    const agent: Libp2p = await createNode({ privateKey: await key() })
    try {
      const path = join(dir, 'catalog.json')
      const file = new CatalogFile(path)
      await oracle.handle(CATALOG_PROTOCOL, (stream) => handleCatalogStream(stream, file))
      const addr = oracle.getMultiaddrs()[0]
      if (addr === undefined) throw new Error('no address')
      expect(await fetchCatalog(agent, addr)).toEqual({ plugins: [] })
      const catalog: Catalog = { plugins: [entry()] }
      await file.write(catalog)
      expect(await fetchCatalog(agent, addr)).toEqual(catalog)
      writeFileSync(path, '{"plugins": [{"name": 1}]}')
      await expect(fetchCatalog(agent, addr)).rejects.toMatchObject({ code: 'STORAGE_ERROR' })
    } finally {
      await agent.stop()
      await oracle.stop()
    }
  })
})
