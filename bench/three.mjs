/**
 * Experiment "prototype" (issue 7, the calls/s target): RepJS in the configurations the Python
 * prototype was measured in (the project's reference measurements of it: 1 replica on one etcd, 3 replicas on one etcd,
 * 3 replicas on a 3-member etcd, N sequential clock reads each), side by side with the prototype's
 * recorded figures. The prototype itself (Python, etcd v2 API, python-etcd) does not ship with this
 * repository and cannot be installed here, so its figures are the recorded ones, never re-measured.
 * Target: 3 replicas on one etcd (fsync on) >= 2.5x its 355 calls/s, and 5x with the lean hot path.
 */
import os from 'node:os'
import { startCluster } from '../dist/node-gateway/etcd/local-etcd.js'
import { etcdVersion, metricsDelta, observe } from './etcd.mjs'
import { fmt, fsyncUs, ID, log, msSince, now, slotsProposed, startWorker, us, withTimeout, yes } from './lib.mjs'
import { table } from './report.mjs'
import { figure } from './svg.mjs'

/** The prototype's recorded figure the issue's target is stated against: 3 replicas, one etcd, fsync on. */
export const PROTOTYPE_CALLS_PER_SEC = 355
/** Recorded ms per call (slowest replica) by N, low-high over the measured days. */
const PROTOTYPE_MS = {
  one: { 100: [0.77, 0.91], 1000: [0.56, 0.68], 10000: [0.6, 0.6] },
  three: { 100: [3.0, 4.1], 1000: [2.2, 3.5], 10000: [1.45, 1.45] },
  threeOnThree: { 100: [4.5, 6.8], 1000: [3.6, 6.0], 10000: [3.0, 3.0] },
}
const CONFIGS = [
  { key: 'one', label: '1 replica, one etcd', replicas: 1, members: 1 },
  { key: 'three', label: '3 replicas, one etcd', replicas: 3, members: 1 },
  { key: 'threeEtcd3', label: "3 replicas, one etcd, hotPath 'etcd3' (grpc-js, not the lean client)", replicas: 3, members: 1, hotPath: 'etcd3', proto: 'three' },
  { key: 'threeOnThree', label: '3 replicas, 3-member etcd (one member each)', replicas: 3, members: 3 },
]
/** The prototype's N closest to `n` (it was measured at 100, 1,000 and 10,000). */
const nearestN = (n) => [100, 1000, 10000].reduce((a, b) => (Math.abs(Math.log(b / n)) < Math.abs(Math.log(a / n)) ? b : a))

/**
 * etcd's work per slot over all members: Txn and Range RPCs summed (each replica talks to its own
 * member), WAL fsyncs and their time per member (every member writes every entry).
 */
function perSlot(before, after, n) {
  const d = before.map((m, i) => metricsDelta(m, after[i], n))
  const sum = (k) => d.reduce((a, x) => a + x[k], 0)
  return { txn: sum('txn'), range: sum('range'), walFsyncs: sum('walFsyncs') / d.length, walFsyncSeconds: sum('walFsyncSeconds') / d.length, proposals: sum('proposals') / d.length }
}

/** `replicas` worker processes doing `n` now() calls on one run, started together after a warm-up. */
async function point(c, endpoints, etcds, n, warm, timeoutMs) {
  const run = `proto-${c.key}-${ID}`
  const extra = ['--warmup', String(warm), '--wait-go', ...(c.hotPath ? ['--hot-path', c.hotPath] : [])]
  const ws = Array.from({ length: c.replicas }, (_, i) => startWorker(`${c.key}-r${i + 1}`, run, n, endpoints[i % endpoints.length], extra))
  await withTimeout(Promise.race([Promise.all(ws.map((w) => w.ready)), Promise.all(ws.map((w) => w.done))]), timeoutMs, `${c.key} warm-up`)
  const m0 = await Promise.all(etcds.map((e) => e.metrics()))
  const e0 = etcds.map((e) => e.cpuMs())
  const t0 = now()
  for (const w of ws) w.cp.send({ type: 'go' })
  const res = await withTimeout(Promise.all(ws.map((w) => w.done)), timeoutMs, `${c.key} run`)
  const wallMs = msSince(t0)
  const m1 = await Promise.all(etcds.map((e) => e.metrics()))
  const etcdCpuMs = etcds.reduce((a, e, i) => a + ((e.cpuMs() ?? 0) - (e0[i] ?? 0)), 0)
  const slowest = res.reduce((a, b) => (a.callsPerSec <= b.callsPerSec ? a : b))
  return {
    run,
    wallMs,
    res,
    slowest,
    perCallMs: slowest.elapsedMs / n,
    callsPerSec: slowest.callsPerSec,
    etcdPerSlot: perSlot(m0, m1, n),
    etcdCpuUsPerSlot: (etcdCpuMs * 1000) / n,
  }
}

