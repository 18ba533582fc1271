/**
 * The /dashboard page: plain HTML, CSS and JavaScript, no framework, no external request. It polls
 * /dashboard/api every second (passing on its own ?token=) and draws each run's calls/s, from the
 * change of its decided slots between polls, as an inline SVG line chart of the last two minutes.
 * Every value from the API is put in the page as text (textContent), never as markup.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>RepJS dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .meta { color: #aab3c5; font-size: 12px; }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  section, article { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 12px 16px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eef0f4; font-variant-numeric: tabular-nums; }
  th { font-weight: 600; color: #5a6478; font-size: 12px; }
  td.num, th.num { text-align: right; }
  .status::before { content: ''; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #999; }
  .status.live::before { background: #2fa84f; }
  .status.catching-up::before { background: #e0a100; }
  .status.waiting-for-quorum::before, .status.reconnecting::before { background: #d64545; }
  .run-head { display: flex; justify-content: space-between; gap: 16px; flex-wrap: wrap; }
  .run-meta { color: #5a6478; font-size: 12px; }
  .chart { display: flex; align-items: center; gap: 10px; margin: 6px 0 10px; }
  .chart svg { background: #fafbfc; border: 1px solid #eef0f4; }
  .rate { font-size: 20px; font-weight: 600; min-width: 90px; }
  .rate small { font-size: 11px; font-weight: 400; color: #5a6478; display: block; }
  .leader { color: #2f6fd6; font-weight: 600; }
  .empty, .error { color: #5a6478; }
  .error { color: #b02a2a; }
</style>
</head>
<body>
<header><h1>RepJS dashboard</h1><span class="meta" id="gateway"></span><span class="meta" id="updated"></span></header>
<main>
  <p class="error" id="error" hidden></p>
  <section id="etcd"><h2>etcd members</h2><table><thead><tr><th>member</th><th>client URL</th><th>role</th><th class="num">db size</th><th class="num">in use</th><th>version</th></tr></thead><tbody></tbody></table></section>
  <div id="runs"></div>
</main>
<script>
'use strict'
const token = new URLSearchParams(location.search).get('token')
const api = '/dashboard/api' + (token ? '?token=' + encodeURIComponent(token) : '')
const WINDOW_MS = 120000
const history = new Map() // run -> [{ t, decided }]
const $ = (id) => document.getElementById(id)

function el(tag, attrs, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v)
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return e
}
function svg(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  return e
}
function bytes(n) {
  if (n === null || n === undefined) return '–'
  const u = ['B', 'KiB', 'MiB', 'GiB']
  let i = 0
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++
  return (i ? n.toFixed(1) : n) + ' ' + u[i]
}
function when(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : '–'
}

/** Calls/s between consecutive polls of one run, over the last WINDOW_MS. */
function rates(points) {
  const out = []
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i].t - points[i - 1].t) / 1000
    if (dt > 0) out.push({ t: points[i].t, r: Math.max(0, points[i].decided - points[i - 1].decided) / dt })
  }
  return out
}

function chart(points, now) {
  const W = 600, H = 70, P = 4
  const rs = rates(points)
  const max = Math.max(1, ...rs.map((p) => p.r))
  const s = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'calls per second' })
  s.append(svg('line', { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: '#dde1e8' }))
  const label = svg('text', { x: W - P, y: 12, 'text-anchor': 'end', 'font-size': 10, fill: '#5a6478' })
  // The last two minutes, or since the page opened if that is shorter.
  const from = Math.max(now - WINDOW_MS, points.length ? Math.min(points[0].t, now - 10000) : now - WINDOW_MS)
  label.textContent = 'max ' + max.toFixed(max < 10 ? 1 : 0) + '/s · last ' + Math.round((now - from) / 1000) + ' s'
  s.append(label)
  if (rs.length > 1) {
    const x = (t) => P + ((t - from) / (now - from)) * (W - 2 * P)
    const y = (r) => H - P - (r / max) * (H - 2 * P - 12)
    const pts = rs.filter((p) => p.t >= from).map((p) => x(p.t).toFixed(1) + ',' + y(p.r).toFixed(1)).join(' ')
    s.append(svg('polyline', { points: pts, fill: 'none', stroke: '#2f6fd6', 'stroke-width': 2, 'stroke-linejoin': 'round' }))
  }
  return { svg: s, now: rs.length ? rs[rs.length - 1].r : 0 }
}

