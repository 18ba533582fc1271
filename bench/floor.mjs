/**
 * Experiment "floor" (issue 7, item 3): what an agreed call costs over the bare etcd transaction it
 * needs, on one etcd in one run of the benchmark. Three parts, each measured in its own
 * interleaved rounds next to its own copy of the floor (so disk drift hits all alike):
 *   - floors and one replica (this process): the create-if-absent Txn through etcd3's gRPC client
 *     (floor A, the issue's floor) and through the lean node:http2 client the store uses (floor B);
 *     `distributed()` and `now()` on the default hot path, `distributed()` on hotPath 'etcd3';
 *   - `distributed()` through a `repjs gateway` child process vs direct (bench/gateway.mjs);
 *   - the same kind of program under `repjs run`: a plain script's Date.now() loop (bench/bridge.mjs).
 */
import { connect } from '../dist/node-gateway/index.js'
import { KvClient } from '../dist/node-gateway/store/kv-client.js'
import { bridge, bridgeMarkdown, bridgeTargets } from './bridge.mjs'
import { browserBridge } from './browser-bridge.mjs'
import { gatewayPerCall, GATEWAY_TARGET_CPU_US, GATEWAY_TARGET_RATIO, startGatewayProcess } from './gateway.mjs'
import { createIfAbsent, fsyncUs, ID, interleave, log, logKinds, PROGRAM, ratio, slotKey, us, xr, xrCpu, yes } from './lib.mjs'
import { rawCreateIfAbsent, rawH2Connect } from './raw-h2-floor.mjs'
import { table } from './report.mjs'
import { figure } from './svg.mjs'

/** distributed() may cost at most this much more than the raw etcd3 Txn per call (p50, issue 7). */
export const TARGET_RATIO = 1.1
/** Issue 14: distributed() direct at most this much more than floor C, the raw HTTP/2 exchange (p50)... */
export const RAW_TARGET_RATIO = 1.35
/** ...and at most this many µs per call (p50, fsync on)... */
export const TARGET_P50_US = 600
/** ...with at most this much Node CPU per agreed call (the replica's process, warm). */
export const TARGET_NODE_CPU_US = 150

/** Issue 14's warm verdicts on `distributed()` direct, from the stored figures (so --render works on results from before floor C). */
function verdicts(s) {
  const d = s.distributed
  return {
    meetsRaw: s.floorRaw ? d.p50Us / s.floorRaw.p50Us <= RAW_TARGET_RATIO : undefined,
    meetsP50: d.p50Us <= TARGET_P50_US,
    meetsNodeCpu: d.nodeCpuUsPerCall <= TARGET_NODE_CPU_US,
  }
}

