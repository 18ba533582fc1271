/**
 * The `repjs run` part of the benchmark's floor experiment (issue 6): the `repjs run` synchronous bridge. A plain script
 * (bench/date-loop.mjs) times a loop of Date.now() calls under `repjs run` with 1 and 3 replicas,
 * against the same loop through the async API (`await rep.now()`, bench/replica.mjs) and the raw
 * etcd3 floor; then both replay an already-decided log, where no etcd round trip hides the bridge.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { metricsDelta } from './etcd.mjs'
import {
  createIfAbsent, fmt, ID, log, monoUs, onLines, spawnTracked, startWorker, stats, stopChild, us, withTimeout, yes,
} from './lib.mjs'
import { BROWSER_BRIDGE_TARGET_US } from './browser-bridge.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const CLI = join(HERE, '..', 'dist', 'node-gateway', 'cli', 'main.js')
const SCRIPT = join(HERE, 'date-loop.mjs')
/** Added per call by the bridge in Node (issue 6); the browser worker's is bench/browser-bridge.mjs's. */
export const BRIDGE_TARGET_US = 60
/** Replaying a decided log under `repjs run` at most this many times the async API's replay (issue 14). */
export const REPLAY_TARGET_RATIO = 2

/**
 * Messages of one child by type, in arrival order, whether they arrive before or after they are
 * asked for; `next(type)` rejects if the child ends first.
 */
function inbox(w) {
  const queued = {}
  const waiting = {}
  w.put = (m) => {
    const r = waiting[m.type]?.shift()
    if (r) r(m)
    else (queued[m.type] ??= []).push(m)
  }
  w.next = (type) =>
    Promise.race([
      queued[type]?.length ? queued[type].shift() : new Promise((r) => (waiting[type] ??= []).push(r)),
      w.done.then(() => {
        throw new Error(`${w.label} ended before sending '${type}'`)
      }),
    ])
  return w
}

/** bench/replica.mjs (`await rep.now()`), its N calls in `blocks` blocks, each started by a 'go' message. */
function startAsync(label, run, endpoint, n, warm, blocks) {
  const extra = blocks ? ['--warmup', String(warm), '--wait-go', '--blocks', String(blocks)] : []
  const w = inbox(startWorker(label, run, n, endpoint, extra))
  w.on('ready', w.put)
  w.on('block', w.put)
  w.go = () => w.cp.send({ type: 'go' })
  return w
}

