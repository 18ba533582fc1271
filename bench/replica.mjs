/**
 * Benchmark worker: one RepJS replica in its own process doing N sequential `rep.now()` calls.
 *
 *   node bench/replica.mjs <run> <N> <etcd-endpoint> [--warmup W] [--wait-go] [--blocks B] [--progress K]
 *                          [--streams S] [--hot-path http2|etcd3] [--program P] [--label L]
 *
 * --warmup W   W now() calls first on a private stream of the same run (same connection, no
 *              contention with the other replicas), before the timed calls.
 * --wait-go    after warm-up, report 'ready' and wait for a {type:'go'} IPC message.
 * --blocks B   the N calls in B blocks (with --wait-go: 'ready' and a 'go' before each, 'block' after
 *              each), so a benchmark can interleave them with other kinds; times add up the blocks.
 * --progress K report {type:'progress', done} every K calls.
 * --hot-path   the store's client for Txn/Range: 'http2' (lean, the default) or 'etcd3' (grpc-js).
 * --streams S  the N calls on S named streams (p0 .. p<S-1>) at once, N/S sequential calls on each
 *              (a fixed share, so every replica makes the same calls on the same streams); one block.
 *
 * Talks to the parent over IPC when forked (messages: ready, block, status, progress, done, error); run
 * by hand it prints the final result as one JSON line.
 */
import { connect } from '../dist/node-gateway/index.js'

const argv = process.argv.slice(2)
const positional = []
const flags = {}
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a.startsWith('--')) {
    const name = a.slice(2)
    if (name === 'wait-go') flags[name] = true
    else flags[name] = argv[++i]
  } else positional.push(a)
}
const [run, nArg, endpoint] = positional
const N = Number(nArg)
if (!run || !Number.isInteger(N) || N < 1 || !endpoint) {
  console.error('usage: node bench/replica.mjs <run> <N> <etcd-endpoint> [--warmup W] [--wait-go] [--blocks B] [--progress K] [--program P] [--label L]')
  process.exit(2)
}
const warmup = Number(flags.warmup ?? 0)
const progressEvery = Number(flags.progress ?? 0)
const blocks = Number(flags.blocks ?? 1)
const streams = Number(flags.streams ?? 0)
if (streams && (blocks > 1 || N % streams !== 0)) {
  console.error('--streams S takes one block and an N that S divides')
  process.exit(2)
}
const program = flags.program ?? 'repjs-bench'
const label = flags.label ?? `pid${process.pid}`

const send = (msg) =>
  new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve()
    process.send({ label, ...msg }, () => resolve())
  })
const since = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

const tStart = process.hrtime.bigint()
/** ms from the process's start to this script's (Node's start-up and the imports). */
const startupMs = process.uptime() * 1000
let rep
try {
  rep = await connect({ run, etcd: endpoint, program, ...(flags['hot-path'] ? { etcdOptions: { hotPath: flags['hot-path'] } } : {}) })
  const tConnected = since(tStart)
  let firstLive
  const off = rep.on('status', (s) => {
    if (s.state === 'live' && !firstLive) firstLive = { ms: since(tStart), slot: s.slot, head: s.head }
  })

  if (warmup > 0) {
    const ws = rep.stream(`warm-${label}`)
    for (let i = 0; i < warmup; i++) await ws.now()
  }
  // --wait-go: before each block, report 'ready' and wait for a 'go'.
  let go
  process.on('message', (m) => {
    if (m && m.type === 'go') go?.()
  })
  const waitGo = (block) => new Promise((resolve) => ((go = resolve), void send({ type: 'ready', block })))

  const lat = new Float64Array(N)
  let tFirstCall
  let elapsedNs = 0n
  const cpu = { user: 0, system: 0 }
  let done = 0
  /** Per stream, a hash of the agreed values in order: replicas of one run must report the same. */
  const digest = new Int32Array(Math.max(1, streams))
  for (let b = 0, i = 0; b < blocks; b++) {
    if (flags['wait-go']) await waitGo(b)
    const end = Math.round((N * (b + 1)) / blocks)
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    tFirstCall ??= since(tStart)
    // One sequential loop per target (the main stream, or each named stream's fixed share).
    const loop = async (target, from, to, d) => {
      let last = -Infinity
      for (let k = from; k < to; k++) {
        const s = process.hrtime.bigint()
        const v = await target.now()
        lat[k] = Number(process.hrtime.bigint() - s) / 1e3
        if (v < last) throw new Error(`now() decreased at call ${k}: ${v} < ${last}`)
        last = v
        digest[d] = (Math.imul(digest[d], 31) + (v % 0x7fffffff)) | 0
        if (progressEvery && ++done % progressEvery === 0) void send({ type: 'progress', done })
      }
    }
    if (streams) await Promise.all(Array.from({ length: streams }, (_, j) => loop(rep.stream(`p${j}`), (j * N) / streams, ((j + 1) * N) / streams, j)))
    else await loop(rep, i, end, 0)
    i = end
    elapsedNs += process.hrtime.bigint() - t0
    const d = process.cpuUsage(cpu0)
    cpu.user += d.user
    cpu.system += d.system
    if (blocks > 1) void send({ type: 'block', block: b })
  }
  const elapsedMs = Number(elapsedNs) / 1e6
  off()
  lat.sort()
  let sum = 0
  for (const x of lat) sum += x
  const result = {
    type: 'done',
    replicaId: rep.info.replicaId,
    n: N,
    elapsedMs,
    callsPerSec: N / (elapsedMs / 1000),
    p50Us: lat[N >> 1],
    p99Us: lat[Math.min(N - 1, Math.floor(N * 0.99))],
    meanUs: sum / N,
    cpuUsPerCall: (cpu.user + cpu.system) / N,
    connectMs: tConnected,
    firstCallMs: tFirstCall,
    totalMs: since(tStart),
    firstLive: firstLive ?? null,
    startupMs,
    digest: Array.from(digest, (x) => (x >>> 0).toString(16)).join(','),
  }
  await rep.close()
  rep = undefined
  if (process.send) await send(result)
  else console.log(JSON.stringify(result))
  process.disconnect?.()
  process.exitCode = 0
} catch (err) {
  await send({ type: 'error', message: err?.stack ?? String(err) })
  console.error(err)
  try {
    await rep?.close()
  } catch {
    /* ignore */
  }
  process.exitCode = 1
  process.disconnect?.()
}
