/**
 * A plain Node script with nothing of RepJS in it: the loop the floor experiment of bench/run.mjs times under
 * `repjs run` (where Date.now() is agreed through the synchronous bridge).
 *
 *   node bench/date-loop.mjs N [WARMUP] [GO_PREFIX] [BLOCKS]
 *
 * WARMUP Date.now() calls, then N timed Date.now() calls in BLOCKS blocks (default 1). Before block
 * b it prints {"type":"ready","block":b} and, given GO_PREFIX, waits until the file GO_PREFIX + b
 * exists (so the benchmark can interleave blocks with other kinds, and several replicas start a
 * block together); after it, {"type":"block","block":b}. Last, one JSON line with the timing,
 * taken with process.hrtime and process.cpuUsage (which RepJS does not patch). Lines are written
 * to fd 1 with fs.writeSync: under `repjs run` the script runs in a worker thread that never returns
 * to its event loop here, so console.log's second line would wait until the script ends.
 */
import { existsSync, writeSync } from 'node:fs'

const n = Number(process.argv[2] ?? 10000)
const warm = Number(process.argv[3] ?? 0)
const goPrefix = process.argv[4]
const blocks = Number(process.argv[5] ?? 1)
const nap = new Int32Array(new SharedArrayBuffer(4))
const say = (o) => writeSync(1, JSON.stringify(o) + '\n')

let last = 0
for (let i = 0; i < warm; i++) last = Date.now()

const lat = new Float64Array(n)
let elapsedNs = 0n
let cpuUs = 0
for (let b = 0, i = 0; b < blocks; b++) {
  say({ type: 'ready', block: b })
  while (goPrefix && !existsSync(goPrefix + b)) Atomics.wait(nap, 0, 0, 1)
  const end = Math.round((n * (b + 1)) / blocks)
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (; i < end; i++) {
    const s = process.hrtime.bigint()
    const v = Date.now()
    lat[i] = Number(process.hrtime.bigint() - s) / 1e3
    if (v < last) throw new Error(`Date.now() went back at call ${i}: ${v} < ${last}`)
    last = v
  }
  elapsedNs += process.hrtime.bigint() - t0
  const cpu = process.cpuUsage(cpu0)
  cpuUs += cpu.user + cpu.system
  say({ type: 'block', block: b })
}
const elapsedMs = Number(elapsedNs) / 1e6
lat.sort()
let sum = 0
for (const x of lat) sum += x
say({
  type: 'done', n, elapsedMs, callsPerSec: n / (elapsedMs / 1000), p50Us: lat[n >> 1], p99Us: lat[Math.min(n - 1, Math.floor(n * 0.99))],
  meanUs: sum / n, cpuUsPerCall: cpuUs / n,
})
