/**
 * Experiment "catch-up" (issue 7, item 4): (a) a replica started after `slots` decided slots
 * replays them (a fresh process: cold JIT and connect included; then warm, in this process);
 * (b) a late replica started half-way through a leader's tight loop of `chase` calls: when it
 * reaches the head and when it finishes against the leader.
 */
import { connect, createCborFormat, createCodec } from '../dist/node-gateway/index.js'
import { decodeRecord, encodeRecord } from '../dist/core/record.js'
import { fmt, ID, log, metaKey, msSince, now, PROGRAM, signed, slotKey, startWorker, withTimeout, yes } from './lib.mjs'
import { table } from './report.mjs'
import { figure } from './svg.mjs'

export const TARGET_SLOTS_PER_SEC = 100_000
/** The Python prototype's recorded replay rate (calls/s), and its late replica never caught up. */
const PROTOTYPE_REPLAY = [600, 1060]


/** Fill `run` with `slots` copies of one record, each re-encoded for its slot (records name their place). */
async function fillRun(client, run, slots, record, meta) {
  const codec = createCodec(createCborFormat())
  await client.put(metaKey(run)).value(meta)
  const BATCH = 128 // etcd's default --max-txn-ops
  const INFLIGHT = 16
  let next = 0
  const filler = async () => {
    for (;;) {
      const start = next
      if (start >= slots) return
      next = Math.min(slots, start + BATCH)
      const success = []
      for (let s = start; s < next; s++) success.push({ request_put: { key: Buffer.from(slotKey(run, s)), value: encodeRecord(codec, { run, stream: 'main', slot: s }, record) } })
      await client.kv.txn({ compare: [], success, failure: [] })
    }
  }
  await Promise.all(Array.from({ length: INFLIGHT }, filler))
}

async function replayInProcess(endpoint, run, slots, expected, callSites) {
  const t0 = now()
  const rep = await connect({ run, etcd: endpoint, program: PROGRAM, callSites })
  try {
    const connectMs = msSince(t0)
    const t1 = now()
    let v
    for (let i = 0; i < slots; i++) {
      v = await rep.now()
      if (v !== expected) throw new Error(`replayed now() at slot ${i} returned ${v}, expected the recorded ${expected}`)
    }
    const callsMs = msSince(t1)
    const totalMs = msSince(t0)
    const head = rep.status.head
    if (head !== slots - 1) throw new Error(`replica head ${head} after replay, expected ${slots - 1} (it proposed new slots?)`)
    return { slots, connectMs, callsMs, totalMs, slotsPerSec: slots / (totalMs / 1000), callSlotsPerSec: slots / (callsMs / 1000) }
  } finally {
    await rep.close()
  }
}

