/**
 * `/dashboard/app.js`: the dashboard's entry module. Polls prover.list, graph.list and
 * pgas.get every 2 s, follows the selected graph (`#graph=<id>`) with graph.subscribe, and resubscribes when
 * the socket comes back. Kept free of backticks and `${` so it can live in this template
 * string verbatim.
 */
export const APP_JS = String.raw`// The dashboard: provers, P_gas, graphs, and the selected graph's DAG, live.
import { RpcClient } from './rpc.js'
import { DagView, legend } from './dag.js'
import { CHART_EPOCHS, PGasPanel } from './pgas.js'
import { clock, duration, h, renderGraphs, renderProvers } from './view.js'

const POLL_MS = 2000
const MAX_EARLY_EVENTS = 10000

const $ = (selector) => document.querySelector(selector)
const ui = {
  connection: $('[data-testid=connection]'),
  info: $('[data-testid=oracle-info]'),
  provers: $('[data-testid=provers] tbody'),
  proversCount: $('[data-testid=provers-count]'),
  graphs: $('[data-testid=graphs]'),
  graphsCount: $('[data-testid=graphs-count]'),
  graphId: $('[data-testid=graph-id]'),
  graphState: $('[data-testid=graph-state]'),
  graphProgress: $('[data-testid=graph-progress]'),
  graphLive: $('[data-testid=graph-live]'),
  graphMeta: $('[data-testid=graph-meta]'),
  legend: $('.legend'),
  dagWrap: $('[data-testid=dag-wrap]'),
}
const pgas = new PGasPanel($('[data-testid=pgas]'))

const app = {
  /** The graph in the URL, or null. */
  selected: null,
  /** Its subscription on the current socket, once graph.subscribe has answered. */
  subscriptionId: null,
  /** Bumped on every (re)subscribe and on disconnect, so a late answer is dropped. */
  seq: 0,
  /** Events that came before the graph.subscribe answer they belong to. */
  early: [],
  /** The selected graph's view and its snapshot's header fields. */
  dag: null,
  status: null,
  graphs: [],
  refreshing: false,
}

const rpc = new RpcClient(location.origin.replace(/^http/, 'ws'), {
  onOpen: () => {
    setConnection('open', 'connected')
    void loadInfo()
    void refresh()
    if (app.selected !== null) void subscribe(app.selected)
  },
  onClose: () => {
    setConnection('closed', 'reconnecting…')
    app.seq++
    app.subscriptionId = null
    app.early = []
    showLive()
  },
  onNotification: (method, params) => {
    if (method !== 'graph.event' || params === null || typeof params !== 'object') return
    if (params.subscriptionId === app.subscriptionId && app.dag !== null) {
      if (app.dag.apply(params.event)) showHeader()
    } else if (app.subscriptionId === null && app.selected !== null && app.early.length < MAX_EARLY_EVENTS) {
      app.early.push(params)
    }
  },
})

function setConnection(state, text) {
  ui.connection.dataset.state = state
  ui.connection.textContent = text
}

async function loadInfo() {
  try {
    const info = await rpc.call('oracle.info', {})
    ui.info.replaceChildren(
      h('span', { text: 'v' + info.version }),
      h('span', { class: 'mono', title: info.peerId, text: 'peer ' + info.peerId.slice(0, 8) + '…' + info.peerId.slice(-6) }),
    )
  } catch {
    // the next connection fills it in
  }
}

async function refresh() {
  if (!rpc.open || app.refreshing) return
  app.refreshing = true
  try {
    // An oracle without pricing (or a failing pgas.get) must not blank the other panels.
    const [provers, graphs, price] = await Promise.all([
      rpc.call('prover.list', {}),
      rpc.call('graph.list', { limit: 100 }),
      rpc.call('pgas.get', { history: CHART_EPOCHS }).then((reply) => ({ reply }), (err) => ({ err })),
    ])
    renderProvers(ui.provers, provers.provers)
    const live = provers.provers.filter((p) => p.state === 'live').length
    ui.proversCount.textContent = provers.provers.length + ' known, ' + live + ' live'
    app.graphs = graphs.graphs
    renderGraphs(ui.graphs, app.graphs, app.selected)
    ui.graphsCount.textContent = graphs.graphs.length === 100 ? 'newest 100' : String(graphs.graphs.length)
    if (price.reply !== undefined) pgas.update(price.reply)
    else if (rpc.open) pgas.fail(String(price.err && price.err.message))
    showHeader()
  } catch {
    // dropped connection: onClose shows it, and the poll resumes once it is back
  } finally {
    app.refreshing = false
  }
}

function selectedFromHash() {
  const m = /^#graph=(.+)$/.exec(location.hash)
  if (m === null) return null
  try {
    return decodeURIComponent(m[1])
  } catch {
    return null
  }
}

function select(graphId) {
  if (graphId === app.selected) return
  const previous = app.subscriptionId
  app.selected = graphId
  app.seq++
  app.subscriptionId = null
  app.early = []
  app.dag = null
  app.status = null
  if (previous !== null && rpc.open) rpc.call('graph.unsubscribe', { subscriptionId: previous }).catch(() => {})
  for (const li of ui.graphs.querySelectorAll('li[data-graph-id]')) {
    const on = li.dataset.graphId === graphId
    li.classList.toggle('selected', on)
    const a = li.querySelector('a')
    if (a !== null) {
      if (on) a.setAttribute('aria-current', 'true')
      else a.removeAttribute('aria-current')
    }
  }
  showHeader()
  if (graphId === null) {
    ui.dagWrap.replaceChildren(h('p', { class: 'empty' }, ['Select a graph on the left, or open ', h('span', { class: 'mono', text: '#graph=<id>' }), '.']))
    return
  }
  ui.dagWrap.replaceChildren(h('p', { class: 'empty', text: 'Loading ' + graphId + '…' }))
  if (rpc.open) void subscribe(graphId)
}

async function subscribe(graphId) {
  const seq = ++app.seq
  app.subscriptionId = null
  app.early = []
  let reply
  try {
    reply = await rpc.call('graph.subscribe', { graphId })
  } catch (err) {
    if (seq !== app.seq) return
    if (err && err.code === 'NOT_FOUND') {
      ui.dagWrap.replaceChildren(h('p', { class: 'empty error', text: 'This oracle has no graph ' + graphId + '.' }))
      showHeader()
    } else if (rpc.open) {
      ui.dagWrap.replaceChildren(h('p', { class: 'empty error', text: 'Could not follow the graph: ' + (err && err.message) }))
    }
    return
  }
  if (seq !== app.seq) {
    rpc.call('graph.unsubscribe', { subscriptionId: reply.subscriptionId }).catch(() => {})
    return
  }
  app.subscriptionId = reply.subscriptionId
  app.status = reply.status
  app.dag = new DagView(reply.status)
  for (const early of app.early) if (early.subscriptionId === reply.subscriptionId) app.dag.apply(early.event)
  app.early = []
  ui.dagWrap.replaceChildren(app.dag.svg)
  showHeader()
}

function showLive() {
  const following = app.selected !== null && app.dag !== null
  ui.graphLive.hidden = !following
  const live = following && app.subscriptionId !== null
  ui.graphLive.dataset.state = live ? 'live' : 'offline'
  ui.graphLive.textContent = live ? 'live' : 'offline, reconnecting…'
}

function showHeader() {
  ui.graphId.textContent = app.selected === null ? '' : app.selected
  const dag = app.dag
  const status = app.status
  if (dag === null || status === null) {
    ui.graphState.hidden = true
    ui.graphState.textContent = ''
    ui.graphProgress.textContent = ''
    ui.graphMeta.textContent = ''
    showLive()
    return
  }
  const c = dag.counts()
  ui.graphState.hidden = false
  ui.graphState.textContent = dag.state
  ui.graphState.className = 'badge state-' + dag.state
  ui.graphProgress.textContent = c.succeeded + '/' + c.total + ' ops succeeded'
  const parts = ['requester ' + status.requester, 'priority ' + status.priority, 'plugins ' + status.pluginMode, 'submitted ' + clock(status.submittedAt)]
  if (dag.finishedAt !== null) parts.push(dag.state + ' after ' + duration(dag.finishedAt - dag.submittedAt))
  else parts.push('running for ' + duration(Date.now() - dag.submittedAt))
  ui.graphMeta.textContent = parts.join(' · ')
  showLive()
}

legend(ui.legend)
window.addEventListener('hashchange', () => select(selectedFromHash()))
select(selectedFromHash())
setInterval(() => void refresh(), POLL_MS)
rpc.start()
`
