import { execFileSync } from 'node:child_process'
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createNode, loadOrCreateKey, multiaddr, pushBlob } from '@galactic/net'
import { contentHash } from '@galactic/schemas'
import { freePort, logEntries, runGalactic, spawnAgent, spawnOracle, type AgentReady, type GalacticProcess, type OracleReady } from '@galactic/cli/processes'
import { buildZkmGraph, GalacticClient, type GraphStatus } from '@galactic/sdk'
import { rejection } from '../support/rejection.js'
import { until } from '../support/until.js'
import { delayedPlugin, finished, isAlive, KEEP_ENV, PLUGIN, unfinished } from './harness.js'
import { checkInvariants } from './invariants.js'
import { chaosRandom } from './random.js'

/** The oracle's filesystem: a tmpfs of this size, mounted by the test (root, or sudo -n). */
const DISK = '40m'
/** Each op takes this long on the agents: ops are in flight when the disk fills. */
const OP_MS = 400

function asRoot(command: string, args: string[]): void {
  if (process.getuid?.() === 0) execFileSync(command, args, { stdio: 'pipe' })
  else execFileSync('sudo', ['-n', command, ...args], { stdio: 'pipe' })
}

/** Writes zeros into `file` until the filesystem refuses (ENOSPC); returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w')
  let written = 0
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = Buffer.alloc(size)
      for (;;) {
        try {
          written += writeSync(fd, chunk)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
          break
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return written
}

/**
 * The oracle's data folder on a small filesystem that fills up. While it is full the oracle
 * refuses new work with STORAGE_FULL naming the folder, keeps serving, and loses nothing it had
 * accepted: results it cannot store stay with the agents. Once space is freed it works again
 * without a restart, and everything finishes right.
 */