async function singleReplica(etcd, client, cfg) {
  const endpoint = etcd.endpoint
  log(`\n[floor] floors vs distributed() vs now(), 1 replica: warm-up ${cfg.warm} each, then ${cfg.n} timed calls each in ${cfg.rounds} interleaved rounds`)
  const lean = new KvClient({ endpoints: endpoint })
  let repH, repE, raw
  try {
    raw = await rawH2Connect(endpoint)
    repH = await connect({ run: `single-http2-${ID}`, etcd: endpoint, program: PROGRAM, etcdOptions: { hotPath: 'http2' } })
    repE = await connect({ run: `single-etcd3-${ID}`, etcd: endpoint, program: PROGRAM, etcdOptions: { hotPath: 'etcd3' } })
    // Replica.engine is not public API; only a sanity check that each store took the hot path asked for.
    if (repH.engine?.store?.transport?.kind !== 'http2' || repE.engine?.store?.transport?.kind !== 'etcd3') {
      throw new Error("the stores did not take the hot paths asked for (hotPath 'http2' / 'etcd3')")
    }
    const xH = repH.distributed(() => Math.random(), { name: 'x' })
    const xE = repE.distributed(() => Math.random(), { name: 'x' })
    const out = await interleave({
      floorEtcd3: { call: createIfAbsent(client.kv, `floor-etcd3-${ID}`) },
      floorHttp2: { call: createIfAbsent(lean, `floor-http2-${ID}`) },
      floorRaw: { call: rawCreateIfAbsent(raw, `floor-raw-${ID}`, slotKey) },
      distributed: { call: () => xH() },
      now: { call: () => repH.now() },
      distributedEtcd3: { call: () => xE() },
    }, { warm: cfg.warm, n: cfg.n, rounds: cfg.rounds, etcd, cpu: { etcd: etcd.cpuMs } })
    // Floor C checks each answer's `succeeded`; etcd holds every key it wrote, too.
    const rawKeys = Number(await client.getAll().prefix(slotKey(`floor-raw-${ID}`, '').slice(0, -12)).count())
    if (rawKeys !== cfg.warm + cfg.n) throw new Error(`floor C wrote ${rawKeys} keys, expected ${cfg.warm + cfg.n}`)
    out.floorHttp2.vsEtcd3 = ratio(out.floorHttp2, out.floorEtcd3)
    out.floorRaw.vsEtcd3 = ratio(out.floorRaw, out.floorEtcd3)
    for (const name of ['distributed', 'now', 'distributedEtcd3']) out[name].vsEtcd3 = ratio(out[name], out.floorEtcd3)
    out.distributed.vsRaw = ratio(out.distributed, out.floorRaw)
    out.now.vsRaw = ratio(out.now, out.floorRaw)
    Object.assign(out.distributed, verdicts(out))
    out.distributed.vsHttp2 = ratio(out.distributed, out.floorHttp2)
    out.now.vsHttp2 = ratio(out.now, out.floorHttp2)
    out.distributed.vsDistributedEtcd3 = ratio(out.distributed, out.distributedEtcd3)
    out.distributed.meetsTarget = out.distributed.vsEtcd3.p50 <= TARGET_RATIO
    out.distributedEtcd3.meetsTarget = out.distributedEtcd3.vsEtcd3.p50 <= TARGET_RATIO
    logKinds(out)
    log(`  distributed (http2) / floor A:        ${xrCpu(out.distributed.vsEtcd3)}  target <= ${TARGET_RATIO.toFixed(2)}x p50: ${yes(out.distributed.meetsTarget)}`)
    log(`  distributed (etcd3) / floor A:        ${xrCpu(out.distributedEtcd3.vsEtcd3)}  target <= ${TARGET_RATIO.toFixed(2)}x p50: ${yes(out.distributedEtcd3.meetsTarget)}`)
    log(`  distributed (http2) / floor B:        ${xrCpu(out.distributed.vsHttp2)}  (info: against the same client's floor)`)
    log(`  floor B / floor A:                    ${xrCpu(out.floorHttp2.vsEtcd3)}`)
    log(`  floor C (raw HTTP/2) / floor A:       ${xrCpu(out.floorRaw.vsEtcd3)}`)
    log(`  distributed (http2) / floor C:        ${xrCpu(out.distributed.vsRaw)}  target <= ${RAW_TARGET_RATIO.toFixed(2)}x p50: ${yes(out.distributed.meetsRaw)}`)
    log(`  distributed (http2) p50:              ${us(out.distributed.p50Us)}  target <= ${TARGET_P50_US} µs: ${yes(out.distributed.meetsP50)}`)
    log(`  distributed (http2) Node CPU per call: ${us(out.distributed.nodeCpuUsPerCall)}  target <= ${TARGET_NODE_CPU_US} µs: ${yes(out.distributed.meetsNodeCpu)}`)
    return out
  } finally {
    await repH?.close().catch(() => {})
    await repE?.close().catch(() => {})
    lean.close()
    raw?.close()
  }
}

export async function run(ctx) {
  const { etcd, client, cfg } = ctx
  const single = await singleReplica(etcd, client, cfg.floor)
  const gw = await startGatewayProcess(etcd.endpoint)
  let gateway, browser
  try {
    gateway = await gatewayPerCall(etcd, client, gw, cfg.floor)
    browser = await browserBridge(gw, cfg.browser, ctx.timeoutMs)
    if (browser.missing) log(`\n[floor] runInWorker bridge in a browser: not measured, ${browser.missing}`)
  } finally {
    await gw.stop()
  }
  const bridged = await bridge(etcd, client, cfg.bridge, ctx.timeoutMs)
  return {
    warm: cfg.floor.warm, single, gateway, bridge: bridged, browser,
    targetRatio: TARGET_RATIO, rawTargetRatio: RAW_TARGET_RATIO, targetP50Us: TARGET_P50_US, targetNodeCpuUs: TARGET_NODE_CPU_US,
    gatewayTargetRatio: GATEWAY_TARGET_RATIO, gatewayTargetCpuUs: GATEWAY_TARGET_CPU_US,
  }
}