export async function run(ctx) {
  const { n, warm } = ctx.cfg.prototype
  log(`\n[prototype] RepJS in the prototype's configurations: ${fmt(n)} now() calls per replica after ${warm} warm-up calls each (private streams)`)
  const rows = []
  for (const c of CONFIGS) {
    let cluster
    try {
      let endpoints = [ctx.etcd.endpoint]
      let etcds = [ctx.etcd]
      if (c.members > 1) {
        cluster = await startCluster(c.members, { fsync: ctx.fsync })
        etcds = cluster.members.map(observe)
        endpoints = etcds.map((e) => e.endpoint)
      }
      const p = await point(c, endpoints, etcds, n, warm, ctx.timeoutMs)
      const byId = Object.fromEntries(p.res.map((r) => [r.replicaId, r.label]))
      const won = c.members === 1 ? await slotsProposed(ctx.client, p.run, (id) => byId[id] ?? id) : undefined
      const pn = nearestN(n)
      const proto = PROTOTYPE_MS[c.proto ?? c.key][pn]
      const row = {
        key: c.key, label: c.label, replicas: c.replicas, members: c.members, n, samePrototypeAs: c.proto,
        perCallMs: p.perCallMs, callsPerSec: p.callsPerSec, wallMs: p.wallMs,
        replicasDetail: p.res.map((r) => ({ label: r.label, callsPerSec: r.callsPerSec, elapsedMs: r.elapsedMs, p50Us: r.p50Us, meanUs: r.meanUs, p99Us: r.p99Us, nodeCpuUsPerCall: r.cpuUsPerCall, slotsWon: won && (won[r.label] ?? 0) })),
        etcdPerSlot: p.etcdPerSlot,
        etcdCpuUsPerSlot: p.etcdCpuUsPerSlot,
        prototype: { n: pn, msPerCall: proto },
        fasterThanPrototype: [proto[0] / p.perCallMs, proto[1] / p.perCallMs],
      }
      const cpuPerSlot = row.etcdCpuUsPerSlot + row.replicasDetail.reduce((a, r) => a + r.nodeCpuUsPerCall, 0)
      row.cpuBusy = (cpuPerSlot * n) / 1000 / p.wallMs / os.cpus().length
      rows.push(row)
      log(`  ${c.label.padEnd(44)} ${row.perCallMs.toFixed(3)} ms/call (${fmt(row.callsPerSec)} calls/s, slowest replica); prototype ${proto.join('-')} ms/call at N=${fmt(pn)} -> ${row.fasterThanPrototype.map((x) => x.toFixed(1)).join('-')}x faster; per slot ${row.etcdPerSlot.txn.toFixed(2)} Txn, ${row.etcdPerSlot.walFsyncs.toFixed(2)} fsyncs; CPU ${(row.cpuBusy * 100).toFixed(0)}% of the cores`)
      for (const r of row.replicasDetail) log(`    ${r.label}: ${fmt(r.callsPerSec)} calls/s, p50 ${us(r.p50Us)}, node cpu ${us(r.nodeCpuUsPerCall)}/call${r.slotsWon === undefined ? '' : `, won ${r.slotsWon} slots`}`)
    } finally {
      await cluster?.stop()
    }
  }
  const three = rows.find((r) => r.key === 'three')
  const etcd3 = rows.find((r) => r.key === 'threeEtcd3')
  const out = {
    etcd: { version: etcdVersion(), members: 'the shared single member on 127.0.0.1 (1 and 3 replicas on one etcd); a 3-member cluster of its own for the last configuration', fsync: ctx.fsync },
    n,
    warm,
    rows,
    prototypeCallsPerSec: PROTOTYPE_CALLS_PER_SEC,
    prototypeNote: 'The Python prototype is not part of this repository and cannot be installed here (no network beyond the package registries): its figures are the recorded ones from the project\'s reference material, not re-measured',
    ratioToPrototype: three.callsPerSec / PROTOTYPE_CALLS_PER_SEC,
    ratioToPrototypeEtcd3: etcd3.callsPerSec / PROTOTYPE_CALLS_PER_SEC,
    /** The prototype's own recorded rate at the N measured here (355 calls/s is its N=1,000 range). */
    prototypeSameN: { n: three.prototype.n, callsPerSec: 1000 / three.prototype.msPerCall[0], ratio: three.callsPerSec / (1000 / three.prototype.msPerCall[0]) },
    budgetUsPerSlot: { '2.5x': 1e6 / (2.5 * PROTOTYPE_CALLS_PER_SEC), '5x': 1e6 / (5 * PROTOTYPE_CALLS_PER_SEC) },
  }
  out.meets2_5x = out.ratioToPrototypeEtcd3 >= 2.5
  out.meets2_5xLean = out.ratioToPrototype >= 2.5
  out.meets5x = out.ratioToPrototype >= 5
  log(`  3 replicas, one etcd: etcd3 client ${out.ratioToPrototypeEtcd3.toFixed(2)}x the prototype's recorded ${PROTOTYPE_CALLS_PER_SEC} (>= 2.5x: ${yes(out.meets2_5x)}), lean default ${out.ratioToPrototype.toFixed(2)}x (>= 5x: ${yes(out.meets5x)}); same N: ${out.prototypeSameN.ratio.toFixed(2)}x its ${fmt(out.prototypeSameN.callsPerSec)} calls/s`)
  return out
}

