/**
 * Experiment "calls" of bench/run.mjs, the paper's Figure 1: completion time of a program making N
 * replicated `rep.now()` calls spread over a fixed CPU workload (bench/paper-replica.mjs), for 1
 * replica without RepJS (plain Date.now()), 1 replica with RepJS, 2, 4 and 8 replica processes on
 * one etcd member (fsync on). Mean ± stddev and best over the replicas. etcd and every worker are
 * stopped by PID in finally blocks; everything is on 127.0.0.1.
 */
import { startCluster } from '../dist/node-gateway/etcd/local-etcd.js'
import { etcdVersion } from './etcd.mjs'
import { ID, log, withTimeout } from './lib.mjs'
import { busy, cpuMeter, fmtMs, paperMs, runPoint, startPaperWorker, summary, WORKLOAD } from './paper-workers.mjs'
import { figure } from './svg.mjs'

// ---------------------------------------------------------------- 1: calls sweep (Figure 1)

const CONFIGS = (counts) => [
  { key: 'plain', label: '1 replica, no RepJS (Date.now)', mode: 'plain', replicas: 1 },
  ...counts.map((k) => ({ key: `rep${k}`, label: `${k} replica${k > 1 ? 's' : ''}, RepJS`, mode: 'rep', replicas: k })),
]

async function callsSweep(ctx) {
  const cfg = ctx.cfg.calls
  const configs = CONFIGS(cfg.replicas)
  log(`\n[calls] calls sweep: N = ${cfg.n.join(', ')} rep.now() calls + ${WORKLOAD.muls} 300x300 matrix multiplications, one etcd member (fsync ${ctx.fsync ? 'on' : 'off'})`)
  const etcd = await startCluster(1, { fsync: ctx.fsync })
  const etcdPid = etcd.members[0].proc.pid
  const rows = []
  try {
    for (const c of configs) {
      const ws = Array.from({ length: c.replicas }, (_, i) => startPaperWorker(`${c.key}-r${i + 1}`, c.mode, etcd.endpoint))
      try {
        await withTimeout(Promise.all(ws.map((w) => w.up)), 30_000, 'workers starting')
        for (const n of cfg.n) {
          const meter = cpuMeter({ etcd: () => [etcdPid], replicas: () => ws.map((w) => w.pid) })
          const res = await runPoint(ws, { run: `paper-calls-${ID}-${c.key}-n${n}`, n, ...WORKLOAD }, ctx.timeoutMs)
          const cpu = meter()
          const s = summary(res.map((r) => r.elapsedMs))
          const calls = summary(res.map((r) => r.callMs))
          // "Best" is the replica that finished first; its own time inside the calls, not the least of anyone's.
          const first = res.reduce((a, b) => (b.elapsedMs < a.elapsedMs ? b : a))
          rows.push({
            config: c.key, label: c.label, replicas: c.replicas, n,
            meanMs: s.mean, sdMs: s.sd, bestMs: s.best, worstMs: s.worst,
            callsMeanMs: calls.mean, callsBestMs: first.callMs,
            perCallBestMs: n ? first.callMs / n : null,
            perCallMeanMs: n ? calls.mean / n : null,
            perReplica: res.map((r) => ({ label: r.label, elapsedMs: r.elapsedMs, callMs: r.callMs, cpuMs: r.cpuMs })),
            cpu,
          })
          log(`  ${c.label.padEnd(32)} N=${String(n).padStart(5)}: mean ${fmtMs(s.mean)} ± ${fmtMs(s.sd)} ms, best ${fmtMs(s.best)} ms` +
            (n ? ` (calls alone, first replica to finish: ${fmtMs(first.callMs)} ms = ${(first.callMs / n).toFixed(3)} ms/call)` : '') +
            `; machine ${(cpu.machineBusy * 100).toFixed(0)}% busy`)
        }
      } finally {
        await Promise.all(ws.map((w) => w.stop()))
      }
    }
  } finally {
    await etcd.stop()
  }
  const out = {
    etcd: { version: etcdVersion(), members: 'one member on 127.0.0.1 (its own), all replicas are processes on this machine talking to it', fsync: ctx.fsync },
    workload: `${WORKLOAD.muls} multiplications of two 300x300 Float64 matrices (deterministic LCG data), in ${WORKLOAD.chunks} chunks; after each chunk N/${WORKLOAD.chunks} calls`,
    n: cfg.n,
    configs: configs.map(({ key, label, replicas, mode }) => ({ key, label, replicas, mode })),
    rows,
  }
  return out
}