/** The one table of item 3: every path's per-call time and its ratio to floor A of the same rounds. */
function rows(r) {
  const s = r.single
  const g = r.gateway
  const b = r.bridge
  const p = (x) => `${us(x.p50Us)} / ${us(x.meanUs ?? x.perCallUs)}`
  const x = (v) => `${v.toFixed(3)}x`
  return [
    ['Floor A: raw etcd3 create-if-absent Txn in a plain loop', 'floors + 1 replica', p(s.floorEtcd3), '1.000x', ''],
    ['Floor B: the same Txn through the lean http2 client', 'floors + 1 replica', p(s.floorHttp2), x(s.floorHttp2.vsEtcd3.p50), 'the client the store uses by default'],
    ...(s.floorRaw ? [['Floor C: raw HTTP/2 exchange (hand-written frames and Txn bytes on a net.Socket)', 'floors + 1 replica', p(s.floorRaw), x(s.floorRaw.vsEtcd3.p50), 'the physical limit (bench/raw-h2-floor.mjs)']] : []),
    ["`distributed()` direct (hotPath 'http2', default)", 'floors + 1 replica', p(s.distributed), `**${x(s.distributed.vsEtcd3.p50)}**`, `${s.floorRaw ? `**${x(s.distributed.p50Us / s.floorRaw.p50Us)} of floor C**; ` : ''}${x(s.distributed.vsHttp2.p50)} of floor B (same client); Node CPU ${us(s.distributed.nodeCpuUsPerCall)}/call`],
    ["`distributed()` direct (hotPath 'etcd3')", 'floors + 1 replica', p(s.distributedEtcd3), x(s.distributedEtcd3.vsEtcd3.p50), ''],
    ['`now()` direct', 'floors + 1 replica', p(s.now), x(s.now.vsEtcd3.p50), ''],
    ['Floor A again', 'gateway', p(g.floorEtcd3), '1.000x', ''],
    ['`distributed()` direct', 'gateway', p(g.direct), x(g.direct.vsFloor.p50), ''],
    ['`distributed()` through a `repjs gateway` process', 'gateway', p(g.gateway), x(g.gateway.vsFloor.p50), `**${x(g.gateway.vsDirect.p50)} of direct**; gateway CPU ${us(g.gateway.gatewayCpuUsPerCall)}/call`],
    ['Floor A again', 'repjs run', p(b.floor), '1.000x', ''],
    ['`await rep.now()` loop, replica process (async API)', 'repjs run', p(b.async1), x(b.async1.p50Us / b.floor.p50Us), ''],
    ['`Date.now()` loop of a plain script under `repjs run`', 'repjs run', p(b.run1), x(b.run1.p50Us / b.floor.p50Us), `bridge adds ${b.added.oneReplicaP50Us.toFixed(0)} µs p50 over the async API`],
    ['`repjs run`, 3 replicas on one run (slowest)', 'repjs run', p(b.run3), x(b.run3.p50Us / b.floor.p50Us), `async API, 3 replicas: ${p(b.async3)}`],
  ]
}

export function targets(r) {
  const s = r.single
  const g = r.gateway
  const b = r.bridge
  const v = verdicts(s)
  const vsRaw = s.floorRaw
    ? { result: `${us(s.distributed.p50Us)} / ${us(s.floorRaw.p50Us)} = ${(s.distributed.p50Us / s.floorRaw.p50Us).toFixed(3)}x`, met: v.meetsRaw, gated: true }
    : { result: 'not measured (a result from before floor C)', met: false, gated: false }
  return [
    { what: `Warm: \`distributed()\` direct, p50 per call (fsync ${r.etcd?.fsync === false ? 'OFF' : 'on'})`, result: us(s.distributed.p50Us), target: `<= ${TARGET_P50_US} µs`, met: v.meetsP50, gated: true },
    { what: 'Warm: `distributed()` direct vs floor C, the raw HTTP/2 exchange (the physical limit, p50)', target: `<= ${RAW_TARGET_RATIO.toFixed(2)}x`, ...vsRaw },
    { what: 'Warm: Node CPU per agreed call (`distributed()` direct, the replica\'s process)', result: us(s.distributed.nodeCpuUsPerCall), target: `<= ${TARGET_NODE_CPU_US} µs`, met: v.meetsNodeCpu, gated: true },
    { what: '`distributed()` direct vs the raw etcd3 floor A (p50, issue 7)', result: `${s.distributed.vsEtcd3.p50.toFixed(3)}x`, target: `<= ${TARGET_RATIO.toFixed(2)}x`, met: s.distributed.meetsTarget, gated: true },
    { what: '`distributed()` direct vs the lean client\'s own floor B (p50, stricter)', result: `${s.distributed.vsHttp2.p50.toFixed(3)}x`, target: `(info) <= ${TARGET_RATIO.toFixed(2)}x`, met: s.distributed.vsHttp2.p50 <= TARGET_RATIO, gated: false },
    { what: '`distributed()` through a gateway vs direct (p50)', result: `${g.gateway.vsDirect.p50.toFixed(3)}x`, target: `<= ${GATEWAY_TARGET_RATIO.toFixed(2)}x`, met: g.gateway.meetsTarget, gated: true },
    { what: 'Gateway CPU per call it carries (the `repjs gateway` process)', result: us(g.gateway.gatewayCpuUsPerCall), target: `<= ${GATEWAY_TARGET_CPU_US} µs`, met: g.gateway.gatewayCpuUsPerCall <= GATEWAY_TARGET_CPU_US, gated: true },
    ...bridgeTargets(b, r.browser),
  ]
}

