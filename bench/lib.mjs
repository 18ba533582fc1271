/**
 * Helpers shared by the benchmark's sections: timing and formatting, child processes tracked and
 * stopped by PID, the create-if-absent Txn (the floor), and the interleaved per-call measurement.
 */
import { fork, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createCborFormat, createCodec } from '../dist/node-gateway/index.js'
import { decodeRecord } from '../dist/core/record.js'
import { metricsDelta } from './etcd.mjs'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'replica.mjs')

export const PROGRAM = 'repjs-bench'
export const ID = `${Date.now().toString(36)}-${process.pid}`
export const slotKey = (run, slot) => `/repjs/v1/${run}/s/main/${String(slot).padStart(12, '0')}`
export const metaKey = (run) => `/repjs/v1/${run}/meta`
export const now = () => process.hrtime.bigint()
/** CLOCK_MONOTONIC in µs: the same clock in every process of this machine, so comparable across them. */
export const monoUs = () => Number(process.hrtime.bigint()) / 1e3
export const msSince = (t0) => Number(process.hrtime.bigint() - t0) / 1e6
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const log = (...a) => console.log(...a)

export function stats(lat, count = lat.length) {
  const a = Float64Array.from(lat.subarray ? lat.subarray(0, count) : lat.slice(0, count)).sort()
  let sum = 0
  for (const x of a) sum += x
  return { n: a.length, p50Us: a[a.length >> 1], p99Us: a[Math.min(a.length - 1, Math.floor(a.length * 0.99))], meanUs: sum / a.length }
}
export const us = (x) => `${x.toFixed(0)} µs`
export const fmt = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
export const yes = (b) => (b ? 'yes' : 'NO')
export const fsyncUs = (m) => (m.walFsyncs > 0 ? (m.walFsyncSeconds / m.walFsyncs) * 1e6 : 0)
export const signed = (x) => (x >= 0 ? '+' : '-') + fmt(Math.abs(x), Math.abs(x) < 10 ? 1 : 0)
/** `a / b` for p50, mean and Node CPU of two `interleave` results. */
export const ratio = (a, b) => ({ p50: a.p50Us / b.p50Us, mean: a.meanUs / b.meanUs, nodeCpu: a.nodeCpuUsPerCall / b.nodeCpuUsPerCall })
/** '1.234x p50 (mean 1.200x)' */
export const xr = (r) => `${r.p50.toFixed(3)}x p50 (mean ${r.mean.toFixed(3)}x)`
export const xrCpu = (r) => `p50 ${r.p50.toFixed(3)}x, mean ${r.mean.toFixed(3)}x, Node CPU ${r.nodeCpu.toFixed(2)}x`
/** Percent of one core that `cpuMs` of CPU time over `wallMs` is. */
export const pctCore = (cpuMs, wallMs) => `${((cpuMs / wallMs) * 100).toFixed(0)}%`

// ---------------------------------------------------------------- child processes, by PID

const children = new Set()
function track(cp) {
  children.add(cp)
  cp.on('exit', () => children.delete(cp))
  return cp
}
const alive = (cp) => cp.exitCode === null && cp.signalCode === null
export function killChild(cp, signal = 'SIGKILL') {
  if (alive(cp)) {
    try {
      process.kill(cp.pid, signal)
    } catch {
      /* already gone */
    }
  }
}
/** SIGTERM, then SIGKILL if it has not exited within `ms`. */
export async function stopChild(cp, ms = 3000) {
  if (!alive(cp)) return
  const exited = new Promise((r) => cp.once('exit', r))
  killChild(cp, 'SIGTERM')
  let t
  await Promise.race([exited, new Promise((r) => (t = setTimeout(r, ms)))])
  clearTimeout(t)
  killChild(cp)
}
export function killAllChildren() {
  for (const cp of children) killChild(cp)
}
process.on('exit', killAllChildren)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

/** fork() / spawn() whose child is killed by PID when the benchmark ends, also on error. */
export const forkTracked = (...a) => track(fork(...a))
export const spawnTracked = (...a) => track(spawn(...a))

export function withTimeout(p, ms, what) {
  let t
  return Promise.race([p, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(t),
  )
}

/** Calls `fn(line)` for each line `stream` emits. */
export function onLines(stream, fn) {
  let buf = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk) => {
    buf += chunk
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      fn(line)
    }
  })
}

