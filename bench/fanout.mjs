/**
 * Experiment "fan-out" (issue 4's targets, kept in the one benchmark): many subscribed WebSocket
 * clients on one fresh `repjs gateway` child while a writer decides a slot every few ms (the
 * measurement itself is `fanOut` in bench/gateway.mjs): decide -> last client, and the gateway's
 * memory per idle connection. "No stalls" (issue 14): the whole measurement runs `runs` times (5 in
 * a full run), each on a fresh gateway and run; every run is reported and the worst one is gated
 * (its p99; the largest memory per connection). The tables and plot show the worst run.
 */
import os from 'node:os'
import { FANOUT_TARGET_KIB_PER_CONN, FANOUT_TARGET_P99_MS, fanOut, startGatewayProcess } from './gateway.mjs'
import { fmt, log, pctCore, us, yes } from './lib.mjs'
import { table } from './report.mjs'
import { figure } from './svg.mjs'

const KiB = 1024
const ms = (x) => `${x.toFixed(1)} ms`
const kib = (b) => `${fmt(b / KiB, 1)} KiB`

export async function run(ctx) {
  const n = ctx.cfg.fanout.runs
  const runs = []
  for (let i = 0; i < n; i++) {
    if (n > 1) log(`\n[fan-out] run ${i + 1} of ${n}`)
    // A fresh gateway, so the memory baseline is an idle gateway.
    const gw = await startGatewayProcess(ctx.etcd.endpoint)
    try {
      runs.push(await fanOut(ctx.etcd, gw, ctx.cfg, `-${i + 1}`))
    } finally {
      await gw.stop()
    }
  }
  const worst = runs.reduce((a, b) => (b.lastClient.p99Ms > a.lastClient.p99Ms ? b : a))
  const each = runs.map((r) => ({
    lastClientP50Ms: r.lastClient.p50Ms, lastClientP99Ms: r.lastClient.p99Ms, lastClientMaxMs: r.lastClient.maxMs,
    missingDeliveries: r.missingDeliveries, rssPerConnection: r.memory.perConnection.rss, gatewayUsPerDelivery: r.cpu.gatewayUsPerDelivery,
  }))
  const out = {
    ...worst,
    runs: each,
    worstRun: runs.indexOf(worst) + 1,
    worstRssPerConnection: Math.max(...each.map((r) => r.rssPerConnection)),
    meetsP99: runs.every((r) => r.meetsP99),
    meetsMemory: runs.every((r) => r.meetsMemory),
  }
  if (n > 1) log(`\n  fan-out, ${n} runs: decide -> last client p99 ${each.map((r) => ms(r.lastClientP99Ms)).join(', ')}; worst ${ms(worst.lastClient.p99Ms)} (run ${out.worstRun})  target < ${FANOUT_TARGET_P99_MS} ms in every run: ${yes(out.meetsP99)}`)
  return out
}

const runsText = (f) => (f.runs?.length > 1 ? `, worst of ${f.runs.length} runs (each: ${f.runs.map((r) => r.lastClientP99Ms.toFixed(1)).join(', ')} ms)` : '')

export function targets(f) {
  return [
    { what: `Fan-out: ${fmt(f.clients)} clients on one gateway, decide -> last client (one slot per ${f.everyMs} ms; no stalls: the worst of ${f.runs?.length ?? 1} run(s))`, result: `p99 ${ms(f.lastClient.p99Ms)} (p50 ${ms(f.lastClient.p50Ms)})${runsText(f)}`, target: `p99 < ${FANOUT_TARGET_P99_MS} ms`, met: f.meetsP99, gated: true },
    { what: `Gateway memory per idle connection (RSS, after GC; the largest of ${f.runs?.length ?? 1} run(s))`, result: kib(f.worstRssPerConnection ?? f.memory.perConnection.rss), target: `< ${FANOUT_TARGET_KIB_PER_CONN} KiB`, met: f.meetsMemory, gated: true },
  ]
}