export function markdown(r) {
  const s = r.single
  const bm = bridgeMarkdown(r.bridge, r.browser)
  const K = [['floorEtcd3', 'floor A'], ['floorHttp2', 'floor B'], ['floorRaw', 'floor C'], ['distributed', 'distributed/http2'], ['now', 'now/http2'], ['distributedEtcd3', 'distributed/etcd3']].filter(([k]) => s[k])
  const each = (f) => K.map(([k, label]) => `${label} ${f(s[k])}`).join(', ')
  return [
    'Per call, p50 / mean. Each part ran in its own interleaved rounds with its own copy of floor A; the ratio is p50 against the floor A of the same part.',
    '',
    ...table(['Path', 'Part', 'p50 / mean', 'Ratio to floor A', 'Note'], rows(r)),
    '',
    'Details:',
    '',
    `- floors + 1 replica: ${s.floorEtcd3.n} timed calls of each kind after ${r.warm} warm-up, in interleaved rounds (order rotated), one Node process.` +
      ` p99: ${each((k) => us(k.p99Us))}. CPU per call (Node / etcd): ${each((k) => `${us(k.nodeCpuUsPerCall)} / ${us(k.etcdCpuUsPerCall)}`)}.` +
      ` Txn RPCs per call: ${each((k) => k.etcdPerCall.txn.toFixed(2))}; mean WAL fsync: ${each((k) => us(fsyncUs(k.etcdPerCall)))}.` +
      ` Node CPU: floor B ${s.floorHttp2.vsEtcd3.nodeCpu.toFixed(2)}x floor A; distributed/http2 ${s.distributed.vsDistributedEtcd3.nodeCpu.toFixed(2)}x distributed/etcd3 (latency ${xr(s.distributed.vsDistributedEtcd3)}).`,
    `- gateway: p99 floor ${us(r.gateway.floorEtcd3.p99Us)}, direct ${us(r.gateway.direct.p99Us)}, gateway ${us(r.gateway.gateway.p99Us)}; CPU per call through the gateway: ${us(r.gateway.gateway.nodeCpuUsPerCall)} in the replica + ${us(r.gateway.gateway.gatewayCpuUsPerCall)} in the gateway (direct: ${us(r.gateway.direct.nodeCpuUsPerCall)}).`,
    ...bm.details,
    '',
    '| `repjs run` bridge (issue 6) | Result | Ratio | Target | Met |',
    '|---|---|---|---|---|',
    ...bm.rows.map((row) => row.replace(/^\| 7\. /, '| ')),
    '',
  ].join('\n')
}

export function svg(r, env) {
  const s = r.single
  const g = r.gateway
  const b = r.bridge
  const bar = (label, v, floor, ref = false) => ({ label, value: v.p50Us, text: `${v.p50Us.toFixed(0)}`, note: ref ? 'floor' : `${(v.p50Us / floor.p50Us).toFixed(2)}x floor A`, ref })
  return figure({
    title: 'RepJS per-call cost against its floor (p50, µs; ratio to floor A of the same rounds)',
    note: `${env.machine.cores} cores, one etcd member, fsync ${r.etcd?.fsync === false ? 'off' : 'on'}, ${env.date.slice(0, 10)}`,
    w: 980,
    h: 400,
    panels: [{
      type: 'bars',
      title: 'one agreed call, one replica',
      yLabel: 'µs per call (p50)',
      bars: [
        bar('floor A: etcd3 Txn', s.floorEtcd3, s.floorEtcd3, true),
        bar('floor B: http2 Txn', s.floorHttp2, s.floorEtcd3),
        ...(s.floorRaw ? [bar('floor C: raw HTTP/2', s.floorRaw, s.floorEtcd3)] : []),
        bar('distributed() direct', s.distributed, s.floorEtcd3),
        bar('now() direct', s.now, s.floorEtcd3),
        bar("distributed() hotPath etcd3", s.distributedEtcd3, s.floorEtcd3),
        bar('distributed() via gateway', g.gateway, g.floorEtcd3),
        bar('Date.now() under repjs run', b.run1, b.floor),
        bar('repjs run, 3 replicas', b.run3, b.floor),
      ],
    }],
  })
}
