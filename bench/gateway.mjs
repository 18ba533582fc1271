/**
 * The benchmark's gateway parts (issue 4): a `repjs gateway` child process on the benchmark's etcd,
 * then either
 *   - per-call `distributed()` through the gateway vs direct to etcd vs the raw etcd3 floor, in
 *     interleaved rounds (part of the "floor" experiment, bench/floor.mjs); or
 *   - fan-out: N raw repjs.v1 WebSocket clients (in a few client processes) subscribed to one run
 *     while a writer decides a slot every few ms: decide -> last client, and the gateway's memory
 *     per idle connection (the "fan-out" experiment, bench/fanout.mjs).
 */
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { connect } from '../dist/node-gateway/index.js'
import { metricsDelta, processCpuMs } from './etcd.mjs'
import {
  createIfAbsent, fmt, forkTracked, ID, interleave, log, logKinds, monoUs, onLines, pctCore, PROGRAM, ratio, sleep, spawnTracked, stats,
  stopChild, us, withTimeout, xr, yes,
} from './lib.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const CLI = join(HERE, '..', 'dist', 'node-gateway', 'cli', 'main.js')
const PROBE = pathToFileURL(join(HERE, 'gateway-probe.mjs')).href
const CLIENT = join(HERE, 'fanout-client.mjs')
/** Through the gateway may cost at most this much more than direct to etcd, per call. */
export const GATEWAY_TARGET_RATIO = 1.25
/** The gateway process's CPU per call it carries (issue 14). */
export const GATEWAY_TARGET_CPU_US = 150
export const FANOUT_TARGET_P99_MS = 50
export const FANOUT_TARGET_KIB_PER_CONN = 50
const KiB = 1024

/**
 * `repjs gateway --etcd <endpoint> --port 0` as a child process (with bench/gateway-probe.mjs
 * preloaded, to read its heap after a GC). Returns { cp, pid, url, cpuMs(), probe({ gc }), stop() }.
 */
export async function startGatewayProcess(endpoint) {
  const cp = spawnTracked(process.execPath, ['--expose-gc', '--import', PROBE, CLI, 'gateway', '--etcd', endpoint, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, REPJS_LOG_LEVEL: 'warn' },
  })
  const url = await withTimeout(new Promise((resolve, reject) => {
    // Keep reading both pipes for the gateway's whole life: a full pipe would block its logger.
    onLines(cp.stdout, (line) => {
      const m = /^Gateway: (ws:\/\/\S+)/.exec(line)
      if (m) resolve(m[1])
      else if (!line.includes('no secret set')) process.stderr.write(`[gateway] ${line}\n`)
    })
    onLines(cp.stderr, (line) => process.stderr.write(`[gateway] ${line}\n`))
    cp.on('exit', (code, signal) => reject(new Error(`repjs gateway exited (code ${code}, signal ${signal}) before listening`)))
  }), 20_000, 'repjs gateway start')
  let nextId = 1
  const probe = ({ gc = false } = {}) =>
    withTimeout(new Promise((resolve) => {
      const id = nextId++
      const on = (m) => {
        if (m?.type === 'probe' && m.id === id) {
          cp.off('message', on)
          resolve(m)
        }
      }
      cp.on('message', on)
      cp.send({ type: 'probe', id, gc })
    }), 10_000, 'gateway memory probe')
  return { cp, pid: cp.pid, url, cpuMs: () => processCpuMs(cp.pid), probe, stop: () => stopChild(cp) }
}

// ---------------------------------------------------------------- 5: per call through the gateway