function callsMarkdown(o) {
  const L = []
  L.push(`- workload: ${o.workload}`)
  L.push('', 'Completion time in ms from the start signal, over the replicas: mean ± stddev (population), and best (the first replica to finish).', '')
  L.push('| Configuration | ' + o.n.map((n) => `N=${n.toLocaleString('en-US')}`).join(' | ') + ' |')
  L.push('|---|' + o.n.map(() => '---|').join(''))
  for (const c of o.configs) {
    const cells = o.n.map((n) => {
      const r = o.rows.find((x) => x.config === c.key && x.n === n)
      if (!r) return '-'
      const sd = c.replicas > 1 ? ` ± ${fmtMs(r.sdMs)}` : ''
      return `${fmtMs(r.meanMs)}${sd}, best ${fmtMs(r.bestMs)}`
    })
    L.push(`| ${c.label} | ${cells.join(' | ')} |`)
  }
  L.push('', 'Per replicated call: the time the first replica to finish spent inside its N calls / N (mean over the replicas in brackets), and CPU: the machine\'s busy share during the point (/proc/stat, all processes), and in brackets the share used by this benchmark\'s own processes (etcd, replicas, this process); the difference is other load on the machine.', '')
  const ns = o.n.filter((n) => n > 0)
  L.push('| Configuration | ' + ns.map((n) => `N=${n.toLocaleString('en-US')}`).join(' | ') + ' | Paper (ms/call) |')
  L.push('|---|' + ns.map(() => '---|').join('') + '---|')
  for (const c of o.configs) {
    const cells = ns.map((n) => {
      const r = o.rows.find((x) => x.config === c.key && x.n === n)
      return r ? `${r.perCallBestMs.toFixed(3)} ms/call (${(r.perCallMeanMs ?? r.callsMeanMs / n).toFixed(3)}), ${busy(r.cpu)}` : '-'
    })
    L.push(`| ${c.label} | ${cells.join(' | ')} | ${c.mode === 'plain' ? '-' : paperMs(c.replicas)} |`)
  }
  L.push('')
  return L.join('\n')
}

function callsSvg(o, env) {
  const xTicks = o.n.map((n) => n.toLocaleString('en-US'))
  const series = (field, err) =>
    o.configs.map((c) => ({
      name: c.label,
      points: o.n.map((n, i) => {
        const r = o.rows.find((x) => x.config === c.key && x.n === n)
        return { x: i, y: r ? r[field] / 1000 : NaN, err: err && r ? r.sdMs / 1000 : 0 }
      }),
    }))
  return figure({
    title: 'RepJS calls sweep (paper Figure 1): completion time vs replicated calls',
    note: `${env.machine.cores} cores, ${o.etcd.version}, one member, fsync ${o.etcd.fsync ? 'on' : 'off'}, ${env.date.slice(0, 10)}; workload ${o.workload.split(' (')[0]}`,
    panels: [
      { title: '(a) mean over replicas ± stddev', xLabel: 'replicated now() calls (N)', yLabel: 'completion time (s)', xTicks, series: series('meanMs', true) },
      { title: '(b) best replica', xLabel: 'replicated now() calls (N)', yLabel: 'completion time (s)', xTicks, series: series('bestMs', false) },
    ],
  })
}

export const run = callsSweep
export const markdown = callsMarkdown
export const svg = callsSvg
/** Reported in its tables only: no target row. */
export const targets = () => []
