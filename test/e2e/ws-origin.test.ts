// The oracle's WebSocket refuses pages of other sites (cross-site WebSocket hijacking), end to end:
// a real `galactic oracle start --allowed-origins ...` process, Node clients sending Origin headers,
// and pages of three origins in headless Chromium.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import NodeWebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, spawnOracle, type GalacticProcess, type OracleReady } from '@galactic/cli/processes'

const CHROMIUM = '/usr/bin/chromium'
const haveChromium = existsSync(CHROMIUM)
// As in dashboard.test.ts: CI installs chromium, so there a missing browser fails instead of skipping.
const skipBrowser = !haveChromium && process.env.CI !== 'true'

/** A web site on loopback: one empty page, so a browser has an origin to run a script in. */
async function site(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>a site</title>'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** A Node client's upgrade with this Origin header (none when undefined): 'open' or the refusal's HTTP status. */
function upgrade(url: string, origin?: string): Promise<'open' | number> {
  const ws = new NodeWebSocket(url, origin === undefined ? {} : { origin })
  ws.on('error', () => undefined)
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close()
      resolve('open')
    })
    ws.once('unexpected-response', (_req, res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    ws.once('close', () => reject(new Error('closed before an answer')))
  })
}

/** What a script of the page gets when it opens the oracle's WebSocket and asks oracle.info. */
function fromPage(page: Page, wsUrl: string): Promise<string> {
  return page.evaluate(
    (url) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url)
        ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'oracle.info', params: {} }))
        ws.onmessage = (e) => {
          const reply = JSON.parse(String(e.data)) as { result?: { peerId?: string } }
          ws.close()
          resolve(reply.result?.peerId === undefined ? 'no result' : 'answered')
        }
        ws.onerror = () => resolve('refused')
      }),
    wsUrl,
  )
}

describe('the oracle WebSocket and web origins', () => {
  let dir: string
  let oracle: GalacticProcess<OracleReady>
  let stranger: { server: Server; origin: string }
  let friend: { server: Server; origin: string }
  let wsPort: number

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'galactic-origin-'))
    stranger = await site()
    friend = await site()
    wsPort = await freePort()
    oracle = await spawnOracle({ dataDir: join(dir, 'oracle'), wsPort, p2pPort: await freePort(), args: ['--allowed-origins', `${friend.origin},https://galactic.example.org`] })
  })

  afterAll(async () => {
    await oracle?.stop()
    for (const s of [stranger, friend]) if (s !== undefined) await new Promise<void>((resolve) => s.server.close(() => resolve()))
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('serves clients without an Origin, its own pages and --allowed-origins; refuses others with 403 and logs it', async () => {
    const url = oracle.ready.ws
    expect(await upgrade(url)).toBe('open')
    expect(await upgrade(url, `http://127.0.0.1:${wsPort}`)).toBe('open')
    expect(await upgrade(url, `http://localhost:${wsPort}`)).toBe('open')
    expect(await upgrade(url, friend.origin)).toBe('open')
    expect(await upgrade(url, 'https://galactic.example.org')).toBe('open')
    expect(await upgrade(url, stranger.origin)).toBe(403)
    expect(await upgrade(url, `http://attacker.example:${wsPort}`)).toBe(403)
    const refusals = oracle
      .logTail(200)
      .split('\n')
      .filter((line) => line.includes('websocket upgrade refused'))
      .map((line) => JSON.parse(line) as { origin: string })
    expect(refusals.map((r) => r.origin)).toEqual([stranger.origin, `http://attacker.example:${wsPort}`])
  })

  describe.skipIf(skipBrowser)(skipBrowser ? `in Chromium (skipped: ${CHROMIUM} is missing)` : 'in Chromium', () => {
    let browser: Browser

    beforeAll(async () => {
      if (!haveChromium) throw new Error(`${CHROMIUM} is missing; CI must install Debian's chromium (see .ci/run)`)
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      })
    })

    afterAll(async () => {
      await browser?.close()
    })

    it("a page of another site cannot drive the oracle from a visitor's browser; an allowed one and the dashboard can", async () => {
      const context = await browser.newContext()
      try {
        const page = await context.newPage()
        await page.goto(`${stranger.origin}/`)
        expect(await fromPage(page, oracle.ready.ws)).toBe('refused')
        await page.goto(`${friend.origin}/`)
        expect(await fromPage(page, oracle.ready.ws)).toBe('answered')
        // The dashboard, opened as localhost: its own origin, so its live connection opens.
        await page.goto(`http://localhost:${wsPort}/`)
        await expect.poll(() => page.locator('[data-testid=connection]').getAttribute('data-state'), { timeout: 10_000 }).toBe('open')
      } finally {
        await context.close()
      }
    })
  })
})