export async function gatewayPerCall(etcd, client, gw, cfg) {
  log(`\n[floor] distributed() through a repjs gateway (child process, pid ${gw.pid}) vs direct vs the raw etcd3 floor: warm-up ${cfg.warm} each, then ${cfg.n} timed calls each in ${cfg.rounds} interleaved rounds`)
  let direct, viaGw
  try {
    direct = await connect({ run: `gw-direct-${ID}`, etcd: etcd.endpoint, program: PROGRAM })
    viaGw = await connect({ run: `gw-through-${ID}`, gateway: gw.url, program: PROGRAM })
    const xD = direct.distributed(() => Math.random(), { name: 'x' })
    const xG = viaGw.distributed(() => Math.random(), { name: 'x' })
    const out = await interleave({
      floorEtcd3: { call: createIfAbsent(client.kv, `gw-floor-${ID}`) },
      direct: { call: () => xD() },
      gateway: { call: () => xG() },
    }, { warm: cfg.warm, n: cfg.n, rounds: cfg.rounds, etcd, cpu: { etcd: etcd.cpuMs, gateway: gw.cpuMs } })
    out.direct.vsFloor = ratio(out.direct, out.floorEtcd3)
    out.gateway.vsFloor = ratio(out.gateway, out.floorEtcd3)
    out.gateway.vsDirect = ratio(out.gateway, out.direct)
    out.gateway.targetRatio = GATEWAY_TARGET_RATIO
    out.gateway.meetsTarget = out.gateway.vsDirect.p50 <= GATEWAY_TARGET_RATIO
    out.gateway.targetCpuUs = GATEWAY_TARGET_CPU_US
    out.gateway.meetsCpu = out.gateway.gatewayCpuUsPerCall <= GATEWAY_TARGET_CPU_US
    logKinds(out, ['etcd', 'gateway'])
    log(`  direct / floor:          ${xr(out.direct.vsFloor)}`)
    log(`  through gateway / floor: ${xr(out.gateway.vsFloor)}`)
    log(`  through gateway / direct: ${xr(out.gateway.vsDirect)}  target <= ${GATEWAY_TARGET_RATIO.toFixed(2)}x p50: ${yes(out.gateway.meetsTarget)}`)
    log(`  CPU per call through the gateway: client ${us(out.gateway.nodeCpuUsPerCall)} + gateway ${us(out.gateway.gatewayCpuUsPerCall)} (direct: ${us(out.direct.nodeCpuUsPerCall)} in the replica)  target gateway <= ${GATEWAY_TARGET_CPU_US} µs: ${yes(out.gateway.meetsCpu)}`)
    return out
  } finally {
    await direct?.close().catch(() => {})
    await viaGw?.close().catch(() => {})
  }
}

// ---------------------------------------------------------------- 6: fan-out to many clients

/** Fork one fan-out client process; { pid, ready, ask(msg, replyType) } (replies matched by type and `below`). */
function startClients(gw, run, perProcess, slots, label) {
  const cp = forkTracked(CLIENT, [gw.url, run, String(perProcess), String(slots), '--label', label], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  })
  const waiters = new Map()
  const wait = (key) => new Promise((resolve, reject) => waiters.set(key, { resolve, reject }))
  const keyOf = (m) => `${m.type}:${m.below ?? ''}`
  const failAll = (err) => {
    for (const w of waiters.values()) w.reject(err)
    waiters.clear()
  }
  cp.on('message', (m) => {
    if (m.type === 'error') return failAll(new Error(`fan-out clients ${label} failed: ${m.message}`))
    const w = waiters.get(keyOf(m))
    waiters.delete(keyOf(m))
    w?.resolve(m)
  })
  cp.on('exit', (code, signal) => failAll(new Error(`fan-out clients ${label} exited (code ${code}, signal ${signal})`)))
  const p = { cp, label, pid: cp.pid, ready: wait('ready:') }
  /** Send `msg`, resolve with the reply of type `replyType` (and the same `below`). */
  p.ask = (msg, replyType) => {
    const reply = wait(keyOf({ ...msg, type: replyType }))
    cp.send(msg)
    return reply
  }
  return p
}

const memOf = (m) => ({ rss: m.mem.rss, heapUsed: m.mem.heapUsed, external: m.mem.external, arrayBuffers: m.mem.arrayBuffers })
const cpuMsOf = ({ user, system }) => (user + system) / 1000

/** Writer: `count` decided slots from `first`, one every `everyMs` on a fixed schedule (a late call does not make the next one early). */
async function decide(tick, at, first, count, everyMs) {
  const t0 = monoUs() / 1000
  for (let i = 0; i < count; i++) {
    const wait = t0 + i * everyMs - monoUs() / 1000
    if (wait > 0) await sleep(wait)
    at.proposed[first + i] = monoUs()
    await tick()
    at.decided[first + i] = monoUs()
  }
}

/**
 * Latencies of slots [from, to): per slot the last and first client to receive it, from the
 * writer's decide (its propose returning) and from its propose start; and every single delivery.
 */
function deliveries(reports, per, at, from, to) {
  const last = []
  const first = []
  const lastFromPropose = []
  const each = []
  let missing = 0
  for (let s = from; s < to; s++) {
    let hi = -Infinity
    let lo = Infinity
    for (const r of reports) {
      for (let c = 0; c < per; c++) {
        const t = r.recv[s * per + c]
        if (Number.isNaN(t)) {
          missing++
          continue
        }
        if (t > hi) hi = t
        if (t < lo) lo = t
        each.push((t - at.decided[s]) / 1000)
      }
    }
    last.push((hi - at.decided[s]) / 1000)
    first.push((lo - at.decided[s]) / 1000)
    lastFromPropose.push((hi - at.proposed[s]) / 1000)
  }
  const st = (a) => {
    const x = stats(Float64Array.from(a))
    return { p50Ms: x.p50Us, p99Ms: x.p99Us, meanMs: x.meanUs, maxMs: a.reduce((m, v) => (v > m ? v : m), -Infinity) }
  }
  const decide = stats(Float64Array.from({ length: to - from }, (_, i) => at.decided[from + i] - at.proposed[from + i]))
  const round = (a) => a.map((x) => Math.round(x * 10) / 10)
  return {
    slots: to - from,
    writerDecideP50Us: decide.p50Us,
    writerDecideP99Us: decide.p99Us,
    lastClient: st(last),
    firstClient: st(first),
    lastClientFromProposeStart: st(lastFromPropose),
    everyDelivery: st(each),
    missingDeliveries: missing,
    /** decide -> last / first client of each slot, in order: a backlog building up shows as a rising line. */
    lastClientPerSlotMs: round(last),
    firstClientPerSlotMs: round(first),
  }
}