export function markdown(f) {
  const c = f.cpu
  const runs = f.runs?.length > 1
    ? [`The measurement ran ${f.runs.length} times, each on a fresh gateway and run; the table and plot show the worst (run ${f.worstRun}, by decide -> last client p99). Each run, decide -> last client p50 / p99 / max, RSS per connection: ${f.runs.map((r, i) => `run ${i + 1}: ${ms(r.lastClientP50Ms)} / ${ms(r.lastClientP99Ms)} / ${ms(r.lastClientMaxMs)}, ${kib(r.rssPerConnection)}`).join('; ')}.`, '']
    : []
  return [
    ...runs,
    ...table(['Measurement', 'Result', 'Target', 'Met'], [
      [`${fmt(f.clients)} subscribed clients, writer's decide -> LAST client, one slot per ${f.everyMs} ms`, `p50 ${ms(f.lastClient.p50Ms)}, p99 ${ms(f.lastClient.p99Ms)} (${f.slots} slots)`, `p99 < ${FANOUT_TARGET_P99_MS} ms`, yes(f.meetsP99)],
      [`Same clients, one slot per ${f.slowEveryMs} ms`, `p50 ${ms(f.slow.lastClient.p50Ms)}, p99 ${ms(f.slow.lastClient.p99Ms)} (${f.slow.slots} slots)`, '(info)', '-'],
      ['Gateway memory per idle connection (connected + subscribed, after GC)', `RSS ${kib(f.memory.perConnection.rss)} (heap ${kib(f.memory.perConnection.heapUsed)}, external ${kib(f.memory.perConnection.external)})`, `< ${FANOUT_TARGET_KIB_PER_CONN} KiB (RSS)`, yes(f.meetsMemory)],
    ]),
    '',
    `- ${f.processes} client processes x ${f.perProcess} raw \`ws\` clients (hello + subscribe, repjs.v1) on loopback; the writer is a replica in the benchmark process, direct to etcd, deciding ${f.warmSlots} warm-up slots on a ${f.everyMs} ms schedule, then (once every client has them, and 300 ms later) ${f.slots} timed slots on the same schedule, then ${f.slow.slots} more one per ${f.slowEveryMs} ms; times are CLOCK_MONOTONIC, the same clock in every process.` +
      ` Decide = the writer's propose returning (its own decide: p50 ${us(f.writerDecideP50Us)}, p99 ${us(f.writerDecideP99Us)}). First client: p50 ${ms(f.firstClient.p50Ms)}; every delivery: p50 ${ms(f.everyDelivery.p50Ms)}, p99 ${ms(f.everyDelivery.p99Ms)}; last client max ${ms(f.lastClient.maxMs)}. Missing deliveries: ${f.missingDeliveries}.`,
    `- Connecting and subscribing the ${fmt(f.clients)} clients took ${fmt(f.connectMs)} ms (gateway CPU ${fmt(f.connectCpu.gatewayMs)} ms, etcd ${fmt(f.connectCpu.etcdMs)} ms). Gateway RSS after GC, before -> after: ${fmt(f.memory.before.rss / KiB / KiB, 1)} -> ${fmt(f.memory.after.rss / KiB / KiB, 1)} MiB.`,
    `- CPU while fanning out one slot per ${f.everyMs} ms (${fmt(c.wallMs)} ms, ${f.env?.machine.cores ?? os.cpus().length} cores shared by all): gateway ${c.gatewayCorePct.toFixed(0)}% of a core (${us(c.gatewayUsPerDelivery)} per delivered slot), the ${f.processes} client processes ${c.clientsMs.map((x) => pctCore(x, c.wallMs)).join(' + ')} = ${c.clientsCorePct.toFixed(0)}% of a core (${us(c.clientUsPerDelivery)} per delivery), etcd ${c.etcdCorePct.toFixed(0)}%, writer ${c.writerCorePct.toFixed(0)}%. The clients compete with the gateway for the same cores, so the latencies include their scheduling.`,
    '',
  ].join('\n')
}

export function svg(f, env) {
  const n = f.lastClientPerSlotMs.length
  const every = Math.max(1, 10 ** Math.floor(Math.log10(n)) / (n >= 500 ? 1 : n >= 100 ? 5 : 2))
  return figure({
    title: `RepJS gateway fan-out: ${fmt(f.clients)} clients, one slot every ${f.everyMs} ms`,
    note: `${env.machine.cores} cores shared by the gateway, ${f.processes} client processes, etcd and the writer; ${env.date.slice(0, 10)}`,
    w: 720,
    panels: [{
      title: 'decide -> client, per timed slot',
      xLabel: 'timed slot',
      yLabel: 'ms',
      xTicks: f.lastClientPerSlotMs.map((_, i) => (i % every === 0 || i === n - 1 ? String(i) : '')),
      series: [
        { name: 'last client', points: f.lastClientPerSlotMs.map((y, x) => ({ x, y })) },
        { name: 'first client', points: f.firstClientPerSlotMs.map((y, x) => ({ x, y })) },
      ],
    }],
  })
}