function renderEtcd(etcd) {
  const body = document.querySelector('#etcd tbody')
  body.replaceChildren()
  if (etcd.error) body.append(el('tr', {}, el('td', { colspan: 6, class: 'error' }, etcd.error)))
  for (const m of etcd.members) {
    body.append(el('tr', { 'data-member': m.name },
      el('td', {}, m.name || m.id), el('td', {}, m.clientURLs.join(', ')),
      el('td', { class: m.leader ? 'role leader' : 'role' }, !m.reachable ? 'unreachable' : m.leader ? 'leader' : 'follower'),
      el('td', { class: 'num dbsize' }, bytes(m.dbSize)), el('td', { class: 'num' }, bytes(m.dbSizeInUse)), el('td', {}, m.version || '–')))
  }
}

function renderRun(r, now) {
  const points = (history.get(r.run) || []).filter((p) => p.t > now - WINDOW_MS - 2000)
  points.push({ t: now, decided: r.decided })
  history.set(r.run, points)
  const c = chart(points, now)
  const rows = r.replicas.map((p) => el('tr', { 'data-replica': p.replica },
    el('td', { class: 'replica' }, p.replica), el('td', { class: 'name' }, p.name), el('td', { class: 'runtime' }, p.runtime),
    el('td', { class: 'status ' + p.status }, p.status), el('td', { class: 'num slot' }, p.slot), el('td', { class: 'num head' }, p.head),
    el('td', { class: 'num lag' }, p.lag)))
  const table = rows.length
    ? el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'replica'), el('th', {}, 'name'), el('th', {}, 'runtime'), el('th', {}, 'status'),
        el('th', { class: 'num' }, 'slot'), el('th', { class: 'num' }, 'head'), el('th', { class: 'num' }, 'lag'))), el('tbody', {}, ...rows))
    : el('p', { class: 'empty' }, 'no replica present')
  const meta = [r.program ? 'program ' + r.program : null, r.decided + ' slots decided', r.bytes !== null ? bytes(r.bytes) + ' in etcd' : null,
    r.created ? 'created ' + when(r.created) : null, r.lastActivity ? 'last activity ' + when(r.lastActivity) : null].filter(Boolean).join(' · ')
  return el('article', { class: 'run', 'data-run': r.run },
    el('div', { class: 'run-head' }, el('h2', {}, 'run ' + r.run), el('span', { class: 'run-meta' }, meta)),
    el('div', { class: 'chart' }, el('div', { class: 'rate' }, c.now.toFixed(1), el('small', {}, 'calls/s')), c.svg),
    table)
}

async function poll() {
  try {
    const res = await fetch(api, { cache: 'no-store' })
    const body = await res.json()
    if (!res.ok) throw new Error(body.error || res.status + ' ' + res.statusText)
    $('error').hidden = true
    $('gateway').textContent = 'gateway ' + body.gateway
    $('updated').textContent = 'updated ' + when(body.at)
    renderEtcd(body.etcd)
    const runs = body.runs.map((r) => renderRun(r, body.at))
    $('runs').replaceChildren(...(runs.length ? runs : [el('section', { class: 'empty' }, 'no runs')]))
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1)
  } catch (err) {
    $('error').hidden = false
    $('error').textContent = 'Could not read ' + api.split('?')[0] + ': ' + err.message
  }
  setTimeout(poll, 1000)
}
poll()
</script>
</body>
</html>
`
