/**
 * A tiny SVG line-plot writer for the benchmark's figures (no dependencies).
 *
 *   figure({ title, panels: [{ title, xLabel, yLabel, xTicks: ['0', '10', ...], series: [
 *     { name, points: [{ x: index into xTicks, y, err? }] } ] }] }) -> SVG text
 *   (an xTicks entry '' leaves that position unlabelled; a series of more than 60 points has no dots)
 *   a bar panel instead: { type: 'bars', title, yLabel, bars: [{ label, value, note?, ref? }] }
 *     (one bar per entry, its value written above it, `note` under the label; `ref` bars are grey)
 *
 * X is categorical (evenly spaced ticks, like the paper's plots); y is linear from 0, with an
 * optional symmetric error bar per point (mean ± stddev).
 */
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f']
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const num = (x) => (Math.round(x * 10) / 10).toString()

/** A "nice" upper bound and step for an axis from 0 to max. */
function niceScale(max, ticks = 5) {
  if (!(max > 0)) return { top: 1, step: 0.2 }
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw)
  return { top: Math.ceil(max / step) * step, step }
}
const tickLabel = (v, step) => (step >= 1 ? v.toFixed(0) : v.toFixed(Math.min(6, Math.ceil(-Math.log10(step)))))

const FRAME = { L: 64, R: 28, T: 28, B: 44 }

/** Title, horizontal grid with y labels, frame and axis labels of one panel; its plot area and y scale. */
function frame(p, ox, oy, w, h, max, out, bottom = FRAME.B) {
  const { L, R, T } = FRAME
  const pw = w - L - R
  const ph = h - T - bottom
  const { top, step } = niceScale(max)
  const yOf = (v) => oy + T + ph - (v / top) * ph
  out.push(`<text x="${num(ox + L + pw / 2)}" y="${num(oy + 16)}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`)
  for (let v = 0; v <= top + step / 1e6; v += step) {
    out.push(`<line x1="${num(ox + L)}" x2="${num(ox + L + pw)}" y1="${num(yOf(v))}" y2="${num(yOf(v))}" stroke="#ddd"/>`)
    out.push(`<text x="${num(ox + L - 6)}" y="${num(yOf(v) + 4)}" text-anchor="end">${tickLabel(v, step)}</text>`)
  }
  out.push(`<rect x="${num(ox + L)}" y="${num(oy + T)}" width="${num(pw)}" height="${num(ph)}" fill="none" stroke="#333"/>`)
  if (p.xLabel) out.push(`<text x="${num(ox + L + pw / 2)}" y="${num(oy + h - 6)}" text-anchor="middle">${esc(p.xLabel)}</text>`)
  out.push(`<text transform="translate(${num(ox + 14)},${num(oy + T + ph / 2)}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`)
  return { x0: ox + L, pw, ph, base: oy + T + ph, yOf }
}

