import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { APP_JS } from './assets/app-js.js'
import { DAG_JS } from './assets/dag-js.js'
import { FAVICON_SVG } from './assets/favicon-svg.js'
import { INDEX_HTML } from './assets/index-html.js'
import { PGAS_JS } from './assets/pgas-js.js'
import { RPC_JS } from './assets/rpc-js.js'
import { STYLE_CSS } from './assets/style-css.js'
import { VIEW_JS } from './assets/view-js.js'

/**
 * The oracle's live dashboard: one static page (HTML, CSS and vanilla ES modules, no build
 * step) that reads everything it shows over the oracle's own WebSocket JSON-RPC endpoint.
 *
 * The files are embedded as TS string modules under `./assets/`, so they ship inside `dist`
 * with the rest of the oracle. Only the fixed paths below are served: a request path is
 * looked up in a table, never joined to a directory, so no path can reach another file.
 */

interface Asset {
  readonly type: string
  readonly body: Buffer
  readonly etag: string
}

function asset(type: string, text: string): Asset {
  const body = Buffer.from(text, 'utf8')
  return { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }
}

const PAGE = asset('text/html; charset=utf-8', INDEX_HTML)

/** Every path the dashboard serves. */
export const DASHBOARD_PATHS: ReadonlyMap<string, Asset> = new Map([
  ['/', PAGE],
  ['/dashboard', PAGE],
  ['/dashboard/', PAGE],
  ['/dashboard/app.js', asset('text/javascript; charset=utf-8', APP_JS)],
  ['/dashboard/rpc.js', asset('text/javascript; charset=utf-8', RPC_JS)],
  ['/dashboard/dag.js', asset('text/javascript; charset=utf-8', DAG_JS)],
  ['/dashboard/view.js', asset('text/javascript; charset=utf-8', VIEW_JS)],
  ['/dashboard/pgas.js', asset('text/javascript; charset=utf-8', PGAS_JS)],
  ['/dashboard/style.css', asset('text/css; charset=utf-8', STYLE_CSS)],
  ['/dashboard/favicon.svg', asset('image/svg+xml', FAVICON_SVG)],
])

/** A Host header we are willing to echo into the CSP (host name or address, optional port). */
const SAFE_HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/

/**
 * The page may load scripts, styles and images from its own origin only, and open a
 * WebSocket to its own host. No inline script or style, no frames, no forms.
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const ws = host !== undefined && SAFE_HOST.test(host) ? ` ws://${host} wss://${host}` : ''
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self'${ws}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body?: Buffer | string): void {
  res.writeHead(status, { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', ...headers })
  res.end(body)
}

/**
 * Serves the dashboard's page (GET `/`, `/dashboard`) and its assets (`/dashboard/*`).
 * Returns false when the request is not for the dashboard, so the caller can go on;
 * answers 404 itself for any other path under `/dashboard/`.
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? ''
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const found = DASHBOARD_PATHS.get(path)
  if (found === undefined && !path.startsWith('/dashboard/')) return false
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    // `/` with another method is not ours (the WebSocket upgrade never comes here).
    if (path === '/') return false
    send(res, 405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }, 'method not allowed\n')
    return true
  }
  if (found === undefined) {
    send(res, 404, { 'content-type': 'text/plain; charset=utf-8' }, 'not found\n')
    return true
  }
  const headers: Record<string, string> = {
    'content-type': found.type,
    etag: found.etag,
    'content-security-policy': contentSecurityPolicy(req.headers.host),
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  }
  if (req.headers['if-none-match'] === found.etag) {
    send(res, 304, headers)
    return true
  }
  headers['content-length'] = String(found.body.byteLength)
  send(res, 200, headers, req.method === 'HEAD' ? undefined : found.body)
  return true
}