async function catchUp(endpoint, client, cfg, timeoutMs) {
  const S = cfg.slots
  log(`\n[catch-up] replay: replaying ${fmt(S)} decided slots`)
  // Capture one valid now() record and the run's meta record, then copy them.
  const capRun = `capture-${ID}`
  const cap = await connect({ run: capRun, etcd: endpoint, program: PROGRAM })
  const captured = await cap.now()
  await cap.close()
  const bytes = await client.get(slotKey(capRun, 0)).buffer()
  const meta = await client.get(metaKey(capRun)).buffer()
  if (!bytes || !meta) throw new Error('could not read back the captured record/meta')
  const record = decodeRecord(createCodec(createCborFormat()), bytes, { run: capRun, stream: 'main', slot: 0 })
  const run = `catchup-${ID}`
  const tf = now()
  await fillRun(client, run, S, record, meta)
  const fillMs = msSince(tf)
  log(`  filled ${fmt(S)} slots (record ${bytes.length} B, copied from one real now() call) in ${fmt(fillMs)} ms (${fmt(S / (fillMs / 1000))} puts/s, txns of 128 puts, 16 in flight)`)

  // Fresh replica in a new process (cold JIT, own connection): the headline number.
  const w = startWorker('fresh', run, S, endpoint)
  const fr = await withTimeout(w.done, timeoutMs, 'fresh-process replay')
  const spawnToDoneMs = Number(fr.parentDone - w.spawnedAt) / 1e6
  const fresh = {
    slots: S,
    connectMs: fr.connectMs,
    callsMs: fr.elapsedMs,
    connectAndCallsMs: fr.firstCallMs + fr.elapsedMs,
    spawnToDoneMs,
    slotsPerSec: S / ((fr.firstCallMs + fr.elapsedMs) / 1000),
    callSlotsPerSec: fr.callsPerSec,
    p50Us: fr.p50Us,
    meanUs: fr.meanUs,
  }
  log(`  fresh process: ${fmt(fresh.slotsPerSec)} slots/s (connect + ${fmt(S)} now(): ${fmt(fresh.connectAndCallsMs)} ms; calls alone ${fmt(fresh.callSlotsPerSec)}/s; process spawn to result ${fmt(spawnToDoneMs)} ms)`)
  // Same process, new connect (warm JIT), with and without call-site capture.
  const warmDefault = await replayInProcess(endpoint, run, S, captured, undefined)
  log(`  same process, new connect: ${fmt(warmDefault.slotsPerSec)} slots/s (${fmt(warmDefault.totalMs)} ms incl. connect)`)
  const warmNoSites = await replayInProcess(endpoint, run, S, captured, false)
  log(`  same process, new connect, callSites:false: ${fmt(warmNoSites.slotsPerSec)} slots/s (${fmt(warmNoSites.totalMs)} ms incl. connect)`)
  const out = { slots: S, recordBytes: bytes.length, fillMs, fresh, sameProcess: warmDefault, sameProcessNoCallSites: warmNoSites, target: TARGET_SLOTS_PER_SEC }
  out.meetsTarget = fresh.slotsPerSec >= TARGET_SLOTS_PER_SEC
  log(`  target >= 100,000 slots/s (fresh process, incl. connect): ${yes(out.meetsTarget)}`)
  return out
}