export async function fanOut(etcd, gw, cfg, runSuffix = '') {
  const { clients: N, processes: P, warmSlots: W, slots: S, everyMs, slowSlots: S2, slowEveryMs } = cfg.fanout
  const per = Math.ceil(N / P)
  const clients = per * P
  const total = W + S + S2
  const run = `fanout-${ID}${runSuffix}`
  log(`\n[fan-out] ${clients} raw repjs.v1 clients (${P} processes x ${per}) subscribed to run ${run} on one gateway; a writer (direct to etcd) decides ${W} warm-up + ${S} timed slots one every ${everyMs} ms, then ${S2} one every ${slowEveryMs} ms`)
  const procs = []
  let writer
  try {
    writer = await connect({ run, etcd: etcd.endpoint, program: PROGRAM })
    const tick = writer.distributed(() => 0, { name: 'tick' })
    await sleep(300)
    const before = await gw.probe({ gc: true })
    const cpuBefore = { gateway: gw.cpuMs(), etcd: etcd.cpuMs() }
    const tc = monoUs()
    for (let i = 0; i < P; i++) procs.push(startClients(gw, run, per, total, `c${i}`))
    const ready = await withTimeout(Promise.all(procs.map((p) => p.ready)), 120_000, `connecting ${clients} clients`)
    const connectMs = (monoUs() - tc) / 1000
    const connectCpu = { gatewayMs: gw.cpuMs() - cpuBefore.gateway, etcdMs: etcd.cpuMs() - cpuBefore.etcd }
    await sleep(500)
    const after = await gw.probe({ gc: true })
    const memBefore = memOf(before)
    const memAfter = memOf(after)
    const perConn = Object.fromEntries(Object.keys(memAfter).map((k) => [k, (memAfter[k] - memBefore[k]) / clients]))
    log(`  ${clients} clients connected, subscribed and caught up in ${fmt(connectMs)} ms (slowest process ${fmt(Math.max(...ready.map((r) => r.connectMs)))} ms); gateway CPU ${fmt(connectCpu.gatewayMs)} ms, etcd ${fmt(connectCpu.etcdMs)} ms for that`)
    log(`  gateway memory after GC, before -> after connecting: RSS ${fmt(memBefore.rss / KiB / KiB, 1)} -> ${fmt(memAfter.rss / KiB / KiB, 1)} MiB, heap used ${fmt(memBefore.heapUsed / KiB / KiB, 1)} -> ${fmt(memAfter.heapUsed / KiB / KiB, 1)} MiB, external ${fmt(memBefore.external / KiB / KiB, 1)} -> ${fmt(memAfter.external / KiB / KiB, 1)} MiB`)

    // Warm-up slots at the target pace, until every client has them (a cold JIT's backlog drains), then a pause.
    const at = { proposed: new Float64Array(total), decided: new Float64Array(total) }
    const have = (below) => withTimeout(Promise.all(procs.map((p) => p.ask({ type: 'await', below }, 'have'))), 60_000, `every client receiving slots below ${below}`)
    await decide(tick, at, 0, W, everyMs)
    await have(W)
    await sleep(300)
    // Phase 1 (the target): timed slots every `everyMs`; CPU from the first decide until every client has them all.
    const m0 = await etcd.metrics()
    const cpu0 = { gateway: gw.cpuMs(), etcd: etcd.cpuMs(), writer: process.cpuUsage(), clients: procs.map((p) => processCpuMs(p.pid)) }
    const t0 = monoUs()
    await decide(tick, at, W, S, everyMs)
    const writerMs = (monoUs() - t0) / 1000
    await have(W + S)
    const wallMs = (monoUs() - t0) / 1000
    const cpu = {
      gatewayMs: gw.cpuMs() - cpu0.gateway,
      etcdMs: etcd.cpuMs() - cpu0.etcd,
      writerMs: cpuMsOf(process.cpuUsage(cpu0.writer)),
      clientsMs: procs.map((p, i) => processCpuMs(p.pid) - cpu0.clients[i]),
    }
    const etcdPerSlot = metricsDelta(m0, await etcd.metrics(), S)
    // Phase 2 (info): the same clients at a slower pace.
    await sleep(300)
    await decide(tick, at, W + S, S2, slowEveryMs)
    await have(total)
    const reports = await withTimeout(Promise.all(procs.map((p) => p.ask({ type: 'report' }, 'report'))), 30_000, 'client reports')

    const fast = deliveries(reports, per, at, W, W + S)
    const slow = deliveries(reports, per, at, W + S, total)
    const clientCpuMs = cpu.clientsMs.reduce((a, b) => a + b, 0)
    const out = {
      clients,
      processes: P,
      perProcess: per,
      warmSlots: W,
      slots: S,
      everyMs,
      slowSlots: S2,
      slowEveryMs,
      connectMs,
      connectCpu,
      memory: { before: memBefore, after: memAfter, perConnection: perConn },
      writerMs,
      ...fast,
      slow,
      clientsClosedEarly: reports.reduce((a, r) => a + r.closedEarly, 0),
      cpu: {
        wallMs,
        ...cpu,
        clientCpuMs,
        gatewayCorePct: (cpu.gatewayMs / wallMs) * 100,
        clientsCorePct: (clientCpuMs / wallMs) * 100,
        etcdCorePct: (cpu.etcdMs / wallMs) * 100,
        writerCorePct: (cpu.writerMs / wallMs) * 100,
        gatewayUsPerDelivery: (cpu.gatewayMs * 1000) / (S * clients),
        clientUsPerDelivery: (clientCpuMs * 1000) / (S * clients),
      },
      etcdPerSlot,
    }
    out.meetsP99 = out.lastClient.p99Ms < FANOUT_TARGET_P99_MS && out.missingDeliveries === 0
    out.meetsMemory = perConn.rss / KiB < FANOUT_TARGET_KIB_PER_CONN
    const ms = (x) => `${x.toFixed(1)} ms`
    const lag = (f) => `first timed slot ${ms(f.lastClientPerSlotMs[0])}, last ${ms(f.lastClientPerSlotMs[f.lastClientPerSlotMs.length - 1])}`
    log(`  every ${everyMs} ms: writer ${S} timed slots in ${fmt(writerMs)} ms, its own decide p50 ${us(fast.writerDecideP50Us)}, p99 ${us(fast.writerDecideP99Us)}`)
    log(`  decide -> LAST client: p50 ${ms(fast.lastClient.p50Ms)}, p99 ${ms(fast.lastClient.p99Ms)}, max ${ms(fast.lastClient.maxMs)} (${lag(fast)})  target p99 < ${FANOUT_TARGET_P99_MS} ms: ${yes(out.meetsP99)}`)
    log(`  decide -> first client: p50 ${ms(fast.firstClient.p50Ms)}; every delivery: p50 ${ms(fast.everyDelivery.p50Ms)}, p99 ${ms(fast.everyDelivery.p99Ms)}; propose start -> last client p50 ${ms(fast.lastClientFromProposeStart.p50Ms)}, p99 ${ms(fast.lastClientFromProposeStart.p99Ms)}; missing deliveries ${fast.missingDeliveries}`)
    log(`  every ${slowEveryMs} ms (info): decide -> LAST client p50 ${ms(slow.lastClient.p50Ms)}, p99 ${ms(slow.lastClient.p99Ms)}; first client p50 ${ms(slow.firstClient.p50Ms)}; missing ${slow.missingDeliveries}`)
    log(`  memory per idle connection (delta / ${clients}): RSS ${fmt(perConn.rss / KiB, 1)} KiB, heap ${fmt(perConn.heapUsed / KiB, 1)} KiB, external ${fmt(perConn.external / KiB, 1)} KiB  target < ${FANOUT_TARGET_KIB_PER_CONN} KiB (RSS): ${yes(out.meetsMemory)}`)
    log(`  CPU while fanning out every ${everyMs} ms (${fmt(wallMs)} ms): gateway ${pctCore(cpu.gatewayMs, wallMs)} of a core (${us(out.cpu.gatewayUsPerDelivery)}/delivery), ${P} client processes ${cpu.clientsMs.map((c) => pctCore(c, wallMs)).join(' + ')} (${us(out.cpu.clientUsPerDelivery)}/delivery), etcd ${pctCore(cpu.etcdMs, wallMs)}, writer ${pctCore(cpu.writerMs, wallMs)}; on ${os.cpus().length} cores the clients compete with the gateway for CPU`)
    return out
  } finally {
    for (const p of procs) {
      try {
        p.cp.send({ type: 'close' })
      } catch {
        /* gone */
      }
    }
    await Promise.all(procs.map((p) => stopChild(p.cp, 2000)))
    await writer?.close().catch(() => {})
  }
}
