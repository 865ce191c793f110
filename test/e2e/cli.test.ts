import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AgentReady, type GalacticProcess, type LocalCluster, type OracleReady, runGalactic, startLocalCluster } from '@galactic/cli/processes'
import { GraphStatus } from '@galactic/schemas'

/** The galactic CLI as its own process. */
const galactic = (...args: string[]) => runGalactic(args)

describe('the galactic CLI against a real oracle and agent', () => {
  let cluster: LocalCluster
  let dir: string
  let oracle: GalacticProcess<OracleReady>
  let agent: GalacticProcess<AgentReady>

  beforeAll(async () => {
    cluster = await startLocalCluster({ prefix: 'galactic-cli-', agents: [{ name: 'cli-prover', args: ['--slots', '2', '--metrics-port', '0'] }] })
    ;({ dir, oracle } = cluster)
    agent = cluster.agents[0] as GalacticProcess<AgentReady>
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it('has --help on every command', async () => {
    for (const args of [[], ['oracle', 'start'], ['oracle', 'init'], ['agent', 'start'], ['agent', 'init'], ['submit'], ['explain'], ['provers'], ['status'], ['graph', 'zkm'], ['demo']]) {
      const { code, stdout } = await galactic(...args, '--help')
      expect(code, args.join(' ')).toBe(0)
      expect(stdout).toContain('Usage: galactic')
    }
    const { stdout } = await galactic('submit', '--help')
    expect(stdout).toContain('--json')
    expect((await galactic('status', '--help')).stdout).toContain('--json')
    // `graph` is both a command (graph <graphId>) and a group (graph zkm): help shows both.
    const graphHelp = await galactic('graph', '--help')
    expect(graphHelp.stdout).toContain('Usage: galactic graph <graphId> [options] | zkm [options]')
    expect(graphHelp.stdout).toMatch(/^ {2}zkm \[options\]/m)
    expect(graphHelp.stdout).toContain('--json')
    const zkmHelp = await galactic('graph', 'help', 'zkm')
    expect(zkmHelp.code).toBe(0)
    expect(zkmHelp.stdout).toContain('Usage: galactic graph zkm [options]')
    expect(zkmHelp.stdout).toContain('--segments')
    const bare = await galactic('graph')
    expect(bare.code).toBe(1)
    expect(bare.stderr).toContain('Usage: galactic graph')
  })

  it('builds a graph, submits it, waits for it, and shows it, as text and as JSON', async () => {
    const built = await galactic('graph', 'zkm', '--segments', '3', '--segment-steps', '5000', '--nonce', 'cli-1')
    expect(built.code).toBe(0)
    const file = join(dir, 'graph.json')
    writeFileSync(file, built.stdout)

    const submitted = await galactic('submit', file, '--url', oracle.ready.ws, '--json', '--watch')
    expect(submitted.code, submitted.stderr).toBe(0)
    const final = GraphStatus.parse(JSON.parse(submitted.stdout.trim().split('\n').at(-1) as string))
    expect(final.state).toBe('succeeded')
    expect(final.ops.every((op) => op.state === 'succeeded' && op.deviceIds?.[0] === 'cli-prover')).toBe(true)

    // Piped (not a terminal), --watch prints a plain line per change instead of a progress bar.
    const plainFile = join(dir, 'graph-plain.json')
    writeFileSync(plainFile, (await galactic('graph', 'zkm', '--segments', '2', '--segment-steps', '1000', '--nonce', 'cli-plain')).stdout)
    const plain = await galactic('submit', plainFile, '--url', oracle.ready.ws, '--watch')
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).toMatch(/^submitted: g_[0-9a-f]+$/m)
    expect(plain.stdout).toMatch(/^ {2}prove-1 succeeded on cli-prover$/m)
    expect(plain.stdout).toMatch(/succeeded 5\/5 ops succeeded$/m)
    expect(plain.stdout).not.toContain('\r')

    const again = await galactic('submit', file, '--url', oracle.ready.ws, '--json')
    expect(JSON.parse(again.stdout)).toEqual({ graphId: final.graphId, created: false })

    const json = await galactic('status', final.graphId, '--url', oracle.ready.ws, '--json')
    expect(GraphStatus.parse(JSON.parse(json.stdout)).graphId).toBe(final.graphId)

    const text = await galactic('status', final.graphId, '--url', oracle.ready.ws)
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`graph ${final.graphId}: succeeded 7/7 ops succeeded`)
    expect(text.stdout).toMatch(/agg-0-0\s+aggregate\s+succeeded\s+1\s+cli-prover/)

    // `galactic graph <id>`: the same view as status, with state, prover and timing per op.
    const graphText = await galactic('graph', final.graphId, '--url', oracle.ready.ws)
    expect(graphText.code, graphText.stderr).toBe(0)
    expect(graphText.stdout).toBe(text.stdout)
    expect(graphText.stdout).toMatch(/^OP\s+NAME\s+STATE\s+TRY\s+PROVER\s+TIME\s+OUTPUT$/m)
    expect(graphText.stdout).toMatch(/^prove-0\s+prove\s+succeeded\s+1\s+cli-prover\s+\d+ms\s/m)
    const graphJson = await galactic('graph', '--json', final.graphId, '--url', oracle.ready.ws)
    expect(graphJson.code, graphJson.stderr).toBe(0)
    const shown = GraphStatus.parse(JSON.parse(graphJson.stdout))
    expect(shown).toEqual(GraphStatus.parse(JSON.parse(json.stdout)))
    expect(shown.ops.map((op) => [op.id, op.state, op.deviceIds])).toContainEqual(['snark', 'succeeded', ['cli-prover']])
  })

  it('lists provers and explains why an op waits', async () => {
    const provers = await galactic('provers', '--url', oracle.ready.ws, '--json')
    expect(provers.code, provers.stderr).toBe(0)
    const list = JSON.parse(provers.stdout).provers as Array<{ proverId: string; state: string; connected: boolean; slots: number }>
    expect(list).toEqual([expect.objectContaining({ proverId: 'cli-prover', state: 'live', connected: true, slots: 2 })])
    const text = await galactic('provers', '--url', oracle.ready.ws)
    expect(text.stdout).toMatch(/^PROVER\s+STATE/)
    expect(text.stdout).toMatch(/cli-prover\s+live\s+no\s+0\/2/)

    // An op that needs a plugin version nobody offers waits, and explain says which plugin rejected whom.
    // The agent's own Prometheus endpoint counts the tasks it ran for the two graphs above (3 + 2 proves).
    const agentMetrics = await (await fetch(`http://127.0.0.1:${agent.ready.metricsPort}/metrics`)).text()
    expect(agentMetrics).toMatch(/^galactic_agent_tasks_total\{op="prove",outcome="succeeded"\} 5$/m)
    expect(agentMetrics).toMatch(/^galactic_agent_task_duration_seconds_count\{op="split"\} 2$/m)
    expect(agentMetrics).toMatch(/^galactic_agent_running_tasks 0$/m)

    const file = join(dir, 'unplaceable.json')
    writeFileSync(file, JSON.stringify({ requester: 'r', nonce: 'wait', ops: [{ id: 'a', name: 'split', plugin: { name: 'sha256-chain', version: '9.9.9' } }] }))
    const { graphId } = JSON.parse((await galactic('submit', file, '--url', oracle.ready.ws, '--json')).stdout) as { graphId: string }
    const why = await galactic('explain', graphId, 'a', '--url', oracle.ready.ws, '--json')
    expect(why.code, why.stderr).toBe(0)
    const explanation = JSON.parse(why.stdout) as { state: string; rejections: Array<{ plugin: string; count: number; reasons: string[] }> }
    expect(explanation.state).toBe('ready')
    const plugin = explanation.rejections.find((r) => r.plugin === 'plugin')
    expect(plugin?.count).toBe(1)
    expect(plugin?.reasons.join(' ')).toContain('9.9.9')
    const whyText = await galactic('explain', graphId, 'a', '--url', oracle.ready.ws)
    expect(whyText.stdout).toContain('plugin: rejected 1 prover(s)')
  })

  it('exits non-zero with the field named for a bad graph, an unknown graph, a bad flag', async () => {
    const file = join(dir, 'bad.json')
    writeFileSync(file, JSON.stringify({ requester: 'r', nonce: 'n', ops: [{ id: 'a', name: 'split', plugin: { name: 'sha256-chain', version: 'one' } }] }))
    const bad = await galactic('submit', file, '--url', oracle.ready.ws)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('INVALID_GRAPH')
    expect(bad.stderr).toContain('ops[0].plugin.version')

    const badJson = await galactic('submit', file, '--url', oracle.ready.ws, '--json')
    expect(badJson.code).toBe(1)
    expect(JSON.parse(badJson.stdout).error.code).toBe('INVALID_GRAPH')

    writeFileSync(join(dir, 'junk.json'), '{ not json')
    const junk = await galactic('submit', join(dir, 'junk.json'), '--url', oracle.ready.ws)
    expect(junk.code).toBe(1)
    expect(junk.stderr).toContain('INVALID_INPUT')

    const missing = await galactic('status', 'g_missing', '--url', oracle.ready.ws)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('NOT_FOUND')
    const missingGraph = await galactic('graph', 'g_missing', '--url', oracle.ready.ws, '--json')
    expect(missingGraph.code).toBe(1)
    expect(JSON.parse(missingGraph.stdout).error.code).toBe('NOT_FOUND')

    const config = join(dir, 'bad-oracle.toml')
    writeFileSync(config, 'wsPort = 99999\n')
    const badConfig = await galactic('oracle', 'start', '--config', config)
    expect(badConfig.code).toBe(1)
    expect(badConfig.stderr).toContain('wsPort')
    expect(badConfig.stderr).toContain(config)

    const flag = await galactic('graph', 'zkm', '--segments', 'many')
    expect(flag.code).toBe(1)
    expect(flag.stderr).toContain('--segments must be an integer')
  })
})