async function chase(endpoint, cfg, timeoutMs) {
  const M = cfg.chase
  const run = `chase-${ID}`
  log(`\n[catch-up] late replica chasing a leader: leader does ${fmt(M)} now() calls; a second replica starts at ~${fmt(M / 2)} and does the same ${fmt(M)}`)
  const leader = startWorker('leader', run, M, endpoint, ['--warmup', String(cfg.warmChase), '--wait-go', '--progress', '100'])
  await withTimeout(Promise.race([leader.ready, leader.done]), timeoutMs, 'leader warm-up')
  let late
  let lateSpawnedAtSlot
  let progressAtSpawn
  const progress = []
  const lateProgress = []
  const t0 = now()
  const lateStarted = new Promise((resolve) => {
    leader.on('progress', (m, at) => {
      progress.push({ done: m.done, ms: Number(at - t0) / 1e6 })
      if (!late && m.done >= M / 2) {
        lateSpawnedAtSlot = m.done
        progressAtSpawn = progress.length - 1
        late = startWorker('late', run, M, endpoint, ['--progress', '100'])
        late.on('progress', (lm, lat) => lateProgress.push({ done: lm.done, ms: Number(lat - t0) / 1e6 }))
        resolve(late)
      }
    })
  })
  leader.cp.send({ type: 'go' })
  const ld = await withTimeout(leader.done, timeoutMs, 'leader')
  await withTimeout(lateStarted, timeoutMs, 'late replica start')
  const lt = await withTimeout(late.done, timeoutMs, 'late replica')
  const leaderDoneMs = Number(ld.parentDone - t0) / 1e6
  const lateSpawnMs = Number(late.spawnedAt - t0) / 1e6
  const lateDoneMs = Number(lt.parentDone - t0) / 1e6
  const gapMs = lateDoneMs - leaderDoneMs
  const shortly = Math.max(250, 0.05 * leaderDoneMs)
  // Leader speed before and after the late replica joined.
  const before = progress[progressAtSpawn]
  const lastP = progress[progress.length - 1]
  const out = {
    m: M,
    leaderMs: ld.elapsedMs,
    leaderCallsPerSec: ld.callsPerSec,
    leaderRateBeforeJoin: before.done / (before.ms / 1000),
    leaderRateAfterJoin: lastP.done > before.done ? (lastP.done - before.done) / ((lastP.ms - before.ms) / 1000) : null,
    lateSpawnedAtLeaderSlot: lateSpawnedAtSlot,
    lateSpawnMs,
    lateFirstCallMs: lt.firstCallMs,
    lateCallsMs: lt.elapsedMs,
    lateSpawnToDoneMs: lateDoneMs - lateSpawnMs,
    lateFirstLive: lt.firstLive,
    leaderDoneMs,
    lateDoneMs,
    finishGapMs: gapMs,
    shortlyAfterMs: shortly,
    leaderProgress: progress.map((p) => [p.done, Math.round(p.ms)]),
    lateProgress: lateProgress.map((p) => [p.done, Math.round(p.ms)]),
  }
  // Caught up = reached the head (status 'live') while the leader was still running, and finished with it.
  out.headAtMs = lt.firstLive ? lateSpawnMs + lt.startupMs + lt.firstLive.ms : null
  out.reachedHeadBeforeLeaderDone = out.headAtMs !== null && out.headAtMs < leaderDoneMs
  out.caughtUp = out.reachedHeadBeforeLeaderDone && gapMs <= shortly
  out.verdict = !out.reachedHeadBeforeLeaderDone
    ? 'did not reach the head while the leader ran'
    : gapMs <= shortly
      ? `caught up: at the head ${fmt(out.headAtMs - lateSpawnMs)} ms after its spawn, finished ${gapMs <= 0 ? 'before' : 'just after'} the leader`
      : 'reached the head but finished well after the leader'
  log(`  leader: ${fmt(M)} calls in ${fmt(ld.elapsedMs)} ms (${fmt(ld.callsPerSec)} calls/s; ${fmt(out.leaderRateBeforeJoin)}/s before the late replica joined, ${out.leaderRateAfterJoin ? fmt(out.leaderRateAfterJoin) : '-'}/s after)`)
  log(`  late: spawned at ${fmt(lateSpawnMs)} ms (leader at slot ${lateSpawnedAtSlot}), Node start-up ${fmt(lt.startupMs)} ms, then first call after ${fmt(lt.firstCallMs)} ms more, ${fmt(M)} calls in ${fmt(lt.elapsedMs)} ms` +
      (lt.firstLive ? `; reached the head (status 'live') at slot ${lt.firstLive.slot}, ${fmt(out.headAtMs - lateSpawnMs)} ms after spawn` : "; never reported status 'live'"))
  log(`  leader done at ${fmt(leaderDoneMs)} ms, late done at ${fmt(lateDoneMs)} ms: ${signed(gapMs)} ms -> ${out.verdict}`)
  return out
}

export async function run(ctx) {
  const replay = await catchUp(ctx.etcd.endpoint, ctx.client, ctx.cfg.catchup, ctx.timeoutMs)
  const chased = await chase(ctx.etcd.endpoint, ctx.cfg.catchup, ctx.timeoutMs)
  return { replay, chase: chased, prototypeReplayCallsPerSec: PROTOTYPE_REPLAY }
}

export function targets(o) {
  const c = o.replay
  const h = o.chase
  return [
    { what: `Catch-up: replay of ${fmt(c.slots)} decided slots, fresh process, connect included`, result: `${fmt(c.fresh.slotsPerSec)} slots/s (warm: ${fmt(c.sameProcess.slotsPerSec)})`, target: `>= ${fmt(TARGET_SLOTS_PER_SEC)} slots/s`, met: c.meetsTarget, gated: true },
    { what: `A late replica chases a leader's tight loop (${fmt(h.m)} calls, joins half-way)`, result: `${h.verdict} (${signed(h.finishGapMs)} ms)`, target: 'reaches the head while the leader runs', met: h.caughtUp, gated: true },
  ]
}

