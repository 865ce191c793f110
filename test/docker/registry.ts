import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '@galactic/cli/processes'
import { spawnDaemon } from './daemon.js'

/** Debian's distribution registry (`apt-get install -y --no-install-recommends docker-registry`). */
export const REGISTRY_BIN = '/usr/bin/docker-registry'

/** A registry started by {@link startRegistry}. */
export interface StartedRegistry {
  /** `127.0.0.1:<port>`: the host part of image references pushed to it, e.g. `${address}/galactic/x:1`. */
  address: string
  /** Its process id. */
  pid: number
  /** Stops it by its pid (SIGTERM, then SIGKILL after 10 s) and removes its scratch folder. Idempotent. */
  stop(): Promise<void>
}

/** Why this machine cannot run a local registry, or undefined when it can. */
export function registryUnavailable(): string | undefined {
  return existsSync(REGISTRY_BIN) ? undefined : `${REGISTRY_BIN} is missing (apt-get install -y --no-install-recommends docker-registry)`
}


/**
 * Starts Debian's `docker-registry serve` on 127.0.0.1 only, on a free port, without auth, storing
 * blobs under `scratchDir` (which also holds its config and log), and waits until `GET /v2/` answers
 * 200 (30 s at most). Docker lets 127.0.0.0/8 registries speak plain HTTP without
 * `--insecure-registry`. Installs nothing: throws when the binary is missing.
 *
 * @example
 * const registry = await startRegistry(mkdtempSync('/tmp/greg-'))
 * // tag `${registry.address}/galactic/x:1`, push, pull...
 * await registry.stop()
 */
export async function startRegistry(scratchDir: string): Promise<StartedRegistry> {
  const why = registryUnavailable()
  if (why !== undefined) throw new Error(`cannot start a registry: ${why}`)
  mkdirSync(join(scratchDir, 'storage'), { recursive: true })
  const port = await freePort()
  const address = `127.0.0.1:${port}`
  const config = join(scratchDir, 'config.yml')
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(join(scratchDir, 'storage'))}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${address}`,
      '',
    ].join('\n'),
  )
  const daemon = spawnDaemon(REGISTRY_BIN, ['serve', config], scratchDir, 'registry.log', 10_000)
  try {
    if (daemon.pid === undefined) throw new Error('docker-registry did not start')
    const deadline = Date.now() + 30_000
    for (;;) {
      if (daemon.gone()) throw new Error('docker-registry exited before it answered')
      try {
        const res = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(2_000) })
        await res.arrayBuffer()
        if (res.status === 200) break
        throw new Error(`GET /v2/ answered ${res.status}`)
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${address} within 30 s: ${(err as Error).message}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } catch (err) {
    const tail = daemon.logTail()
    await daemon.stop()
    throw new Error(`${(err as Error).message}\n${tail}`)
  }
  return { address, pid: daemon.pid, stop: daemon.stop }
}
