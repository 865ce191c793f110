import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, spawnAgent, spawnOracle, type AgentReady, type GalacticProcess, type OracleReady } from '@galactic/cli/processes'
import { buildZkmGraph, GalacticClient } from '@galactic/sdk'

const CHROMIUM = '/usr/bin/chromium'
const plugin = { name: 'sha256-chain', version: '1.0.0' }
const AGENT_NAMES = ['dash-prover-1', 'dash-prover-2']
const OUTPUT_DIR = fileURLToPath(new URL('../../test-output/', import.meta.url))
const SCREENSHOT = join(OUTPUT_DIR, 'dashboard.png')

const haveChromium = existsSync(CHROMIUM)
// CI installs Debian's chromium (.ci/run), so there a missing browser is a failure, not a skip.
const skip = !haveChromium && process.env.CI !== 'true'
const title = skip
  ? `the oracle dashboard in a real browser (skipped: ${CHROMIUM} is missing; apt-get install chromium, CI=true makes this fail instead)`
  : 'the oracle dashboard in a real browser'

/** GET with the path sent exactly as written (fetch would normalise `..` away). */
function rawGet(base: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(base)
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Real oracle and agent processes, the dashboard in headless Chromium watching a graph run. */
describe.skipIf(skip)(title, () => {
  let dir: string
  let wsPort: number
  let p2pPort: number
  let oracle: GalacticProcess<OracleReady>
  let agents: Array<GalacticProcess<AgentReady>> = []
  let client: GalacticClient
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let http: string
  /** Console errors and uncaught exceptions of the page, with whether the oracle was down then. */
  const pageErrors: Array<{ text: string; oracleDown: boolean }> = []
  let oracleDown = false

  // Short P_gas epochs, so the chart has points to show within the test.
  const startOracle = () => spawnOracle({ dataDir: join(dir, 'oracle'), wsPort, p2pPort, args: ['--heartbeat-ms', '300', '--p-gas-epoch-ms', '300'] })

  /** What the P_gas panel shows, read in one go (the page redraws it on each 2 s poll). */
  const readPGasPanel = () =>
    page.evaluate(() => {
      const one = (id: string) => document.querySelector<HTMLElement>(`[data-testid=${id}]`)
      const chart = one('pgas-chart')
      const current = one('pgas-current')
      return {
        wei: current?.dataset.wei ?? null,
        epoch: Number(current?.dataset.epoch),
        short: current?.textContent ?? null,
        exact: one('pgas-exact')?.textContent ?? null,
        source: one('pgas-source')?.textContent ?? null,
        demand: one('pgas-demand')?.textContent ?? null,
        supply: one('pgas-supply')?.textContent ?? null,
        points: Number(chart?.dataset.points),
        drawn: Array.from(chart?.querySelectorAll<SVGCircleElement>('circle.pt') ?? []).map((c) => ({ epoch: Number(c.dataset.epoch), pGas: c.dataset.wei })),
        hasLine: chart?.querySelector('path.line') != null,
        max: { wei: one('pgas-max')?.dataset.wei ?? null, text: one('pgas-max')?.querySelector('text')?.textContent ?? null },
        min: { wei: one('pgas-min')?.dataset.wei ?? null, text: one('pgas-min')?.querySelector('text')?.textContent ?? null },
      }
    })

  /**
   * The P_gas panel against the oracle's own pgas.get (over the SDK): the chart has at least 3
   * points, every point drawn is the oracle's price for that epoch, and the current price shown is
   * one of the oracle's last few epochs (the page polls every 2 s, epochs are 300 ms: it may be a
   * few epochs behind, never wrong).
   */
  async function checkPGasPanel(): Promise<void> {
    const chart = page.locator('[data-testid=pgas-chart]')
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThanOrEqual(3)
    let shown: Awaited<ReturnType<typeof readPGasPanel>> | undefined
    let oracleSide: Awaited<ReturnType<GalacticClient['pGas']>> | undefined
    const RECENT = 10
    await expect
      .poll(async () => {
        shown = await readPGasPanel()
        oracleSide = await client.pGas({ history: 300 })
        const recent = oracleSide.history.slice(-RECENT).map((e) => `${e.epoch}:${e.pGas}`)
        return recent.includes(`${shown.epoch}:${shown.wei}`) ? 'shown' : `page shows epoch ${shown.epoch} at ${shown.wei} wei/gas; the oracle's last ${RECENT}: ${recent.join(' ')}`
      }, { timeout: 10_000, interval: 200 })
      .toBe('shown')
    if (shown === undefined || oracleSide === undefined) throw new Error('unreachable: the poll ran')
    const byEpoch = new Map(oracleSide.history.map((e) => [e.epoch, e]))
    const entry = byEpoch.get(shown.epoch)!
    expect(shown.wei).toMatch(/^[0-9]+$/)
    expect(shown.short).toMatch(/^[0-9]+(\.[0-9]+)? (wei|kwei|Mwei|gwei|Twei|Pwei|Ewei|Zwei|Ywei)$/)
    expect(shown.exact).toBe(`${BigInt(entry.pGas).toLocaleString('en-US')} wei/gas`)
    expect(shown.source).toBe(entry.source)
    expect(shown.demand).toBe(`${entry.demandGas.toLocaleString('en-US', { maximumFractionDigits: 0 })} gas`)
    expect(shown.supply).toBe(`${entry.supplyGasPerSec.toLocaleString('en-US', { maximumFractionDigits: 1 })} gas/s`)
    // The chart: one point per epoch, consecutive, ending at the current one, each the oracle's price.
    expect(shown.drawn.length).toBe(shown.points)
    expect(shown.points).toBeLessThanOrEqual(120)
    expect(shown.hasLine).toBe(true)
    expect(shown.drawn.at(-1)).toEqual({ epoch: shown.epoch, pGas: shown.wei })
    shown.drawn.forEach((p, i) => {
      if (i > 0) expect(p.epoch, 'consecutive epochs').toBe(shown!.drawn[i - 1]!.epoch + 1)
      expect(p.pGas, `epoch ${p.epoch}`).toBe(byEpoch.get(p.epoch)?.pGas)
    })
    // The axis: the highest and lowest price drawn (one label when they are equal), in short form.
    const prices = shown.drawn.map((p) => BigInt(p.pGas!))
    const highest = String(prices.reduce((m, v) => (v > m ? v : m)))
    const lowest = String(prices.reduce((m, v) => (v < m ? v : m)))
    expect(shown.max).toEqual({ wei: highest, text: await shortWei(highest) })
    expect(shown.min).toEqual(highest === lowest ? { wei: null, text: null } : { wei: lowest, text: await shortWei(lowest) })
    mkdirSync(OUTPUT_DIR, { recursive: true })
    await page.locator('[data-testid=pgas]').screenshot({ path: join(OUTPUT_DIR, 'dashboard-pgas.png') })
  }

  /** The page's own short form (pgas.js), loaded into the page; a string, so vitest leaves its import() alone. */
  const shortWei = (wei: string): Promise<string> =>
    page.evaluate(`import('/dashboard/pgas.js').then((m) => m.shortWei(${JSON.stringify(wei)}))`) as Promise<string>

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`${CHROMIUM} is missing; CI must install Debian's chromium (see .ci/run)`)
    dir = mkdtempSync(join(tmpdir(), 'galactic-dashboard-'))
    wsPort = await freePort()
    p2pPort = await freePort()
    oracle = await startOracle()
    http = oracle.ready.ws.replace(/^ws:/, 'http:')
    agents = await Promise.all(AGENT_NAMES.map((name) => spawnAgent({ oracle: oracle.ready.ws, name, dataDir: join(dir, name) })))
    client = new GalacticClient({ url: oracle.ready.ws })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    })
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    page = await context.newPage()
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push({ text: msg.text(), oracleDown })
    })
    page.on('pageerror', (err) => pageErrors.push({ text: `pageerror: ${err.message}`, oracleDown }))
  })

  afterAll(async () => {
    await context?.close()
    await browser?.close()
    client?.close()
    await Promise.all([...agents.map((a) => a.stop()), oracle?.stop()])
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('serves the page and its assets with strict headers, and nothing else', async () => {
    for (const path of ['/', '/dashboard']) {
      const res = await fetch(`${http}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-cache')
      const csp = res.headers.get('content-security-policy') ?? ''
      expect(csp).toContain("default-src 'none'")
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain(`connect-src 'self' ws://${new URL(http).host}`)
      expect(csp).not.toContain('unsafe-inline')
      expect(await res.text()).toContain('<script type="module" src="/dashboard/app.js">')
    }
    const types: Record<string, string> = {
      '/dashboard/app.js': 'text/javascript; charset=utf-8',
      '/dashboard/pgas.js': 'text/javascript; charset=utf-8',
      '/dashboard/style.css': 'text/css; charset=utf-8',
      '/dashboard/favicon.svg': 'image/svg+xml',
    }
    for (const [path, type] of Object.entries(types)) {
      const res = await fetch(`${http}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type'), path).toBe(type)
      expect(res.headers.get('cache-control'), path).toBe('no-cache')
    }
    for (const path of ['/dashboard/unknown.js', '/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/dashboard/..%2fpackage.json', '/../package.json', '/dashboard/assets/app-js.js', '/dashboard//etc/passwd']) {
      const res = await rawGet(http, path)
      expect(res.status, path).toBe(404)
      expect(res.body, path).not.toContain('"workspaces"')
    }
  })

  it('shows a running graph live until it succeeds, and both provers', async () => {
    const segments = 6
    const graph = buildZkmGraph({ requester: 'e2e-dashboard', nonce: `live-${Date.now()}`, segments, plugin, params: { seed: 'dashboard', segmentSteps: 200_000 } })
    const edges = graph.ops.reduce((n, op) => n + (op.inputs?.length ?? 0), 0)
    const { graphId } = await client.submit(graph)
    const started = Date.now()
    await page.goto(`${http}/#graph=${encodeURIComponent(graphId)}`)

    // First sight: the whole DAG is drawn, and the graph is not finished yet.
    const nodes = page.locator('svg.dag g.op')
    await expect.poll(() => nodes.count(), { timeout: 10_000 }).toBe(graph.ops.length)
    const firstStates = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))
    const firstSightMs = Date.now() - started
    expect(firstStates.some((s) => s !== 'succeeded'), `every op had succeeded ${firstSightMs} ms after submit: make the graph longer`).toBe(true)
    expect(await page.locator('[data-testid=graph-state]').textContent()).toBe('running')
    expect(await page.locator('svg.dag').getAttribute('data-all-succeeded')).toBe('false')
    expect(await page.locator('svg.dag path.edge').count()).toBe(edges)
    // Layers by depth: split first, the proves next, the snark last.
    const depth = (id: string) => page.locator(`svg.dag g.op[data-op-id="${id}"]`).getAttribute('data-depth')
    expect(await depth('split')).toBe('0')
    for (let i = 0; i < segments; i++) expect(await depth(`prove-${i}`)).toBe('1')
    expect(await depth('snark')).toBe('5')
    mkdirSync(OUTPUT_DIR, { recursive: true })
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-running.png'), fullPage: true })

    // Live: the same page (never reloaded) goes on to show every op succeeded.
    await expect.poll(() => page.locator('[data-testid=graph-state]').textContent(), { timeout: 120_000, interval: 100 }).toBe('succeeded')
    await page.locator('svg.dag[data-all-succeeded="true"]').waitFor({ timeout: 5_000 })
    const finalStates = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))
    expect(finalStates).toEqual(graph.ops.map(() => 'succeeded'))
    expect(await page.locator('[data-testid=graph-progress]').textContent()).toBe(`${graph.ops.length}/${graph.ops.length} ops succeeded`)
    expect(await page.locator('svg.dag g.op[data-op-id="snark"] title').textContent()).toMatch(/prover\(s\): dash-prover-[12]/)
    const status = await client.status(graphId)
    expect(status.state).toBe('succeeded')

    // The 2 s polls: both provers, live and not banned; the graph in the list, done.
    const rows = page.locator('[data-testid=prover-row]')
    await expect.poll(() => rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-prover-id'))), { timeout: 5_000 }).toEqual(AGENT_NAMES)
    for (const name of AGENT_NAMES) {
      const row = page.locator(`[data-testid=prover-row][data-prover-id="${name}"]`)
      expect(await row.locator('[data-testid=prover-state]').textContent()).toBe('live')
      expect(await row.locator('[data-testid=prover-connected]').textContent()).toBe('yes')
      expect(await row.locator('[data-testid=prover-ban]').textContent()).toBe('none 0 failures')
      expect(await row.textContent()).toContain('sha256-chain@1.0.0')
    }
    const entry = page.locator(`[data-testid=graphs] li[data-graph-id="${graphId}"]`)
    await expect.poll(() => entry.locator('[data-testid=graph-list-progress]').textContent(), { timeout: 5_000 }).toBe(`${graph.ops.length}/${graph.ops.length}`)
    expect(await entry.getAttribute('class')).toContain('selected')

    await checkPGasPanel()
    // The short form, on prices a Number would not hold exactly.
    const forms: Record<string, string> = { '7': '7 wei', '1234': '1.23 kwei', '512908936': '513 Mwei', '1000000000': '1 gwei', '1234567890': '1.23 gwei', '9007199254740993': '9.01 Pwei', [10n ** 24n + 1n + '']: '1 Ywei' }
    for (const [wei, form] of Object.entries(forms)) expect(await shortWei(wei), wei).toBe(form)

    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    console.log(`dashboard screenshot: ${resolve(SCREENSHOT)} (first sight ${firstSightMs} ms after submit: ${firstStates.join(', ')})`)
    expect(pageErrors).toEqual([])
  })

  it('reconnects and resubscribes after an oracle restart, and selects a graph by clicking it', async () => {
    const live = page.locator('[data-testid=graph-live]')
    expect(await live.getAttribute('data-state')).toBe('live')
    const epochBefore = Number(await page.locator('[data-testid=pgas-current]').getAttribute('data-epoch'))
    oracleDown = true
    await oracle.stop()
    await expect.poll(() => page.locator('[data-testid=connection]').getAttribute('data-state'), { timeout: 10_000 }).toBe('closed')
    expect(await live.getAttribute('data-state')).toBe('offline')
    oracle = await startOracle()
    await expect.poll(() => page.locator('[data-testid=connection]').getAttribute('data-state'), { timeout: 15_000 }).toBe('open')
    await expect.poll(() => live.getAttribute('data-state'), { timeout: 5_000 }).toBe('live')
    oracleDown = false
    expect(await page.locator('[data-testid=graph-state]').textContent()).toBe('succeeded')
    // P_gas goes on from the journal's last epoch, and the panel follows it.
    await expect.poll(async () => Number(await page.locator('[data-testid=pgas-current]').getAttribute('data-epoch')), { timeout: 10_000 }).toBeGreaterThan(epochBefore)
    await checkPGasPanel()

    // A new graph after the restart: it shows up in the list, and a click follows it.
    const graph = buildZkmGraph({ requester: 'e2e-dashboard', nonce: `click-${Date.now()}`, segments: 2, plugin, params: { seed: 'click', segmentSteps: 1_000 } })
    const { graphId } = await client.submit(graph)
    await client.wait(graphId)
    const link = page.locator(`[data-testid=graphs] li[data-graph-id="${graphId}"] a`)
    await link.waitFor({ timeout: 10_000 })
    await link.click()
    expect(new URL(page.url()).hash).toBe(`#graph=${graphId}`)
    await expect.poll(() => page.locator('[data-testid=graph-id]').textContent(), { timeout: 5_000 }).toBe(graphId)
    await page.locator('svg.dag[data-all-succeeded="true"]').waitFor({ timeout: 10_000 })
    expect(await page.locator('svg.dag g.op').count()).toBe(graph.ops.length)

    // While the oracle was down Chromium logs the refused WebSocket connections; nothing else.
    expect(pageErrors.filter((e) => !(e.oracleDown && /WebSocket connection to .* failed/.test(e.text)))).toEqual([])
  })
})