/** `repjs run --run <run> --etcd <endpoint> bench/date-loop.mjs n warm goPrefix blocks`; each block starts once goPrefix + block exists. */
function startRepjsRun(label, run, endpoint, n, warm, goPrefix = '', blocks = 1) {
  const cp = spawnTracked(process.execPath, [CLI, 'run', '--run', run, '--etcd', endpoint, SCRIPT, String(n), String(warm), goPrefix, String(blocks)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const w = { cp, label }
  w.done = new Promise((resolve, reject) => {
    let result
    onLines(cp.stdout, (line) => {
      let m
      try {
        m = JSON.parse(line)
      } catch {
        return process.stderr.write(`[repjs run ${label}] ${line}\n`)
      }
      if (m.type === 'done') result = { label, ...m }
      else w.put(m)
    })
    cp.on('error', reject)
    cp.on('exit', (code, signal) => {
      if (code === 0 && result) resolve(result)
      else reject(new Error(`repjs run ${label} exited (code ${code}, signal ${signal})${result ? '' : ' without a result'}`))
    })
  })
  w.done.catch(() => {})
  inbox(w)
  w.go = (block) => writeFileSync(goPrefix + block, '')
  return w
}

/** The slowest replica's figures (mean per call from its summed block times) and each replica's. */
function summary(res) {
  const slowest = res.reduce((a, b) => (a.elapsedMs >= b.elapsedMs ? a : b))
  return {
    replicas: res.map((r) => ({ label: r.label, elapsedMs: r.elapsedMs, perCallUs: (r.elapsedMs * 1000) / r.n, p50Us: r.p50Us, p99Us: r.p99Us, cpuUsPerCall: r.cpuUsPerCall })),
    n: slowest.n,
    perCallUs: (slowest.elapsedMs * 1000) / slowest.n,
    p50Us: slowest.p50Us,
    p99Us: slowest.p99Us,
    cpuUsPerCall: slowest.cpuUsPerCall,
  }
}

/**
 * The bridge's mechanism alone, without RepJS: a worker thread posts 'call' and blocks in
 * Atomics.wait; this thread answers from its message handler with Atomics.notify. µs per round trip.
 */
export async function bareRoundTrip(n) {
  const ctl = new Int32Array(new SharedArrayBuffer(8))
  const w = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const ctl = workerData.ctl
    parentPort.on('message', (n) => {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < n; i++) {
        Atomics.store(ctl, 0, 1)
        parentPort.postMessage('call')
        Atomics.wait(ctl, 0, 1)
      }
      parentPort.postMessage(Number(process.hrtime.bigint() - t0) / 1e3 / n)
    })`, { eval: true, workerData: { ctl } })
  try {
    let done
    w.on('message', (m) => {
      if (m !== 'call') return done(m)
      Atomics.store(ctl, 0, 2)
      Atomics.notify(ctl, 0)
    })
    const loop = (count) => new Promise((r) => ((done = r), w.postMessage(count)))
    await loop(Math.min(n, 2000))
    return await loop(n)
  } finally {
    await w.terminate()
  }
}

export async function bridge(etcd, client, { n: N, warm: W, blocks: B }, timeout) {
  const endpoint = etcd.endpoint
  log(`\n[floor] repjs run sync bridge: a plain script's loop of ${fmt(N)} Date.now() calls under \`repjs run\` (1 and 3 replicas) vs ${fmt(N)} \`await rep.now()\` (async API, same process layout) vs the raw etcd3 floor; ${W} warm-up calls each, then ${B} interleaved blocks`)
  const dir = mkdtempSync(join(os.tmpdir(), 'repjs-bench-'))
  const procs = []
  try {
    const floorCall = createIfAbsent(client.kv, `bridge-floor-${ID}`)
    const floorLat = new Float64Array(N)
    let fi = 0
    const kinds = {
      async1: { start: (l, run) => startAsync(l, run, endpoint, N, W, B), replicas: 1 },
      run1: { start: (l, run) => startRepjsRun(l, run, endpoint, N, W, join(dir, `${l}-go-`), B), replicas: 1 },
      run3: { start: (l, run) => startRepjsRun(l, run, endpoint, N, W, join(dir, `${l}-go-`), B), replicas: 3 },
      async3: { start: (l, run) => startAsync(l, run, endpoint, N, W, B), replicas: 3 },
      floor: {
        warm: async () => {
          for (let i = 0; i < W; i++) await floorCall()
        },
        block: async (b) => {
          for (const end = Math.round((N * (b + 1)) / B); fi < end; fi++) {
            const t = process.hrtime.bigint()
            await floorCall()
            floorLat[fi] = Number(process.hrtime.bigint() - t) / 1e3
          }
        },
      },
    }
    // Warm-ups one kind after another (replicas of a kind together), so they do not contend.
    for (const [name, k] of Object.entries(kinds)) {
      const t0 = monoUs()
      if (k.warm) await k.warm()
      else {
        const run = `${name}-${ID}`
        k.run = run
        k.procs = Array.from({ length: k.replicas }, (_, i) => k.start(k.replicas > 1 ? `${name}-r${i + 1}` : name, run))
        procs.push(...k.procs)
        await withTimeout(Promise.all(k.procs.map((p) => p.next('ready'))), timeout, `${name} start and warm-up`)
        // The block loop below waits for each block's 'ready': give back block 0's, taken here.
        for (const p of k.procs) p.put({ type: 'ready', block: 0 })
      }
      log(`  warm-up ${name.padEnd(7)} ${k.procs ? `${k.procs.length} process(es), start + ` : ''}${W} calls in ${fmt((monoUs() - t0) / 1000)} ms`)
    }
    // Blocks, order rotated each round, so drift in disk and machine load hits every kind alike.
    const names = Object.keys(kinds)
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < names.length; j++) {
        const name = names[(b + j) % names.length]
        const k = kinds[name]
        if (!k.block) await withTimeout(Promise.all(k.procs.map((p) => p.next('ready'))), timeout, `${name} ready for block ${b}`)
        const m0 = await etcd.metrics()
        const e0 = etcd.cpuMs()
        if (k.block) await k.block(b)
        else {
          for (const p of k.procs) p.go(b)
          await withTimeout(Promise.all(k.procs.map((p) => p.next('block'))), timeout, `${name} block ${b}`)
        }
        k.etcdCpuMs = (k.etcdCpuMs ?? 0) + (etcd.cpuMs() - e0)
        for (const [mk, v] of Object.entries(metricsDelta(m0, await etcd.metrics()))) (k.m ??= {})[mk] = (k.m[mk] ?? 0) + v
      }
    }
    /** etcd's side of each kind, per call: Txn and Range RPCs, CPU. */
    const etcdPerCall = (k) => ({ txn: k.m.txn / N, range: k.m.range / N, cpuUs: (k.etcdCpuMs * 1000) / N })
    const out = { n: N, warm: W, blocks: B }
    const show = (what, r) =>
      log(`  ${what.padEnd(34)} ${us(r.perCallUs)}/call (p50 ${us(r.p50Us)}, p99 ${us(r.p99Us)}), process CPU ${us(r.cpuUsPerCall)}/call${r.replicas.length > 1 ? `; replicas ${r.replicas.map((x) => `${us(x.perCallUs)} (CPU ${us(x.cpuUsPerCall)})`).join(', ')}` : ''}`)
    const label = { async1: 'async API, 1 replica', run1: 'repjs run, 1 replica', run3: 'repjs run, 3 replicas (slowest)', async3: 'async API, 3 replicas (slowest)' }
    for (const [name, k] of Object.entries(kinds)) {
      if (!k.procs) continue
      out[name] = { ...summary(await withTimeout(Promise.all(k.procs.map((p) => p.done)), timeout, `${name} results`)), run: k.run, etcd: etcdPerCall(k) }
      show(label[name], out[name])
    }
    const f = stats(floorLat)
    out.floor = { ...f, perCallUs: f.meanUs, etcd: etcdPerCall(kinds.floor) }
    log(`  ${'raw etcd3 floor (Txn)'.padEnd(34)} ${us(f.meanUs)}/call (p50 ${us(f.p50Us)}, p99 ${us(f.p99Us)})`)
    const kindNames = ['floor', 'async1', 'run1', 'async3', 'run3']
    log(`  etcd per call (Txn RPCs / Range RPCs / CPU): ${kindNames.map((n) => `${n} ${out[n].etcd.txn.toFixed(2)} / ${out[n].etcd.range.toFixed(2)} / ${us(out[n].etcd.cpuUs)}`).join(', ')}`)

    // Replay: a new replica of each 1-replica run re-executes the same calls against the decided log.
    const replay = async (w) => {
      procs.push(w)
      return summary([await withTimeout(w.done, timeout, `${w.label}`)])
    }
    out.asyncReplay = await replay(startAsync('async-replay', out.async1.run, endpoint, N))
    show('async API, replaying that log', out.asyncReplay)
    out.runReplay = await replay(startRepjsRun('run-replay', out.run1.run, endpoint, N, W))
    show('repjs run, replaying that log', out.runReplay)

    out.bareRoundTripUs = await bareRoundTrip(N)
    log(`  ${'bare worker round trip (no RepJS)'.padEnd(34)} ${out.bareRoundTripUs.toFixed(1)} µs (postMessage + Atomics.wait / notify, answered synchronously)`)

    out.added = {
      oneReplicaUs: out.run1.perCallUs - out.async1.perCallUs,
      threeReplicasUs: out.run3.perCallUs - out.async3.perCallUs,
      replayUs: out.runReplay.perCallUs - out.asyncReplay.perCallUs,
      oneReplicaP50Us: out.run1.p50Us - out.async1.p50Us,
      threeReplicasP50Us: out.run3.p50Us - out.async3.p50Us,
      replayP50Us: out.runReplay.p50Us - out.asyncReplay.p50Us,
      oneReplicaCpuUs: out.run1.cpuUsPerCall - out.async1.cpuUsPerCall,
      replayCpuUs: out.runReplay.cpuUsPerCall - out.asyncReplay.cpuUsPerCall,
    }
    out.vsFloor = { run1: out.run1.perCallUs / f.meanUs, async1: out.async1.perCallUs / f.meanUs, run3: out.run3.perCallUs / f.meanUs, async3: out.async3.perCallUs / f.meanUs }
    out.targetUs = BRIDGE_TARGET_US
    // On p50, like the other per-call targets (sections 2 and 5): one hiccup of a busy machine moves a mean by more than the target.
    out.meetsTarget = out.added.oneReplicaP50Us < BRIDGE_TARGET_US
    Object.assign(out, replayVerdict(out))
    const a = out.added
    log(`  bridge adds per call (repjs run - async API), mean: 1 replica ${a.oneReplicaUs.toFixed(1)} µs, 3 replicas ${a.threeReplicasUs.toFixed(1)} µs, replay ${a.replayUs.toFixed(1)} µs; p50: ${a.oneReplicaP50Us.toFixed(1)}, ${a.threeReplicasP50Us.toFixed(1)}, ${a.replayP50Us.toFixed(1)} µs; process CPU +${a.oneReplicaCpuUs.toFixed(1)} µs (1 replica), +${a.replayCpuUs.toFixed(1)} µs (replay)`)
    log(`  target < ${BRIDGE_TARGET_US} µs added per call in Node (1 replica, p50): ${yes(out.meetsTarget)}`)
    log(`  replay under repjs run / async API's replay (mean per call): ${out.replayRatio.toFixed(2)}x  target <= ${REPLAY_TARGET_RATIO}x: ${yes(out.meetsReplay)}`)
    log(`  per call vs the floor: repjs run ${out.vsFloor.run1.toFixed(2)}x, async ${out.vsFloor.async1.toFixed(2)}x (1 replica); ${out.vsFloor.run3.toFixed(2)}x, ${out.vsFloor.async3.toFixed(2)}x (3 replicas)`)
    return out
  } finally {
    await Promise.all(procs.map((p) => stopChild(p.cp, 2000)))
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Replay under `repjs run` against the async API's replay (mean per call), from the stored figures (so --render works on older results too). */
const replayVerdict = (b) => {
  const replayRatio = b.runReplay.perCallUs / b.asyncReplay.perCallUs
  return { replayRatio, replayTargetRatio: REPLAY_TARGET_RATIO, meetsReplay: replayRatio <= REPLAY_TARGET_RATIO }
}

/** The summary's rows of the bridge: Node (p50 added), replay (ratio), browser worker (added on replay; not gated without Chromium). */
export function bridgeTargets(bridged, browser) {
  const b = { ...bridged, ...replayVerdict(bridged) }
  const rows = [
    { what: '`repjs run` bridge: added per call over the async API (Node, p50, 1 replica)', result: `${b.added.oneReplicaP50Us.toFixed(0)} µs`, target: `< ${b.targetUs} µs`, met: b.meetsTarget, gated: true },
    { what: 'Replay under `repjs run` vs the async API\'s replay of the same kind of log (mean per call)', result: `${us(b.runReplay.perCallUs)} / ${us(b.asyncReplay.perCallUs)} = ${b.replayRatio.toFixed(2)}x`, target: `<= ${b.replayTargetRatio}x`, met: b.meetsReplay, gated: true },
  ]
  if (!browser || browser.missing) {
    rows.push({ what: 'runInWorker bridge in a browser worker (Chromium): added per call', result: `not measured: ${browser?.missing ?? 'not run'}`, target: `< ${BROWSER_BRIDGE_TARGET_US} µs`, met: false, gated: false })
  } else {
    rows.push({ what: 'runInWorker bridge in a browser worker (Chromium): added per call over the page\'s async API, on replay (live, info: see floor.md)', result: `${browser.addedReplayUs.toFixed(1)} µs (live ${browser.addedLiveUs.toFixed(1)} µs)`, target: `< ${browser.targetUs} µs`, met: browser.meetsTarget, gated: true })
  }
  return rows
}

/** Table rows and detail lines for the `repjs run` part of the floor experiment (bench/floor.mjs), and the browser worker's. */
export function bridgeMarkdown(bridged, browser) {
  const b = { ...bridged, ...replayVerdict(bridged) }
  const a = b.added
  const add = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} µs`
  const call = (r) => `${us(r.perCallUs)}/call (p50 ${us(r.p50Us)})`
  const rows = [
    `| 7. \`repjs run\`, plain script, ${fmt(b.n)} \`Date.now()\`, 1 replica | ${call(b.run1)} | **p50 ${add(a.oneReplicaP50Us)}/call vs async API** (mean ${add(a.oneReplicaUs)}; async ${call(b.async1)}); ${b.vsFloor.run1.toFixed(2)}x floor A on means (${us(b.floor.meanUs)}/call) | < ${b.targetUs} µs added (Node, p50) | ${yes(b.meetsTarget)} |`,
    `| 7. \`repjs run\`, 3 replicas on one run (slowest) | ${call(b.run3)} | p50 ${add(a.threeReplicasP50Us)}/call (mean ${add(a.threeReplicasUs)}) vs async API, 3 replicas (${call(b.async3)}) | (info) | - |`,
    `| 7. \`repjs run\` replaying that 1-replica log (no etcd round trip) | ${call(b.runReplay)} | p50 ${add(a.replayP50Us)}/call (mean ${add(a.replayUs)}) vs async API replaying its log (${call(b.asyncReplay)}): **${b.replayRatio.toFixed(2)}x** on means | <= ${b.replayTargetRatio}x the async API's replay | ${yes(b.meetsReplay)} |`,
    `| 7. The bridge's mechanism alone: worker postMessage + Atomics.wait, answered at once (no RepJS) | ${b.bareRoundTripUs.toFixed(1)} µs per round trip | - | (info) | - |`,
    browser && !browser.missing
      ? `| 7. Browser worker (\`runInWorker\` in Chromium): ${fmt(browser.n)} \`Date.now()\` in the worker vs the page's awaited \`rep.now()\` | replay: worker ${browser.replay.workerUs.toFixed(1)} µs/call, page ${browser.replay.pageUs.toFixed(1)} µs/call | **replay: ${add(browser.addedReplayUs)}/call**; live (median of ${browser.rounds}): worker ${browser.live.workerUs.toFixed(1)}, page ${browser.live.pageUs.toFixed(1)} µs/call, ${add(browser.addedLiveUs)}; mechanism alone ${browser.bareRoundTripUs.toFixed(1)} µs | < ${browser.targetUs} µs added (on replay) | ${yes(browser.meetsTarget)} |`
      : `| 7. Browser worker (\`runInWorker\`) | not measured: ${browser?.missing ?? 'not run'} | - | < ${BROWSER_BRIDGE_TARGET_US} µs added | - |`,
  ]
  const details = [
    `- repjs run: bench/date-loop.mjs (no RepJS in it) times its loop with process.hrtime after ${b.warm} warm-up calls; the async API is bench/replica.mjs (\`await rep.now()\`), one process per replica, as under \`repjs run\`. After the warm-ups, the ${fmt(b.n)} calls of each kind run in ${b.blocks} blocks interleaved with the other kinds' (order rotated each round; the replicas of a kind start each block together), then the replays. Per call: mean (total time / calls) and p50 of the slowest replica; the bridge's cost is repjs run minus the async API, judged on p50 like the other per-call targets.` +
      ` Process CPU per call: async ${us(b.async1.cpuUsPerCall)}, repjs run ${us(b.run1.cpuUsPerCall)} (1 replica); replay: async ${us(b.asyncReplay.cpuUsPerCall)}, repjs run ${us(b.runReplay.cpuUsPerCall)}.` +
      ` p99: async ${us(b.async1.p99Us)}, run ${us(b.run1.p99Us)}, run 3 ${us(b.run3.p99Us)}, async 3 ${us(b.async3.p99Us)}, floor ${us(b.floor.p99Us)}.` +
      ` 3 replicas, process CPU per call of each: repjs run ${b.run3.replicas.map((r) => us(r.cpuUsPerCall)).join(', ')}; async ${b.async3.replicas.map((r) => us(r.cpuUsPerCall)).join(', ')}.` +
      ` etcd per call (Txn RPCs / Range RPCs / CPU): ${['floor', 'async1', 'run1', 'async3', 'run3'].map((n) => `${n} ${b[n].etcd.txn.toFixed(2)} / ${b[n].etcd.range.toFixed(2)} / ${us(b[n].etcd.cpuUs)}`).join(', ')}.`,
  ]
  return { rows, details }
}
