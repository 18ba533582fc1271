/**
 * Experiment "streams" (issue 7, item 5): independent named streams decide their slots in
 * parallel, so one replica can have a proposal in flight on each (pipelining), and etcd commits
 * them in shared raft batches and fsyncs. N `now()` calls per replica, split evenly over S named
 * streams (S sequential loops at once, bench/replica.mjs --streams), with 1 and 3 replica
 * processes on one run: agreed calls/s of the slowest replica against the single-stream rate.
 * Every replica reports a hash of each stream's agreed values; the replicas of a point must agree.
 */
import os from 'node:os'
import { metricsDelta } from './etcd.mjs'
import { fmt, fsyncUs, ID, log, msSince, now, startWorker, withTimeout } from './lib.mjs'
import { table } from './report.mjs'
import { figure } from './svg.mjs'

async function point(ctx, replicas, streams, n, warm) {
  const run = `streams-${replicas}x${streams}-${ID}`
  const ws = Array.from({ length: replicas }, (_, i) =>
    startWorker(`s${streams}-r${i + 1}`, run, n, ctx.etcd.endpoint, ['--warmup', String(warm), '--wait-go', '--streams', String(streams)]),
  )
  await withTimeout(Promise.race([Promise.all(ws.map((w) => w.ready)), Promise.all(ws.map((w) => w.done))]), ctx.timeoutMs, `streams ${replicas}x${streams} warm-up`)
  const m0 = await ctx.etcd.metrics()
  const e0 = ctx.etcd.cpuMs()
  const t0 = now()
  for (const w of ws) w.cp.send({ type: 'go' })
  const res = await withTimeout(Promise.all(ws.map((w) => w.done)), ctx.timeoutMs, `streams ${replicas}x${streams}`)
  const wallMs = msSince(t0)
  const etcdCpuMs = e0 === undefined ? undefined : ctx.etcd.cpuMs() - e0
  const etcd = metricsDelta(m0, await ctx.etcd.metrics(), n)
  const digests = new Set(res.map((r) => r.digest))
  if (digests.size !== 1) throw new Error(`replicas of ${run} disagree on the agreed values: ${[...digests].join(' vs ')}`)
  const slowest = res.reduce((a, b) => (a.callsPerSec <= b.callsPerSec ? a : b))
  return {
    replicas, streams, n, wallMs,
    callsPerSec: slowest.callsPerSec,
    p50Us: slowest.p50Us,
    p99Us: slowest.p99Us,
    nodeCpuUsPerCall: slowest.cpuUsPerCall,
    etcdCpuUsPerSlot: etcdCpuMs === undefined ? undefined : (etcdCpuMs * 1000) / n,
    /** Share of the machine's cores the replicas and etcd kept busy during the point. */
    cpuBusy: etcdCpuMs === undefined ? undefined : (etcdCpuMs + res.reduce((a, r) => a + (r.cpuUsPerCall * n) / 1000, 0)) / wallMs / os.cpus().length,
    etcdPerSlot: etcd,
    fsyncsPerSlot: etcd.walFsyncs,
    agreed: true,
  }
}

export async function run(ctx) {
  const { counts, replicas, n, warm } = ctx.cfg.streams
  log(`\n[streams] ${fmt(n)} now() calls per replica over S named streams at once, S = ${counts.join(', ')}; ${replicas.join(' and ')} replica process(es)`)
  const rows = []
  for (const r of replicas) {
    let single = NaN
    for (const s of counts) {
      const p = await point(ctx, r, s, n, warm)
      if (s === counts[0]) single = p.callsPerSec
      p.vsSingle = p.callsPerSec / single
      rows.push(p)
      log(`  ${r} replica(s), ${String(s).padStart(2)} streams: ${fmt(p.callsPerSec)} agreed calls/s (${p.vsSingle.toFixed(2)}x one stream), p50 ${p.p50Us.toFixed(0)} µs per call, ${p.fsyncsPerSlot.toFixed(2)} WAL fsyncs per slot, values agreed`)
    }
  }
  return { n, warm, counts, replicas, rows, cores: os.cpus().length }
}

export function targets(o) {
  const best = (r) => o.rows.filter((x) => x.replicas === r).reduce((a, b) => (a.vsSingle >= b.vsSingle ? a : b))
  return o.replicas.map((r) => {
    const b = best(r)
    return { what: `Named streams in parallel, ${r} replica${r > 1 ? 's' : ''}: agreed calls/s vs one stream`, result: `${b.vsSingle.toFixed(2)}x at ${b.streams} streams (${fmt(b.callsPerSec)} calls/s)`, target: '(info) > 1x', met: b.vsSingle > 1, gated: false }
  })
}

export function markdown(o) {
  const rows = o.rows.map((p) => [
    p.replicas, p.streams, `${fmt(p.callsPerSec)}`, `**${p.vsSingle.toFixed(2)}x**`, `${p.p50Us.toFixed(0)} / ${p.p99Us.toFixed(0)} µs`,
    `${p.etcdPerSlot.txn.toFixed(2)} Txn, ${p.fsyncsPerSlot.toFixed(2)} fsyncs (${fsyncUs(p.etcdPerSlot).toFixed(0)} µs each)`, `${p.nodeCpuUsPerCall.toFixed(0)} µs`,
    p.etcdCpuUsPerSlot === undefined ? '-' : `${p.etcdCpuUsPerSlot.toFixed(0)} µs`, p.cpuBusy === undefined ? '-' : `${(p.cpuBusy * 100).toFixed(0)} %`,
  ])
  return [
    `${fmt(o.n)} \`now()\` calls per replica, split evenly over S named streams run at once (one sequential loop per stream), after ${o.warm} warm-up calls; agreed calls/s of the slowest replica, and against the same replica count on the first stream count (${o.counts[0]}). Each point's replicas reported identical hashes of every stream's agreed values.`,
    '',
    ...table(['Replicas', 'Streams', 'Agreed calls/s', 'vs one stream', 'Per call p50 / p99', 'etcd per slot', 'Replica CPU per call (slowest)', 'etcd CPU per slot', `CPU busy (etcd + replicas, of ${o.cores ?? 2} cores)`], rows),
    '',
    'One stream is a chain: each slot waits for the one before it (a Txn and an fsync per slot). Streams are independent logs, so their proposals overlap and etcd batches concurrent Txns into one raft round and one fsync; the last column shows how busy the cores were.',
    '',
  ].join('\n')
}

export function svg(o, env) {
  const xTicks = o.counts.map(String)
  const series = o.replicas.map((r) => ({ name: `${r} replica${r > 1 ? 's' : ''}`, points: o.counts.map((s, i) => ({ x: i, y: o.rows.find((p) => p.replicas === r && p.streams === s)?.callsPerSec ?? NaN })) }))
  const ratio = o.replicas.map((r) => ({ name: `${r} replica${r > 1 ? 's' : ''}`, points: o.counts.map((s, i) => ({ x: i, y: o.rows.find((p) => p.replicas === r && p.streams === s)?.vsSingle ?? NaN })) }))
  return figure({
    title: 'RepJS throughput with independent named streams (pipelined proposals)',
    note: `${env.machine.cores} cores, one etcd member, fsync ${o.etcd?.fsync === false ? 'off' : 'on'}, N=${fmt(o.n)} calls per replica, ${env.date.slice(0, 10)}`,
    panels: [
      { title: '(a) agreed calls/s (slowest replica)', xLabel: 'named streams at once', yLabel: 'calls per second', xTicks, series },
      { title: '(b) against one stream', xLabel: 'named streams at once', yLabel: 'x one stream', xTicks, series: ratio },
    ],
  })
}
