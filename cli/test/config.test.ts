import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { GalacticError } from '@galactic/schemas'
import { AgentConfig, loadConfig, OracleConfig, writeStarterConfig } from '../src/config.js'

const dir = mkdtempSync(join(tmpdir(), 'galactic-config-'))

function error(fn: () => unknown): GalacticError {
  try {
    fn()
  } catch (err) {
    if (err instanceof GalacticError) return err
    throw err
  }
  throw new Error('expected an error')
}

describe('config: file < environment < flags', () => {
  it('uses defaults when nothing is given', () => {
    const c = loadConfig(OracleConfig, 'oracle', { env: {}, flags: {} })
    expect(c).toMatchObject({ dataDir: '.galactic/oracle', host: '127.0.0.1', wsPort: 7700, p2pPort: 7701, maxAttempts: 5, logLevel: 'info' })
  })

  it('layers a TOML file, then environment variables, then flags', () => {
    const file = join(dir, 'oracle.toml')
    writeFileSync(file, 'wsPort = 8000\np2pPort = 8001\nmaxAttempts = 2\nhost = "0.0.0.0"\n')
    const c = loadConfig(OracleConfig, 'oracle', {
      file,
      env: { GALACTIC_ORACLE_P2P_PORT: '9001', GALACTIC_ORACLE_MAX_ATTEMPTS: '3' },
      flags: { maxAttempts: 4 },
    })
    expect(c).toMatchObject({ host: '0.0.0.0', wsPort: 8000, p2pPort: 9001, maxAttempts: 4 })
  })

  it('reads JSON files and comma-separated plugin lists from the environment', () => {
    const file = join(dir, 'agent.json')
    writeFileSync(file, JSON.stringify({ name: 'gpu-box-1', slots: 4 }))
    const c = loadConfig(AgentConfig, 'agent', { file, env: { GALACTIC_AGENT_PLUGINS: 'a/galactic-plugin.json,b/galactic-plugin.json' }, flags: {} })
    expect(c).toMatchObject({ name: 'gpu-box-1', slots: 4, plugins: ['a/galactic-plugin.json', 'b/galactic-plugin.json'] })
  })

  it('names the key and where a bad value came from', () => {
    const fromEnv = error(() => loadConfig(OracleConfig, 'oracle', { env: { GALACTIC_ORACLE_WS_PORT: '70000' }, flags: {} }))
    expect(fromEnv.code).toBe('INVALID_INPUT')
    expect(fromEnv.message).toContain('wsPort')
    expect(fromEnv.message).toContain('GALACTIC_ORACLE_WS_PORT')

    const file = join(dir, 'bad.toml')
    writeFileSync(file, 'wsPort = "many"\nwsPorts = 1\n')
    const fromFile = error(() => loadConfig(OracleConfig, 'oracle', { file, env: {}, flags: {} }))
    expect(fromFile.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['wsPort', 'wsPorts']))
    expect(fromFile.issues.find((i) => i.path === 'wsPort')?.message).toContain(file)

    const fromFlag = error(() => loadConfig(AgentConfig, 'agent', { env: {}, flags: { name: 'no spaces allowed' } }))
    expect(fromFlag.message).toContain('--name')
  })

  it('refuses a file that is not TOML, with the file named', () => {
    const file = join(dir, 'junk.toml')
    writeFileSync(file, 'this is = = not toml')
    expect(error(() => loadConfig(OracleConfig, 'oracle', { file, env: {}, flags: {} })).message).toContain(file)
    expect(error(() => loadConfig(OracleConfig, 'oracle', { file: join(dir, 'missing.toml'), env: {}, flags: {} })).message).toContain('cannot read')
  })

  it('writes starter configs that load as they are, and never overwrites by accident', () => {
    for (const role of ['oracle', 'agent'] as const) {
      const file = join(dir, `starter-${role}.toml`)
      writeStarterConfig(file, role, false)
      expect(readFileSync(file, 'utf8')).toContain('# ')
      const schema = role === 'oracle' ? OracleConfig : AgentConfig
      expect(() => loadConfig(schema, role, { file, env: {}, flags: {} })).not.toThrow()
      expect(error(() => writeStarterConfig(file, role, false)).message).toContain('--force')
      writeStarterConfig(file, role, true)
    }
  })
})

describe('config: allowedOrigins', () => {
  it('takes a list from a file or a comma-separated one from env and flags, and names a bad entry', () => {
    const file = join(dir, 'origins.toml')
    writeFileSync(file, 'allowedOrigins = ["https://galactic.example.org", "http://10.0.0.5:8080/"]\n')
    expect(loadConfig(OracleConfig, 'oracle', { file, env: {}, flags: {} }).allowedOrigins).toEqual(['https://galactic.example.org', 'http://10.0.0.5:8080/'])
    expect(loadConfig(OracleConfig, 'oracle', { env: { GALACTIC_ORACLE_ALLOWED_ORIGINS: 'https://a.example, https://b.example:8443' }, flags: {} }).allowedOrigins).toEqual(['https://a.example', 'https://b.example:8443'])
    expect(loadConfig(OracleConfig, 'oracle', { env: {}, flags: {} }).allowedOrigins).toEqual([])

    const bad = error(() => loadConfig(OracleConfig, 'oracle', { env: {}, flags: { allowedOrigins: 'https://ok.example,https://x.example/app' } }))
    expect(bad.code).toBe('INVALID_INPUT')
    expect(bad.issues[0]?.path).toBe('allowedOrigins')
    expect(bad.message).toContain('--allowed-origins')
    for (const origin of ['*', 'ftp://x.example', 'https://user:pw@x.example']) {
      expect(error(() => loadConfig(OracleConfig, 'oracle', { env: {}, flags: { allowedOrigins: origin } })).issues[0]?.path).toBe('allowedOrigins')
    }
  })
})