export function markdown(o) {
  const c = o.replay
  const h = o.chase
  const [lo, hi] = o.prototypeReplayCallsPerSec
  return [
    ...table(['Measurement', 'Result', 'Prototype (recorded)'], [
      [`Replay ${fmt(c.slots)} decided slots, fresh process: connect + calls (after Node's start-up and imports)`, `**${fmt(c.fresh.slotsPerSec)} slots/s** (${fmt(c.fresh.connectAndCallsMs)} ms; calls alone ${fmt(c.fresh.callSlotsPerSec)}/s; from spawn to result, start-up included: ${fmt(c.slots / (c.fresh.spawnToDoneMs / 1000))}/s)`, `${fmt(lo)}-${fmt(hi)} calls/s`],
      ['Replay, same process, new connect (warm JIT)', `${fmt(c.sameProcess.slotsPerSec)} slots/s (${fmt(c.sameProcess.totalMs)} ms)`, ''],
      ['Replay, same process, `callSites: false`', `${fmt(c.sameProcessNoCallSites.slotsPerSec)} slots/s (${fmt(c.sameProcessNoCallSites.totalMs)} ms)`, ''],
      [`Late replica joins a leader's tight loop of ${fmt(h.m)} calls at slot ${h.lateSpawnedAtLeaderSlot}`, `reaches the head ${h.headAtMs !== null ? `${fmt(h.headAtMs - h.lateSpawnMs)} ms after its spawn (slot ${h.lateFirstLive.slot}; the leader finished ${fmt(h.leaderDoneMs - h.headAtMs)} ms later)` : 'never'}; finishes ${signed(h.finishGapMs)} ms after the leader: ${h.verdict}`, 'never caught up (the lag grew)'],
    ]),
    '',
    `- replay: the log holds ${fmt(c.slots)} copies of one real \`now()\` record (${c.recordBytes} B), written in ${fmt(c.fillMs)} ms; the fresh process connects (${fmt(c.fresh.connectMs)} ms), then replays with the same calls; spawn to result ${fmt(c.fresh.spawnToDoneMs)} ms.`,
    `- chase: leader ${fmt(h.leaderRateBeforeJoin)} calls/s before the late replica joined, ${h.leaderRateAfterJoin ? fmt(h.leaderRateAfterJoin) : '-'} calls/s after; late replica spawned at ${fmt(h.lateSpawnMs)} ms, first call ${fmt(h.lateFirstCallMs)} ms after its script started (connect; Node's own start-up comes before), its ${fmt(h.m)} calls in ${fmt(h.lateCallsMs)} ms. The plot shows both replicas' progress.`,
    '',
  ].join('\n')
}

export function svg(o, env) {
  const h = o.chase
  const c = o.replay
  // Both progress lines on one time axis, sampled at the same ticks (ms since the leader started).
  const end = Math.max(h.lateDoneMs, h.leaderDoneMs)
  const TICKS = 11
  const at = (series, t) => {
    let done = 0
    for (const [d, ms] of series) if (ms <= t) done = d
    return done
  }
  const ts = Array.from({ length: TICKS }, (_, i) => (end * i) / (TICKS - 1))
  const line = (name, series, from = 0) => ({ name, points: ts.map((t, i) => ({ x: i, y: t < from ? NaN : at(series, t) })) })
  return figure({
    title: 'RepJS catch-up: replaying a decided log, and a late replica chasing a leader',
    note: `${env.machine.cores} cores, one etcd member, fsync ${o.etcd?.fsync === false ? 'off' : 'on'}, ${env.date.slice(0, 10)}`,
    panels: [
      {
        type: 'bars', title: `(a) replay of ${fmt(c.slots)} decided slots`, yLabel: 'slots per second',
        bars: [
          { label: 'prototype (recorded)', value: o.prototypeReplayCallsPerSec[1], text: `${fmt(o.prototypeReplayCallsPerSec[0])}-${fmt(o.prototypeReplayCallsPerSec[1])}`, ref: true },
          { label: 'fresh process', value: c.fresh.slotsPerSec, text: fmt(c.fresh.slotsPerSec), note: 'connect included' },
          { label: 'same process, warm', value: c.sameProcess.slotsPerSec, text: fmt(c.sameProcess.slotsPerSec) },
          { label: 'target', value: TARGET_SLOTS_PER_SEC, text: fmt(TARGET_SLOTS_PER_SEC), ref: true },
        ],
      },
      {
        title: `(b) late replica joins at slot ${h.lateSpawnedAtLeaderSlot} of ${fmt(h.m)}`, xLabel: 'ms since the leader started', yLabel: 'calls done',
        xTicks: ts.map((t) => fmt(t)),
        series: [line('leader', h.leaderProgress), line('late replica', h.lateProgress, h.lateSpawnMs)],
      },
    ],
  })
}
