/**
 * `/dashboard/pgas.js`: the P_gas panel: the current price per gas with its source, epoch,
 * demand and supply, and an SVG line chart of the last epochs (from `pgas.get`). Prices are
 * wei decimal strings that can exceed 2^53: they are shown as written and turned into numbers
 * only to place points. Kept free of backticks and `${` so it can live in this template
 * string verbatim.
 */
export const PGAS_JS = String.raw`// P_gas over time: the current price per gas and a small line chart of the last epochs.
import { clock, duration, h, s } from './view.js'

/** How many epochs the chart shows (and app.js asks pgas.get for). */
export const CHART_EPOCHS = 120

const W = 640
const H = 150
const M = { left: 70, right: 10, top: 10, bottom: 22 }
/** Above this max/min ratio the y axis is logarithmic, so a long fall or rise stays readable. */
const LOG_RATIO = 100

const UNITS = ['wei', 'kwei', 'Mwei', 'gwei', 'Twei', 'Pwei', 'Ewei', 'Zwei', 'Ywei']

/**
 * A wei amount (decimal string) in short form with three significant digits and an SI prefix
 * on wei: '1234567890' is '1.23 gwei', '512908936' is '513 Mwei', '7' is '7 wei'.
 */
export function shortWei(wei) {
  const digits = String(wei).replace(/^0+(?=[0-9])/, '')
  if (!/^[0-9]+$/.test(digits)) return String(wei) + ' wei'
  let unit = Math.min(UNITS.length - 1, Math.floor((digits.length - 1) / 3))
  for (;;) {
    // Enough leading digits for three significant ones; the rest only shifts the decimal point.
    const value = Number(digits) / Math.pow(10, unit * 3)
    const text = unit === 0 ? digits : String(Number(value.toPrecision(3)))
    if (Number(text) >= 1000 && unit < UNITS.length - 1) {
      unit++
      continue
    }
    return text + ' ' + UNITS[unit]
  }
}

/** A wei amount with thousands separators: '1,234,567,890'. */
export function groupedWei(wei) {
  return String(wei).replace(/[0-9](?=(?:[0-9]{3})+$)/g, '$&,')
}

function amount(n, digits) {
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits })
}

/** The epochs to draw: the history (oldest first) with the current epoch, the last max of them. */
export function series(reply, max) {
  const byEpoch = new Map()
  for (const e of reply.history) byEpoch.set(e.epoch, e)
  byEpoch.set(reply.current.epoch, reply.current)
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch).slice(-max)
}

/** The move from one epoch to the next, in percent of the earlier price, or null. */
function change(prev, next) {
  const a = Number(prev.pGas)
  const b = Number(next.pGas)
  if (!(a > 0)) return null
  return ((b - a) / a) * 100
}

/** Lays the points out; returns the SVG's parts and the y scale's kind. */
export function chartGeometry(points) {
  const values = points.map((p) => Number(p.pGas))
  let lo = Math.min(...values)
  let hi = Math.max(...values)
  const log = lo > 0 && hi / lo >= LOG_RATIO
  const f = log ? Math.log10 : (v) => v
  let a = f(lo)
  let b = f(hi)
  if (!(b > a)) {
    // A flat line sits in the middle (the pad relative, as 1 is nothing next to 10^20).
    const pad = Math.abs(a) / 10 || 1
    a -= pad
    b += pad
  }
  const first = points[0].epoch
  const last = points[points.length - 1].epoch
  const x = (epoch) => (last === first ? (M.left + W - M.right) / 2 : M.left + ((epoch - first) / (last - first)) * (W - M.left - M.right))
  const y = (v) => M.top + (1 - (f(v) - a) / (b - a)) * (H - M.top - M.bottom)
  const xy = points.map((p, i) => ({ p, x: x(p.epoch), y: y(values[i]) }))
  return { xy, lo, hi, log }
}

const fixed = (n) => (Math.round(n * 10) / 10).toString()

/** An axis label (short form) at height y, with the exact price as its hover title. */
function yLabel(which, word, p, y) {
  return s('g', { class: 'ylabel', 'data-testid': 'pgas-' + which, 'data-wei': p.pGas }, [
    s('title', { text: word + ': ' + groupedWei(p.pGas) + ' wei/gas (epoch ' + p.epoch + ')' }),
    s('text', { class: 'label', x: M.left - 6, y: fixed(y), 'text-anchor': 'end', 'dominant-baseline': 'middle', text: shortWei(p.pGas) }),
  ])
}

/** The chart's SVG for the given epochs (oldest first). */
export function chart(points, epochMs) {
  const svg = s('svg', {
    class: 'pgas-chart',
    'data-testid': 'pgas-chart',
    'data-points': points.length,
    viewBox: '0 0 ' + W + ' ' + H,
    width: W,
    height: H,
    role: 'img',
    'aria-label': 'P_gas over the last ' + points.length + ' epochs',
  })
  const bottom = H - M.bottom
  svg.append(
    s('line', { class: 'axis', x1: M.left, y1: M.top, x2: M.left, y2: bottom }),
    s('line', { class: 'axis', x1: M.left, y1: bottom, x2: W - M.right, y2: bottom }),
  )
  if (points.length === 0) {
    svg.append(s('text', { class: 'note', x: (M.left + W) / 2, y: H / 2, 'text-anchor': 'middle', text: 'no epoch yet' }))
    return svg
  }
  const { xy, lo, hi, log } = chartGeometry(points)
  const loPoint = points.find((p) => Number(p.pGas) === lo)
  const hiPoint = points.find((p) => Number(p.pGas) === hi)
  const top = xy.reduce((m, q) => Math.min(m, q.y), Infinity)
  const low = xy.reduce((m, q) => Math.max(m, q.y), -Infinity)
  svg.setAttribute('data-scale', log ? 'log' : 'linear')
  svg.append(
    s('line', { class: 'grid', x1: M.left, y1: fixed(top), x2: W - M.right, y2: fixed(top) }),
    s('line', { class: 'grid', x1: M.left, y1: fixed(low), x2: W - M.right, y2: fixed(low) }),
    yLabel('max', 'highest', hiPoint, top),
  )
  if (hi !== lo) svg.append(yLabel('min', 'lowest', loPoint, low))
  if (log) svg.append(s('text', { class: 'label', x: W - M.right, y: M.top, 'text-anchor': 'end', 'dominant-baseline': 'hanging', text: 'log scale' }))
  const firstP = points[0]
  const lastP = points[points.length - 1]
  svg.append(s('text', { class: 'label', x: M.left, y: H - 4, 'text-anchor': 'start', text: 'epoch ' + firstP.epoch + ' · ' + clock(firstP.at) }))
  if (points.length > 1) {
    svg.append(s('text', { class: 'label', x: W - M.right, y: H - 4, 'text-anchor': 'end', text: 'epoch ' + lastP.epoch + ' · ' + clock(lastP.at) }))
  }
  const line = xy.map((q, i) => (i === 0 ? 'M' : 'L') + fixed(q.x) + ' ' + fixed(q.y)).join(' ')
  if (xy.length > 1) {
    svg.append(
      s('path', { class: 'area', d: line + ' L' + fixed(xy[xy.length - 1].x) + ' ' + bottom + ' L' + fixed(xy[0].x) + ' ' + bottom + ' Z' }),
      s('path', { class: 'line', d: line }),
    )
  }
  const dots = s('g', { class: 'points' })
  xy.forEach((q, i) => {
    const p = q.p
    const lines = [
      'epoch ' + p.epoch + ' · ' + clock(p.at) + ' · ' + p.source,
      shortWei(p.pGas) + ' per gas (' + groupedWei(p.pGas) + ' wei)',
      'demand ' + amount(p.demandGas, 0) + ' gas · supply ' + amount(p.supplyGasPerSec, 1) + ' gas/s',
    ]
    const moved = i === 0 ? null : change(points[i - 1], p)
    if (moved !== null) lines.push((moved >= 0 ? '+' : '') + moved.toFixed(2) + ' % from epoch ' + points[i - 1].epoch)
    dots.append(s('circle', { class: 'pt', 'data-epoch': p.epoch, 'data-wei': p.pGas, cx: fixed(q.x), cy: fixed(q.y), r: 2.2 }, [s('title', { text: lines.join('\n') })]))
  })
  svg.append(dots)
  svg.setAttribute('aria-label', 'P_gas over ' + points.length + ' epochs of ' + duration(epochMs) + ', from ' + shortWei(firstP.pGas) + ' to ' + shortWei(lastP.pGas) + ' per gas')
  return svg
}

/** The panel: fill it from pgas.get replies with update(), or say why there is none with fail(). */
export class PGasPanel {
  constructor(root) {
    this.current = root.querySelector('[data-testid=pgas-current]')
    this.exact = root.querySelector('[data-testid=pgas-exact]')
    this.source = root.querySelector('[data-testid=pgas-source]')
    this.meta = root.querySelector('[data-testid=pgas-meta]')
    this.chartWrap = root.querySelector('[data-testid=pgas-chart-wrap]')
    this.drawn = ''
  }

  /** @param reply pgas.get's result: { current, epochMs, history } */
  update(reply) {
    const cur = reply.current
    const points = series(reply, CHART_EPOCHS)
    this.current.textContent = shortWei(cur.pGas)
    this.current.setAttribute('data-wei', cur.pGas)
    this.current.setAttribute('data-epoch', String(cur.epoch))
    this.current.title = groupedWei(cur.pGas) + ' wei per gas'
    this.exact.textContent = groupedWei(cur.pGas) + ' wei/gas'
    this.source.hidden = false
    this.source.textContent = cur.source
    this.source.className = 'badge source-' + cur.source
    const prev = points.length > 1 ? points[points.length - 2] : null
    const moved = prev === null ? null : change(prev, cur)
    const rows = [
      ['epoch', cur.epoch + ' · started ' + clock(cur.at) + ' · one every ' + duration(reply.epochMs)],
      ['last move', moved === null ? 'none yet' : (moved > 0 ? '▲ ' : moved < 0 ? '▼ ' : '') + Math.abs(moved).toFixed(2) + ' %'],
      ['demand', amount(cur.demandGas, 0) + ' gas'],
      ['supply', amount(cur.supplyGasPerSec, 1) + ' gas/s'],
    ]
    this.meta.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { 'data-testid': 'pgas-' + k.replace(' ', '-'), text: v })]))
    // Redraw only when there is something new, so an open hover title is not thrown away.
    const key = points.map((p) => p.epoch + ':' + p.pGas).join(',')
    if (key !== this.drawn) {
      this.drawn = key
      this.chartWrap.replaceChildren(chart(points, reply.epochMs))
    }
  }

  /** The oracle did not answer pgas.get (say, an older oracle without pricing). */
  fail(message) {
    this.drawn = ''
    this.current.textContent = 'unavailable'
    this.current.removeAttribute('data-wei')
    this.current.removeAttribute('data-epoch')
    this.exact.textContent = ''
    this.source.hidden = true
    this.meta.replaceChildren()
    this.chartWrap.replaceChildren(h('p', { class: 'empty error', text: 'pgas.get failed: ' + message }))
  }
}
`
