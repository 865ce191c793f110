/**
 * `/dashboard/dag.js`: lays a graph's ops out in layers by depth (inputs on the left) and
 * draws them as SVG; op events update the nodes in place. Kept free of backticks and `${`
 * so it can live in this template string verbatim.
 */
export const DAG_JS = String.raw`// A graph's DAG as SVG, updated in place from op events.
import { s } from './view.js'

/** Op states in lifecycle order (also the legend's order). */
export const OP_STATES = ['pending', 'ready', 'assigned', 'running', 'succeeded', 'failed']

const NODE_W = 120
const NODE_H = 32
const COL_GAP = 40
const ROW_GAP = 10
const PAD = 12
const MAX_LABEL = 12

/**
 * Depth of every op: 0 without inputs, else one more than its deepest input (Kahn's order;
 * ops on a cycle or with unknown inputs, which the oracle never accepts, sit at depth 0).
 */
export function depths(ops) {
  const ids = new Set(ops.map((o) => o.id))
  const consumers = new Map()
  const missing = new Map()
  for (const o of ops) {
    const inputs = [...new Set(o.inputs.filter((i) => ids.has(i)))]
    missing.set(o.id, inputs.length)
    for (const i of inputs) {
      if (!consumers.has(i)) consumers.set(i, [])
      consumers.get(i).push(o.id)
    }
  }
  const depth = new Map(ops.map((o) => [o.id, 0]))
  const queue = ops.filter((o) => missing.get(o.id) === 0).map((o) => o.id)
  for (let k = 0; k < queue.length; k++) {
    const id = queue[k]
    for (const c of consumers.get(id) || []) {
      depth.set(c, Math.max(depth.get(c), depth.get(id) + 1))
      missing.set(c, missing.get(c) - 1)
      if (missing.get(c) === 0) queue.push(c)
    }
  }
  return depth
}

/**
 * Columns by depth, each ordered by the mean row of its inputs (fewer crossings). An edge that
 * skips layers gets a placeholder slot in each layer it crosses, so it never runs through a node.
 * Returns each op's box and each edge's waypoints (the placeholders' centres).
 */
export function layout(ops) {
  const depth = depths(ops)
  const columns = []
  const put = (item, d) => {
    while (columns.length <= d) columns.push([])
    columns[d].push(item)
  }
  const routes = new Map()
  for (const o of ops) put({ id: o.id, inputs: [] }, depth.get(o.id))
  const items = new Map(columns.flat().map((it) => [it.id, it]))
  for (const o of ops) {
    const d = depth.get(o.id)
    for (const input of new Set(o.inputs)) {
      if (!items.has(input)) continue
      let prev = input
      const via = []
      for (let k = depth.get(input) + 1; k < d; k++) {
        const slot = { id: '\u0000' + input + '\u0000' + o.id + '\u0000' + k, inputs: [prev], slot: true }
        put(slot, k)
        via.push(slot.id)
        prev = slot.id
      }
      items.get(o.id).inputs.push(prev)
      routes.set(input + '\u0000' + o.id, via)
    }
  }
  const row = new Map()
  columns.forEach((col, d) => {
    if (d > 0) {
      const order = new Map(col.map((it, i) => [it.id, i]))
      const key = new Map(col.map((it, i) => {
        const rows = it.inputs.filter((x) => row.has(x)).map((x) => row.get(x))
        return [it.id, rows.length === 0 ? i : rows.reduce((a, b) => a + b, 0) / rows.length]
      }))
      col.sort((a, b) => key.get(a.id) - key.get(b.id) || order.get(a.id) - order.get(b.id))
    }
    col.forEach((it, i) => row.set(it.id, i))
  })
  const tallest = Math.max(1, ...columns.map((c) => c.length))
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * COL_GAP
  const pos = new Map()
  columns.forEach((col, d) => {
    const colHeight = col.length * NODE_H + (col.length - 1) * ROW_GAP
    const top = PAD + (height - PAD * 2 - colHeight) / 2
    col.forEach((it, i) => pos.set(it.id, { x: PAD + d * (NODE_W + COL_GAP), y: top + i * (NODE_H + ROW_GAP), depth: d }))
  })
  const waypoints = (from, to) => (routes.get(from + '\u0000' + to) || []).map((id) => pos.get(id))
  return { pos, waypoints, width: Math.max(width, 200), height }
}

/** An SVG path from the right of one box to the left of another, through placeholder slots. */
function edgePath(from, to, via) {
  const pts = [{ x: from.x + NODE_W, y: from.y + NODE_H / 2 }]
  for (const v of via) pts.push({ x: v.x, y: v.y + NODE_H / 2 }, { x: v.x + NODE_W, y: v.y + NODE_H / 2 })
  pts.push({ x: to.x - 2, y: to.y + NODE_H / 2 })
  let d = 'M' + pts[0].x + ' ' + pts[0].y
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1]
    const b = pts[i]
    if (i % 2 === 0) {
      d += ' L' + b.x + ' ' + b.y
      continue
    }
    const dx = Math.max(16, (b.x - a.x) / 2)
    d += ' C' + (a.x + dx) + ' ' + a.y + ' ' + (b.x - dx) + ' ' + b.y + ' ' + b.x + ' ' + b.y
  }
  return d
}

function label(id) {
  return id.length <= MAX_LABEL ? id : id.slice(0, MAX_LABEL - 1) + '…'
}

/** The SVG of one graph; keep it and feed it events. */
export class DagView {
  /** @param status a GraphStatus (the graph.subscribe snapshot) */
  constructor(status) {
    this.state = status.state
    this.submittedAt = status.submittedAt
    this.finishedAt = status.finishedAt
    this.ops = new Map(status.ops.map((o) => [o.id, { ...o }]))
    const { pos, waypoints, width, height } = layout(status.ops)
    this.nodes = new Map()
    this.edgesFrom = new Map()
    const edges = s('g', { class: 'edges' })
    const nodes = s('g', { class: 'nodes' })
    this.svg = s('svg', {
      class: 'dag',
      'data-testid': 'dag',
      viewBox: '0 0 ' + width + ' ' + height,
      width,
      height,
      role: 'img',
      'aria-label': 'Graph of ' + status.ops.length + ' ops',
    }, [
      s('defs', {}, [
        s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, [
          s('path', { d: 'M0 1 L9 5 L0 9 z', class: 'arrow' }),
        ]),
      ]),
      edges,
      nodes,
    ])
    // Shrinks to fit the panel down to 70 %, then scrolls.
    this.svg.style.minWidth = Math.round(width * 0.7) + 'px'
    for (const op of status.ops) {
      const to = pos.get(op.id)
      for (const input of new Set(op.inputs)) {
        const from = pos.get(input)
        if (from === undefined) continue
        const path = s('path', {
          class: 'edge',
          'data-from': input,
          'data-to': op.id,
          d: edgePath(from, to, waypoints(input, op.id)),
          'marker-end': 'url(#arrow)',
        })
        edges.append(path)
        if (!this.edgesFrom.has(input)) this.edgesFrom.set(input, [])
        this.edgesFrom.get(input).push(path)
      }
      const title = s('title')
      const g = s('g', {
        class: 'op',
        'data-op-id': op.id,
        'data-depth': to.depth,
        transform: 'translate(' + to.x + ' ' + to.y + ')',
        tabindex: 0,
      }, [
        title,
        s('rect', { width: NODE_W, height: NODE_H, rx: 7 }),
        s('circle', { class: 'dot', cx: 13, cy: NODE_H / 2, r: 4 }),
        s('text', { x: 24, y: NODE_H / 2, 'dominant-baseline': 'central', text: label(op.id) }),
      ])
      nodes.append(g)
      this.nodes.set(op.id, { g, title })
      this.paint(op.id)
    }
    this.paintGraph()
  }

  paint(opId) {
    const op = this.ops.get(opId)
    const node = this.nodes.get(opId)
    if (op === undefined || node === undefined) return
    node.g.setAttribute('data-state', op.state)
    node.g.setAttribute('class', 'op state-' + op.state)
    const lines = [op.id, 'name: ' + op.name, 'state: ' + op.state, 'prover(s): ' + (op.deviceIds && op.deviceIds.length > 0 ? op.deviceIds.join(', ') : 'none yet'), 'attempt: ' + op.attempt]
    if (op.error) lines.push('error: ' + (op.error.code ? op.error.code + ': ' : '') + op.error.message)
    node.title.textContent = lines.join('\n')
    for (const edge of this.edgesFrom.get(opId) || []) edge.setAttribute('class', op.state === 'succeeded' ? 'edge done' : 'edge')
  }

  paintGraph() {
    const c = this.counts()
    this.svg.setAttribute('data-graph-state', this.state)
    this.svg.setAttribute('data-all-succeeded', String(this.state === 'succeeded' && c.succeeded === c.total))
  }

  /** Applies a graph.event; returns whether it changed anything. */
  apply(event) {
    if (event.type === 'graph') {
      this.state = event.state
      this.finishedAt = event.state === 'running' ? null : event.at
      this.paintGraph()
      return true
    }
    if (event.type !== 'op') return false
    const op = this.ops.get(event.opId)
    if (op === undefined) return false
    op.state = event.state
    op.attempt = event.attempt
    if (event.deviceIds !== null) op.deviceIds = event.deviceIds
    if (event.outputs !== null) op.outputs = event.outputs
    op.error = event.error
    this.paint(event.opId)
    this.paintGraph()
    return true
  }

  counts() {
    let succeeded = 0
    for (const op of this.ops.values()) if (op.state === 'succeeded') succeeded++
    return { succeeded, total: this.ops.size }
  }
}

/** The legend: one swatch per op state. */
export function legend(list) {
  list.replaceChildren(...OP_STATES.map((st) => {
    const item = document.createElement('li')
    item.className = 'state-' + st
    const sw = document.createElement('span')
    sw.className = 'swatch'
    item.append(sw, document.createTextNode(st))
    return item
  }))
}
`