export function targets(o) {
  const row = (key) => o.rows.find((r) => r.key === key)
  const res = (r, x) => `${fmt(r.callsPerSec)} calls/s = ${x.toFixed(2)}x ${o.prototypeCallsPerSec} (recorded)`
  return [
    { what: "3 replicas on one etcd (fsync on), hotPath 'etcd3' (not lean), vs the Python prototype", result: res(row('threeEtcd3'), o.ratioToPrototypeEtcd3), target: '>= 2.5x', met: o.meets2_5x, gated: true },
    { what: '3 replicas on one etcd, lean hot path (the default), vs the Python prototype', result: res(row('three'), o.ratioToPrototype), target: `>= 5x (<= ${us(o.budgetUsPerSlot['5x'])} per slot)`, met: o.meets5x, gated: true },
    { what: '3 replicas on one etcd, lean hot path, vs the prototype at the same N', result: `${o.prototypeSameN.ratio.toFixed(2)}x its ${fmt(o.prototypeSameN.callsPerSec)} calls/s at N=${fmt(o.prototypeSameN.n)}`, target: '(info)', met: o.prototypeSameN.ratio > 1, gated: false },
  ]
}

export function markdown(o) {
  const range = (a) => (a[0] === a[1] ? a[0].toFixed(2) : `${a[0].toFixed(2)}-${a[1].toFixed(2)}`)
  const rows = o.rows.map((r) => [
    r.label, `${r.perCallMs.toFixed(3)} ms (${fmt(r.callsPerSec)} calls/s)`, `${range(r.prototype.msPerCall)} ms at N=${fmt(r.prototype.n)}`,
    `${range(r.fasterThanPrototype.map((x) => Number(x.toFixed(1))))}x`,
    `${r.etcdPerSlot.txn.toFixed(2)} Txn, ${r.etcdPerSlot.range.toFixed(2)} Range (all members); ${r.etcdPerSlot.walFsyncs.toFixed(2)} fsyncs per member (${us(fsyncUs(r.etcdPerSlot))} each)`,
    `${(r.cpuBusy * 100).toFixed(0)}%`,
  ])
  const three = o.rows.find((r) => r.key === 'three')
  return [
    `${fmt(o.n)} sequential \`now()\` calls per replica (replica processes, after ${o.warm} warm-up calls each on private streams, started together); per call = the slowest replica's time / N, as the prototype was measured. ${o.prototypeNote}.`,
    '',
    ...table(['Configuration', 'RepJS per call', 'Prototype (recorded)', 'RepJS faster by', 'etcd per slot', 'CPU busy (bench processes)'], rows),
    '',
    `Targets, against the prototype's ${o.prototypeCallsPerSec} calls/s with 3 replicas on one etcd: 2.5x (<= ${us(o.budgetUsPerSlot['2.5x'])} per slot) on etcd3's client: ${yes(o.meets2_5x)} (${o.ratioToPrototypeEtcd3.toFixed(2)}x; the lean default: ${o.ratioToPrototype.toFixed(2)}x); 5x (<= ${us(o.budgetUsPerSlot['5x'])} per slot) with the lean hot path: ${yes(o.meets5x)}.` +
      ` The ${o.prototypeCallsPerSec} calls/s figure is the prototype's N=1,000 range (2.2-3.5 ms per call); at the N measured here (${fmt(o.prototypeSameN.n)}) it recorded ${fmt(o.prototypeSameN.callsPerSec)} calls/s, and against that RepJS's lean default is ${o.prototypeSameN.ratio.toFixed(2)}x.`,
    `Slots proposed, 3 replicas on one etcd: ${three.replicasDetail.map((r) => `${r.label} ${r.slotsWon}`).join(', ')} (followers wait for the leader's decision instead of proposing).`,
    '',
    'What the prototype also did, and RepJS does not (its defects, as recorded in the project\'s reference material): a loser made two round trips per slot (failed create, then read); its replay ran at 600-1,060 calls/s and a replica started half-way never caught up (see catch-up); after any etcd error it silently stopped replicating.',
    '',
  ].join('\n')
}

export function svg(o, env) {
  const bars = []
  for (const r of o.rows) {
    if (!r.samePrototypeAs) bars.push({ label: `prototype: ${r.label.split(' (')[0]}`, value: r.prototype.msPerCall[1], text: r.prototype.msPerCall.map((x) => x.toFixed(2)).join('-'), note: `recorded, N=${fmt(r.prototype.n)}`, ref: true })
    bars.push({ label: `RepJS: ${r.label.split(' (')[0]}`, value: r.perCallMs, text: r.perCallMs.toFixed(3), note: `${fmt(r.callsPerSec)} calls/s` })
  }
  return figure({
    title: 'RepJS vs the Python prototype, same configurations (ms per call, slowest replica)',
    note: `${env.machine.cores} cores, etcd fsync ${o.etcd?.fsync === false ? 'off' : 'on'}, N=${fmt(o.n)}, ${env.date.slice(0, 10)}; prototype bars: recorded figures (upper end of the range), not re-measured`,
    w: 980,
    h: 400,
    panels: [{ type: 'bars', title: 'lower is better', yLabel: 'ms per call', bars }],
  })
}
