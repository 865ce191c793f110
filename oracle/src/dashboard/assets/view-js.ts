/**
 * `/dashboard/view.js`: DOM builders (text only ever through text nodes) and the
 * renderers of the provers table and the graphs list. Kept free of backticks and `${`
 * so it can live in this template string verbatim.
 */
export const VIEW_JS = String.raw`// DOM helpers and the provers and graphs renderers. Data never goes through innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg'

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'text') node.textContent = String(v)
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children || []) {
    if (c === null || c === undefined || c === false) continue
    node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
  }
  return node
}

/** An HTML element: attributes (or 'text' for its text) and children (nodes or strings). */
export function h(tag, attrs, children) {
  return fill(document.createElement(tag), attrs, children)
}

/** An SVG element. */
export function s(tag, attrs, children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children)
}

const pad = (n) => String(n).padStart(2, '0')

/** hh:mm:ss in local time. */
export function clock(ms) {
  const d = new Date(ms)
  return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds())
}

/** A short duration: 850 ms, 4.2 s, 3 min 5 s, 2 h 10 min. */
export function duration(ms) {
  if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms'
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s'
  const sec = Math.round(ms / 1000)
  if (sec < 3600) return Math.floor(sec / 60) + ' min ' + (sec % 60) + ' s'
  return Math.floor(sec / 3600) + ' h ' + Math.floor((sec % 3600) / 60) + ' min'
}

function gib(mib) {
  const g = mib / 1024
  return (g >= 10 ? Math.round(g) : g.toFixed(1)) + ' GiB'
}

/** "linux x64 · 16 cores · 62 GiB · 2× nvidia H100 80 GiB" */
export function deviceSummary(device) {
  const parts = [device.os + ' ' + device.cpu.arch, device.cpu.cores + (device.cpu.cores === 1 ? ' core' : ' cores'), gib(device.memoryMiB)]
  if (device.gpus.length === 0) parts.push('no GPU')
  else {
    const groups = new Map()
    for (const g of device.gpus) {
      const key = g.vendor + ' ' + g.model + ' ' + gib(g.memoryMiB)
      groups.set(key, (groups.get(key) || 0) + 1)
    }
    for (const [key, n] of groups) parts.push((n > 1 ? n + '× ' : '') + key)
  }
  return parts.join(' · ')
}

function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many)
}

/** The ban policy's view of a prover, as text and a class. */
export function banText(ban) {
  const failures = plural(ban.consecutiveFailures, 'failure', 'failures')
  if (ban.permanent) return { text: 'permanent', detail: failures, kind: 'permanent' }
  if (ban.banned && ban.bannedUntil !== null) return { text: 'until ' + clock(ban.bannedUntil), detail: failures, kind: 'window' }
  if (ban.banned) return { text: 'banned', detail: failures, kind: 'window' }
  return { text: 'none', detail: failures, kind: 'none' }
}

function badge(text, kind, testid) {
  return h('span', { class: 'badge ' + kind, 'data-testid': testid, text })
}

/** Replaces the provers table's rows. */
export function renderProvers(tbody, provers) {
  const rows = [...provers].sort((a, b) => a.proverId.localeCompare(b.proverId)).map((p) => {
    const ban = banText(p.ban)
    return h('tr', { 'data-testid': 'prover-row', 'data-prover-id': p.proverId }, [
      h('td', { class: 'mono', title: 'peer ' + p.peerId, text: p.proverId }),
      h('td', {}, [badge(p.state, 'state-' + p.state, 'prover-state')]),
      h('td', {}, [badge(p.connected ? 'yes' : 'no', p.connected ? 'ok' : 'off', 'prover-connected')]),
      h('td', { 'data-testid': 'prover-ban' }, [badge(ban.text, 'ban-' + ban.kind), h('span', { class: 'muted small', text: ' ' + ban.detail })]),
      h('td', { class: 'num', title: p.running.map((t) => t.graphId + '/' + t.opId + ' #' + t.attempt).join('\n') || 'idle', text: p.running.length + ' / ' + p.slots }),
      h('td', { title: p.device.cpu.model, text: deviceSummary(p.device) }),
      h('td', {}, p.device.plugins.length === 0
        ? [h('span', { class: 'muted', text: 'none' })]
        : p.device.plugins.map((pl) => h('span', { class: 'chip mono', text: pl.name + '@' + pl.version }))),
    ])
  })
  if (rows.length === 0) rows.push(h('tr', {}, [h('td', { colspan: 7, class: 'empty', text: 'No prover has registered yet.' })]))
  tbody.replaceChildren(...rows)
}

/** Replaces the graphs list; each entry links to #graph=<id>. */
export function renderGraphs(list, graphs, selected) {
  const items = graphs.map((g) => {
    const href = '#graph=' + encodeURIComponent(g.graphId)
    const when = g.finishedAt === null ? 'running ' + duration(Date.now() - g.submittedAt) : 'took ' + duration(g.finishedAt - g.submittedAt)
    return h('li', { 'data-graph-id': g.graphId, class: g.graphId === selected ? 'selected' : undefined }, [
      h('a', { href, 'data-testid': 'graph-link', 'aria-current': g.graphId === selected ? 'true' : undefined }, [
        h('div', { class: 'row' }, [
          h('span', { class: 'mono ellipsis', title: g.graphId, text: g.graphId }),
          badge(g.state, 'state-' + g.state),
        ]),
        h('div', { class: 'row' }, [
          h('progress', { max: Math.max(1, g.ops), value: g.succeeded }),
          h('span', { class: 'num small', 'data-testid': 'graph-list-progress', text: g.succeeded + '/' + g.ops }),
        ]),
        h('div', { class: 'muted small', text: g.requester + ' · ' + g.priority + ' · ' + clock(g.submittedAt) + ' · ' + when }),
      ]),
    ])
  })
  if (items.length === 0) items.push(h('li', { class: 'empty', text: 'No graph submitted yet.' }))
  list.replaceChildren(...items)
}
`