/** Fork bench/replica.mjs. Returns { cp, on(type, fn), done: Promise<result with parentDone> }. */
export function startWorker(label, run, n, endpoint, extra = []) {
  const cp = forkTracked(WORKER, [run, String(n), endpoint, '--label', label, '--program', PROGRAM, ...extra], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const handlers = {}
  const w = { cp, label, spawnedAt: now(), on: (type, fn) => (handlers[type] = fn) }
  w.done = new Promise((resolve, reject) => {
    cp.on('message', (m) => {
      const at = now()
      if (m.type === 'done') resolve({ ...m, parentDone: at })
      else if (m.type === 'error') reject(new Error(`replica ${label} failed: ${m.message}`))
      handlers[m.type]?.(m, at)
    })
    cp.on('error', reject)
    cp.on('exit', (code, signal) => {
      reject(new Error(`replica ${label} exited (code ${code}, signal ${signal}) before reporting a result`))
    })
  })
  w.done.catch(() => {})
  w.ready = new Promise((resolve) => (handlers.ready = resolve))
  return w
}

// ---------------------------------------------------------------- floor and interleaved measurement

/** The create-if-absent Txn RepJS issues per proposal, on fresh keys of `run`, through `kvApi.txn`. */
export function createIfAbsent(kvApi, run) {
  const value = Buffer.from('r'.repeat(60))
  let slot = 0
  return () => {
    const key = Buffer.from(slotKey(run, slot++))
    return kvApi.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key, value } }],
      failure: [{ request_range: { key } }],
    })
  }
}

/**
 * Per-call latency of each kind ({ name: { call } }): `warm` calls each, then `n` timed calls each
 * in `rounds` interleaved blocks (order rotated every round) so drift in disk/fsync latency hits
 * every kind alike. Per kind: latency stats, this process's CPU per call, `${name}CpuUsPerCall` for
 * each of `cpu` ({ name: () => cumulative CPU ms of another process }), and etcd's counters per call.
 */
export async function interleave(kinds, { warm, n, rounds, etcd, cpu = {} }) {
  for (const [name, k] of Object.entries(kinds)) {
    Object.assign(k, { lat: new Float64Array(n), i: 0, cpuUs: 0, other: Object.fromEntries(Object.keys(cpu).map((c) => [c, 0])), m: {} })
    const t0 = now()
    for (let i = 0; i < warm; i++) await k.call()
    log(`  warm-up ${name.padEnd(16)} ${warm} calls in ${fmt(msSince(t0))} ms`)
  }
  const names = Object.keys(kinds)
  const block = Math.ceil(n / rounds)
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < names.length; j++) {
      const k = kinds[names[(r + j) % names.length]]
      const end = Math.min(n, k.i + block)
      const m0 = await etcd.metrics()
      const c0 = process.cpuUsage()
      const o0 = Object.fromEntries(Object.entries(cpu).map(([c, f]) => [c, f()]))
      for (; k.i < end; k.i++) {
        const s = now()
        await k.call()
        k.lat[k.i] = Number(now() - s) / 1e3
      }
      const d = process.cpuUsage(c0)
      k.cpuUs += d.user + d.system
      for (const [c, f] of Object.entries(cpu)) if (o0[c] !== undefined) k.other[c] += f() - o0[c]
      for (const [mk, v] of Object.entries(metricsDelta(m0, await etcd.metrics()))) k.m[mk] = (k.m[mk] ?? 0) + v
    }
  }
  const out = {}
  for (const [name, k] of Object.entries(kinds)) {
    out[name] = {
      ...stats(k.lat, k.i),
      nodeCpuUsPerCall: k.cpuUs / k.i,
      ...Object.fromEntries(Object.entries(k.other).map(([c, ms]) => [`${c}CpuUsPerCall`, (ms * 1000) / k.i])),
      etcdPerCall: Object.fromEntries(Object.entries(k.m).map(([mk, v]) => [mk, v / k.i])),
    }
  }
  return out
}

/** One line per kind: p50, mean, p99, CPU per call (this process and each `cpu` source), etcd counters. */
export function logKinds(out, cpuNames = ['etcd']) {
  for (const [name, s] of Object.entries(out)) {
    const others = cpuNames.map((c) => `, ${c} ${us(s[`${c}CpuUsPerCall`] ?? NaN)}`).join('')
    log(`  ${name.padEnd(16)} p50 ${us(s.p50Us)}  mean ${us(s.meanUs)}  p99 ${us(s.p99Us)}  cpu/call: node ${us(s.nodeCpuUsPerCall)}${others}; per call: ${s.etcdPerCall.txn.toFixed(2)} Txn, ${s.etcdPerCall.walFsyncs.toFixed(2)} WAL fsyncs of ${us(fsyncUs(s.etcdPerCall))}`)
  }
}

/**
 * How many of the run's main-stream slots each replica proposed (a record's `by`), counted under
 * `keyOf(replicaId)` (a label, a zone).
 */
export async function slotsProposed(client, run, keyOf) {
  const codec = createCodec(createCborFormat())
  const counts = {}
  for (const [k, v] of Object.entries(await client.getAll().prefix(`/repjs/v1/${run}/s/main/`).buffers())) {
    const key = keyOf(decodeRecord(codec, new Uint8Array(v), { run, stream: 'main', slot: Number(k.slice(-12)) }).by)
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}