describe("chaos: the oracle's disk fills up", () => {
  const rng = chaosRandom('disk-full')
  let scratch: string | undefined
  let disk: string | undefined
  let mounted = false
  const processes: Array<GalacticProcess<unknown>> = []
  let client: GalacticClient | undefined

  afterAll(async () => {
    client?.close()
    await Promise.all(processes.map((p) => p.stop()))
    const keep = process.env[KEEP_ENV] !== undefined && process.env[KEEP_ENV] !== ''
    // The tmpfs goes with the unmount: a kept run copies the oracle's data folder out first.
    if (keep && mounted && disk !== undefined && scratch !== undefined) cpSync(join(disk, 'oracle'), join(scratch, 'oracle-data'), { recursive: true })
    if (mounted && disk !== undefined) {
      try {
        asRoot('umount', [disk])
      } catch {
        asRoot('umount', ['-l', disk])
      }
    }
    if (scratch !== undefined) {
      if (keep) console.log(`[chaos] kept ${scratch}`)
      else rmSync(scratch, { recursive: true, force: true })
    }
  })

  it('refuses new work with STORAGE_FULL while full, loses nothing accepted, and works again once space is freed', async () => {
    scratch = mkdtempSync(join(tmpdir(), 'galactic-chaos-disk-'))
    disk = join(scratch, 'disk')
    mkdirSync(disk)
    try {
      asRoot('mount', ['-t', 'tmpfs', '-o', `size=${DISK}`, 'tmpfs', disk])
    } catch (err) {
      throw new Error(`the disk-full scenario mounts a ${DISK} tmpfs and needs root or passwordless sudo: ${(err as Error).message}`)
    }
    mounted = true
    const dataDir = join(disk, 'oracle')
    const oracle: GalacticProcess<OracleReady> = await spawnOracle({
      dataDir,
      wsPort: await freePort(),
      p2pPort: await freePort(),
      args: ['--heartbeat-ms', '300', '--liveness-ms', '3000'],
    })
    processes.push(oracle)
    const plugin = delayedPlugin(scratch, OP_MS)
    const agents: Array<GalacticProcess<AgentReady>> = []
    for (let i = 1; i <= 3; i++) {
      const agent = await spawnAgent({ oracle: oracle.ready.ws, name: `disk-agent-${i}`, dataDir: join(scratch, `agent-${i}`), args: ['--plugins', plugin] })
      processes.push(agent)
      agents.push(agent)
    }
    client = new GalacticClient({ url: oracle.ready.ws })
    const requester = client

    // Accepted before the disk fills, and still running when it does.
    const first = buildZkmGraph({ requester: 'chaos', nonce: `disk-1-${rng.seed}`, segments: 16, plugin: PLUGIN, params: { seed: `disk-1-${rng.seed}`, segmentSteps: 1_000 }, pluginMode: 'performance' })
    const { graphId: firstId } = await requester.submit(first)
    const doneBeforeFull = rng.int(2, 10)
    await until(`${doneBeforeFull} ops done`, async () => {
      const s = await requester.status(firstId)
      return s.ops.filter((o) => o.state === 'succeeded').length >= doneBeforeFull ? s : undefined
    }, 120_000)

    const filler = join(disk, 'filler')
    const filled = fill(filler)
    const before: GraphStatus = await requester.status(firstId)
    console.log(`[chaos] disk-full: filled ${filled} bytes after ${before.ops.filter((o) => o.state === 'succeeded').length} ops`)

    // New work is refused, with the folder named; nothing of it is kept. SQLite reuses its WAL
    // file's space, so a small graph may still fit on a "full" disk (and is then stored safely):
    // this one needs ~7 MB of journal, more than the WAL can hold, whatever it holds.
    const padding = 'p'.repeat(56_000)
    const second = buildZkmGraph({ requester: 'chaos-big', nonce: `disk-2-${rng.seed}`, segments: 60, plugin: PLUGIN, params: { seed: `disk-2-${rng.seed}`, segmentSteps: 1_000, padding }, pluginMode: 'performance' })
    const refused = await rejection(requester.submit(second))
    expect(refused.code, refused.message).toBe('STORAGE_FULL')
    expect(refused.message).toContain(dataDir)
    expect(refused.details?.['dataDir']).toBe(dataDir)
    expect((await requester.graphs()).map((g) => g.requester)).not.toContain('chaos-big')
    // The CLI says the same to a requester on the command line.
    const graphFile = join(scratch, 'second.json')
    writeFileSync(graphFile, JSON.stringify(second))
    const cli = await runGalactic(['submit', graphFile, '--url', oracle.ready.ws])
    expect(cli.code, cli.stderr).toBe(1)
    expect(cli.stderr).toContain('STORAGE_FULL')
    expect(cli.stderr).toContain(dataDir)
    // The oracle rebuilt its state from the journal after the refused write, and keeps serving.
    expect(logEntries(oracle, { msg: 'journal write failed: rebuilding the scheduler from the journal' }).length).toBeGreaterThanOrEqual(1)
    expect(isAlive(oracle)).toBe(true)
    expect((await fetch(`${oracle.ready.ws.replace('ws:', 'http:')}/healthz`)).status).toBe(200)
    // Outputs cannot be stored either: the blob store refuses a put over the blob protocol (as an
    // agent uploads a result) with STORAGE_FULL naming its folder, and keeps serving.
    const peer = await createNode({ privateKey: await loadOrCreateKey(join(scratch, 'uploader.key')) })
    try {
      const bytes = new TextEncoder().encode(`an output that does not fit ${rng.seed}`)
      const blobErr = await rejection(pushBlob(peer, multiaddr(oracle.ready.multiaddrs[0] as string), bytes, { signal: AbortSignal.timeout(30_000) }))
      expect(blobErr.code, blobErr.message).toBe('STORAGE_FULL')
      expect(blobErr.message).toContain(join(dataDir, 'blobs'))
      expect(existsSync(join(dataDir, 'blobs', contentHash(bytes).slice('sha256:'.length)))).toBe(false)
    } finally {
      await peer.stop()
    }

    // Space is freed: the same oracle process accepts work again and finishes everything.
    unlinkSync(filler)
    const { graphId: secondId, created } = await requester.submit(second)
    expect(created).toBe(true)
    const done = await finished(requester, firstId, 180_000)
    expect(done.state, unfinished(done)).toBe('succeeded')
    const secondDone = await finished(requester, secondId, 180_000)
    expect(secondDone.state, unfinished(secondDone)).toBe('succeeded')
    expect(isAlive(oracle), 'the oracle was never restarted').toBe(true)
    // What had finished before the disk filled is as it was.
    for (const op of before.ops.filter((o) => o.state === 'succeeded')) {
      expect(done.ops.find((o) => o.id === op.id), op.id).toMatchObject({ state: 'succeeded', attempt: op.attempt, deviceIds: op.deviceIds, outputs: op.outputs, finishedAt: op.finishedAt })
    }

    await Promise.all(agents.map((a) => a.stop()))
    await oracle.stop(10_000)
    expect(checkInvariants({ dataDir, graphIds: [firstId, secondId] })).toEqual({ graphs: 2, ops: 33 + 121 })
  })
})