function linePanel(p, ox, oy, w, h) {
  const out = []
  let max = 0
  for (const s of p.series) for (const pt of s.points) if (Number.isFinite(pt.y)) max = Math.max(max, pt.y + (pt.err ?? 0))
  const { x0, pw, base, yOf } = frame(p, ox, oy, w, h, max, out)
  const nx = p.xTicks.length
  const xOf = (i) => x0 + (nx === 1 ? pw / 2 : (i * pw) / (nx - 1))
  p.xTicks.forEach((t, i) => {
    if (t === '') return // an unlabelled position (dense series label every k-th point)
    out.push(`<line x1="${num(xOf(i))}" x2="${num(xOf(i))}" y1="${num(base)}" y2="${num(base + 4)}" stroke="#333"/>`)
    out.push(`<text x="${num(xOf(i))}" y="${num(base + 18)}" text-anchor="middle">${esc(t)}</text>`)
  })
  p.series.forEach((s, si) => {
    const color = COLORS[si % COLORS.length]
    const pts = s.points.filter((pt) => Number.isFinite(pt.y))
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((pt) => `${num(xOf(pt.x))},${num(yOf(pt.y))}`).join(' ')}"/>`)
    // Dense series are drawn as lines only.
    for (const pt of pts.length > 60 ? [] : pts) {
      if (pt.err > 0) {
        const x = num(xOf(pt.x))
        out.push(`<line x1="${x}" x2="${x}" y1="${num(yOf(Math.max(0, pt.y - pt.err)))}" y2="${num(yOf(pt.y + pt.err))}" stroke="${color}"/>`)
      }
      out.push(`<circle cx="${num(xOf(pt.x))}" cy="${num(yOf(pt.y))}" r="3" fill="${color}"/>`)
    }
    // legend, top-left inside the plot
    const ly = oy + FRAME.T + 14 + si * 16
    out.push(`<line x1="${num(x0 + 10)}" x2="${num(x0 + 30)}" y1="${num(ly - 4)}" y2="${num(ly - 4)}" stroke="${color}" stroke-width="2"/>`)
    out.push(`<text x="${num(x0 + 36)}" y="${num(ly)}">${esc(s.name)}</text>`)
  })
  return out.join('\n')
}

/** Labels at the foot of the bars wrap onto two lines at a ' / ' or the space nearest the middle. */
function twoLines(label) {
  if (label.length <= 16) return [label]
  const mid = label.length / 2
  let best = -1
  for (let i = 0; i < label.length; i++) if (label[i] === ' ' && (best < 0 || Math.abs(i - mid) < Math.abs(best - mid))) best = i
  return best < 0 ? [label] : [label.slice(0, best), label.slice(best + 1)]
}

function barPanel(p, ox, oy, w, h) {
  const out = []
  const bars = p.bars.filter((b) => Number.isFinite(b.value))
  const max = bars.reduce((m, b) => Math.max(m, b.value), 0) * 1.12
  const { x0, pw, base, yOf } = frame(p, ox, oy, w, h, max, out, 64)
  const slot = pw / Math.max(1, bars.length)
  bars.forEach((b, i) => {
    const x = x0 + i * slot + slot * 0.15
    const bw = slot * 0.7
    const cx = x + bw / 2
    out.push(`<rect x="${num(x)}" y="${num(yOf(b.value))}" width="${num(bw)}" height="${num(base - yOf(b.value))}" fill="${b.ref ? '#bbb' : COLORS[0]}"/>`)
    out.push(`<text x="${num(cx)}" y="${num(yOf(b.value) - 4)}" text-anchor="middle" font-size="11">${esc(b.text ?? num(b.value))}</text>`)
    const lines = [...twoLines(b.label), ...(b.note ? [b.note] : [])]
    lines.forEach((l, j) => out.push(`<text x="${num(cx)}" y="${num(base + 14 + j * 13)}" text-anchor="middle" font-size="${j < lines.length - (b.note ? 1 : 0) ? 11 : 10}"${b.note && j === lines.length - 1 ? ' fill="#555"' : ''}>${esc(l)}</text>`))
  })
  return out.join('\n')
}

const panel = (p, ox, oy, w, h) => (p.type === 'bars' ? barPanel(p, ox, oy, w, h) : linePanel(p, ox, oy, w, h))

/** Panels side by side, each `w` x `h`, under an optional title and above an optional note. */
export function figure({ title, note, panels, w = 480, h = 360 }) {
  const head = title ? 28 : 0
  const foot = note ? 22 : 0
  const W = w * panels.length
  const H = h + head + foot
  const body = panels.map((p, i) => panel(p, i * w, head, w, h)).join('\n')
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    title ? `<text x="${W / 2}" y="19" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>` : '',
    body,
    note ? `<text x="8" y="${H - 7}" font-size="11" fill="#555">${esc(note)}</text>` : '',
    '</svg>',
    '',
  ].join('\n')
}
