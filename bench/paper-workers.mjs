/**
 * What the paper's two experiments (bench/calls.mjs, bench/replicas.mjs) share: the fixed workload,
 * the paper's published figures, CPU meters, and the worker processes (bench/paper-replica.mjs)
 * they drive point by point. Every worker is stopped by PID (lib.mjs tracks them).
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { processCpuMs } from './etcd.mjs'
import { forkTracked, killChild, sleep, withTimeout } from './lib.mjs'
import { loadavg } from './report.mjs'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'paper-replica.mjs')

/** The fixed workload: MULS multiplications of two 300x300 Float64 matrices, in CHUNKS chunks. */
export const WORKLOAD = { muls: 10, chunks: 10 }

/** The paper's published per-call cost (ms) by node count; 12 and 16 as mean / best. */
const PAPER_MS = { 1: 1.3, 2: 3.3, 4: 4.6, 8: 6.4, 12: [19, 5.5], 16: [62, 37.5] }
export const paperMs = (k) => {
  const v = PAPER_MS[k]
  return v === undefined ? '-' : Array.isArray(v) ? `${v[0]} / ${v[1]} ms` : `${v} ms`
}

export const busy = (c) => `${(c.machineBusy * 100).toFixed(0)}% busy (bench ${(c.oursBusy * 100).toFixed(0)}%)`
export const fmtMs = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))

/** mean, population stddev, best (min), worst (max) of a list of numbers. */
export function summary(xs) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length)
  return { mean, sd, best: Math.min(...xs), worst: Math.max(...xs) }
}

/** Total CPU time (ms, user + system) of this machine so far, from /proc/stat (all cores). */
function machineCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const tick = 10 // USER_HZ is 100 on Linux
    const idle = (f[3] ?? 0) + (f[4] ?? 0)
    const total = f.reduce((a, b) => a + b, 0)
    return { busyMs: (total - idle) * tick, totalMs: total * tick }
  } catch {
    return undefined
  }
}

/**
 * CPU use over a stretch of wall time: the machine's busy share (/proc/stat), and the CPU ms of
 * given process groups ({ name: () => [pids] }), plus this process (proxies run in it).
 */
export function cpuMeter(groups) {
  const read = () => ({
    t: performance.now(),
    m: machineCpu(),
    self: process.cpuUsage(),
    g: Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids().reduce((a, p) => a + (processCpuMs(p) ?? 0), 0)])),
  })
  const a = read()
  return () => {
    const b = read()
    const wallMs = b.t - a.t
    const cores = os.cpus().length
    const groupsMs = Object.fromEntries(Object.keys(b.g).map((k) => [k, b.g[k] - a.g[k]]))
    groupsMs.parent = (b.self.user + b.self.system - a.self.user - a.self.system) / 1000
    const ours = Object.values(groupsMs).reduce((x, y) => x + y, 0)
    return {
      wallMs,
      cpuMs: groupsMs,
      /** CPU of the bench's processes / (wall x cores). */
      oursBusy: ours / (wallMs * cores),
      /** The whole machine's busy share over the stretch, from /proc/stat. */
      machineBusy: a.m && b.m ? (b.m.busyMs - a.m.busyMs) / (b.m.totalMs - a.m.totalMs) : undefined,
      loadavg: loadavg(),
    }
  }
}

// ---------------------------------------------------------------- workers, stopped by PID (lib.mjs tracks them)

/** Forks bench/paper-replica.mjs. `next(type)` resolves with the worker's next message of that type. */
export function startPaperWorker(label, mode, endpoint) {
  const cp = forkTracked(WORKER, [label, mode, ...(endpoint ? [endpoint] : [])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting = new Map()
  let failure
  const fail = (err) => {
    failure ??= err
    for (const [, w] of waiting) w.reject(failure)
    waiting.clear()
  }
  cp.on('message', (m) => {
    if (m.type === 'error') return fail(new Error(`worker ${label}: ${m.message}`))
    const w = waiting.get(m.type)
    if (w) {
      waiting.delete(m.type)
      w.resolve(m)
    }
  })
  cp.on('exit', (code, signal) => {
    fail(new Error(`worker ${label} exited (code ${code}, signal ${signal})`))
  })
  const w = {
    cp,
    label,
    pid: cp.pid,
    next: (type) =>
      new Promise((resolve, reject) => {
        if (failure) return reject(failure)
        waiting.set(type, { resolve, reject })
      }),
    send: (m) => cp.send(m),
    async stop() {
      if (cp.exitCode !== null || cp.signalCode !== null) return
      const exited = new Promise((r) => cp.once('exit', r))
      try {
        cp.send({ type: 'exit' })
      } catch {
        /* ipc closed */
      }
      await Promise.race([exited, sleep(2000)])
      killChild(cp)
    },
  }
  w.up = w.next('up')
  return w
}

/** One point: every worker prepares (connects to `run`), then all start together; their results. */
export async function runPoint(ws, point, timeoutMs) {
  const ready = ws.map((w) => w.next('ready'))
  for (const w of ws) w.send({ type: 'prepare', ...point })
  await withTimeout(Promise.all(ready), timeoutMs, `prepare ${point.run}`)
  const done = ws.map((w) => w.next('done'))
  for (const w of ws) w.send({ type: 'go' })
  return withTimeout(Promise.all(done), timeoutMs, `point ${point.run}`)
}
