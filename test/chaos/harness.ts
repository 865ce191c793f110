import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AgentReady, GalacticProcess, LocalCluster } from '@galactic/cli/processes'
import type { GalacticClient, GraphStatus } from '@galactic/sdk'
import { until } from '../support/until.js'

/** The plugin every chaos graph runs: real work whose every output the invariants re-check. */
export const PLUGIN = { name: 'sha256-chain', version: '1.0.0' } as const

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))
/** A prover that returns wrong outputs (every end state tampered with). */
export const LYING_PLUGIN = join(FIXTURES, 'lying-plugin', 'galactic-plugin.json')
/** A prover that sleeps 10 minutes before each task: it misses every deadline. */
export const SLOW_PLUGIN = join(FIXTURES, 'slow-plugin', 'galactic-plugin.json')

/** Set to keep the scratch folders (journal, blobs, keys) of a run for a post-mortem. */
export const KEEP_ENV = 'GALACTIC_CHAOS_KEEP'

/**
 * Writes, in `dir`, a manifest of the slow fixture plugin that sleeps `delayMs` before each task
 * (real sha256-chain outputs after it): a prover whose ops take that long whatever their size.
 * With `startedDir`, the plugin marks each task it begins with a file there (see {@link tasksStarted}).
 */
export function delayedPlugin(dir: string, delayMs: number, startedDir?: string): string {
  const file = join(dir, `delayed-${delayMs}ms${startedDir === undefined ? '' : `-${basename(startedDir)}`}.json`)
  const manifest = {
    name: PLUGIN.name,
    version: PLUGIN.version,
    description: `chaos fixture: sha256-chain after a ${delayMs} ms sleep per task`,
    ops: ['split', 'prove', 'aggregate', 'snark'],
    runtime: { type: 'process', command: ['node', join(FIXTURES, 'slow-plugin', 'slow-plugin.mjs'), String(delayMs), ...(startedDir === undefined ? [] : [startedDir])] },
  }
  if (startedDir !== undefined) mkdirSync(startedDir, { recursive: true })
  writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`)
  return file
}

/** The task ids (`graphId/opId#attempt`) a plugin made by {@link delayedPlugin} with `startedDir` has begun. */
export function tasksStarted(startedDir: string): string[] {
  return readdirSync(startedDir).map((f) => decodeURIComponent(f))
}

export function isAlive(proc: GalacticProcess<unknown>): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null
}

/** SIGSTOP: the process and its connections go silent without closing (the kernel keeps its sockets). */
export function pause(proc: GalacticProcess<unknown>): void {
  if (!proc.child.kill('SIGSTOP')) throw new Error(`cannot SIGSTOP pid ${proc.child.pid}`)
}

/** SIGCONT after {@link pause}. */
export function resume(proc: GalacticProcess<unknown>): void {
  if (isAlive(proc)) proc.child.kill('SIGCONT')
}

/** The newest process of the agent named `name` (a restarted agent has several). */
export function agentProcess(cluster: LocalCluster, name: string): GalacticProcess<AgentReady> {
  const found = cluster.agents.filter((a) => a.ready.name === name).at(-1)
  if (found === undefined) throw new Error(`no agent ${name} in this cluster`)
  return found
}

/**
 * Stops the agents, then the oracle (SIGTERM, so its journal is closed cleanly), so the journal
 * can be opened read-only. Paused processes are resumed first. Returns the oracle's data folder.
 */
export async function stopForInspection(cluster: LocalCluster): Promise<string> {
  for (const a of cluster.agents) resume(a)
  await Promise.all(cluster.agents.map((a) => a.stop()))
  resume(cluster.oracle)
  await cluster.oracle.stop(10_000)
  return join(cluster.dir, 'oracle')
}

/**
 * Ends a cluster whatever state it is in (afterAll, also after a failure): resumes paused
 * processes, stops every process (SIGKILL after the grace period) and removes the scratch folder
 * unless GALACTIC_CHAOS_KEEP is set.
 */
export async function teardown(cluster: LocalCluster | undefined): Promise<void> {
  if (cluster === undefined) return
  for (const p of [...cluster.agents, cluster.oracle]) resume(p)
  const keep = process.env[KEEP_ENV] !== undefined && process.env[KEEP_ENV] !== ''
  await cluster.stop({ keep })
  if (keep) console.log(`[chaos] kept ${cluster.dir}`)
}

/** Ops of a graph that succeeded, as the oracle reports now; undefined while it cannot be asked (restarting). */
export async function succeededOps(client: GalacticClient, graphId: string): Promise<number | undefined> {
  try {
    return (await client.graphs({ signal: AbortSignal.timeout(5_000) })).find((g) => g.graphId === graphId)?.succeeded
  } catch {
    return undefined
  }
}

/**
 * Waits until the graph is finished (succeeded or failed) and returns its status. Polls the
 * oracle's graph list (cheap), so it rides over oracle restarts.
 */
export async function finished(client: GalacticClient, graphId: string, withinMs: number): Promise<GraphStatus> {
  await until(
    `graph ${graphId} finished`,
    async () => {
      try {
        const g = (await client.graphs()).find((s) => s.graphId === graphId)
        return g !== undefined && g.state !== 'running' ? true : undefined
      } catch {
        return undefined // the oracle is restarting
      }
    },
    withinMs,
    250,
  )
  return client.status(graphId)
}

/** The prover as the oracle reports it; undefined when unknown or the oracle cannot be asked. */
export async function proverInfo(client: GalacticClient, proverId: string) {
  try {
    return (await client.provers()).find((p) => p.proverId === proverId)
  } catch {
    return undefined
  }
}

/** A line for failure messages: each op that did not succeed, with its state, attempt and error. */
export function unfinished(status: GraphStatus): string {
  return JSON.stringify(status.ops.filter((o) => o.state !== 'succeeded').map((o) => [o.id, o.state, o.attempt, o.deviceIds, o.error?.message]))
}
