/**
 * Worker of bench/calls.mjs and bench/replicas.mjs (through paper-workers.mjs): one "program" of the paper's evaluation in its own process. The
 * program makes N replicated clock reads (`rep.now()`, or plain `Date.now()` in mode 'plain') spread
 * over a fixed, deterministic CPU workload (MULS multiplications of two 300x300 Float64 matrices,
 * in CHUNKS chunks with N/CHUNKS calls after each chunk).
 *
 *   forked: node bench/paper-replica.mjs <label> <plain|rep> [etcd-endpoint]
 *
 * IPC, parent -> worker: {type:'prepare', run, n, muls, chunks, warm?} (connects to the run when
 * mode is 'rep', makes `warm` untimed calls on a private stream, then answers {type:'ready'}); {type:'go'} (runs the program, answers {type:'done',
 * elapsedMs, cpuMs, ...}); {type:'exit'}. Errors answer {type:'error', message}.
 */
import { connect } from '../dist/node-gateway/index.js'

const [label, mode, endpoint] = process.argv.slice(2)
if (!label || !['plain', 'rep'].includes(mode) || (mode === 'rep' && !endpoint)) {
  console.error('usage: node bench/paper-replica.mjs <label> <plain|rep> [etcd-endpoint]')
  process.exit(2)
}
const PROGRAM = 'repjs-bench-paper'
const send = (msg) => new Promise((resolve) => (process.connected ? process.send({ label, ...msg }, () => resolve()) : resolve()))

// ---------------------------------------------------------------- the fixed workload

const M = 300
const A = new Float64Array(M * M)
const B = new Float64Array(M * M)
const C = new Float64Array(M * M)
let seed = 12345
const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed / 2147483648 - 0.5)
for (let i = 0; i < M * M; i++) {
  A[i] = lcg()
  B[i] = lcg()
}
/** C = A x B, then A = C scaled (so every multiplication depends on the previous one). */
function multiply() {
  for (let i = 0; i < M; i++) {
    const row = i * M
    for (let j = 0; j < M; j++) C[row + j] = 0
    for (let k = 0; k < M; k++) {
      const a = A[row + k]
      const bk = k * M
      for (let j = 0; j < M; j++) C[row + j] += a * B[bk + j]
    }
  }
  let max = 0
  for (let i = 0; i < M * M; i++) max = Math.max(max, Math.abs(C[i]))
  for (let i = 0; i < M * M; i++) A[i] = C[i] / max
}
multiply() // JIT warm-up before any timed point

// ---------------------------------------------------------------- protocol

let rep
let point
const cpuMs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

async function prepare(m) {
  point = m
  if (mode === 'rep') {
    rep = await connect({ run: m.run, etcd: endpoint, program: PROGRAM })
    // Optional warm-up on a private stream of the run (JIT, connections), not timed.
    if (m.warm > 0) {
      const ws = rep.stream(`warm-${label}`)
      for (let i = 0; i < m.warm; i++) await ws.now()
    }
  }
  await send({ type: 'ready', replicaId: rep?.info.replicaId })
}

async function go() {
  const { n, muls, chunks } = point
  const clock = mode === 'rep' ? () => rep.now() : async () => Date.now()
  const c0 = cpuMs()
  const t0 = performance.now()
  let calls = 0
  let callMs = 0
  let last = -Infinity
  const doCalls = async (k) => {
    const s = performance.now()
    for (let i = 0; i < k; i++) {
      const v = await clock()
      if (v < last) throw new Error(`clock decreased at call ${calls}: ${v} < ${last}`)
      last = v
      calls++
    }
    callMs += performance.now() - s
  }
  const perChunk = Math.floor(n / chunks)
  for (let c = 0; c < chunks; c++) {
    for (let q = Math.floor((c * muls) / chunks); q < Math.floor(((c + 1) * muls) / chunks); q++) multiply()
    await doCalls(c === chunks - 1 ? n - perChunk * (chunks - 1) : perChunk)
  }
  const elapsedMs = performance.now() - t0
  const cpu = cpuMs() - c0
  if (calls !== n) throw new Error(`made ${calls} calls, expected ${n}`)
  const replicaId = rep?.info.replicaId
  await rep?.close()
  rep = undefined
  await send({ type: 'done', elapsedMs, callMs, cpuMs: cpu, n, replicaId, checksum: A[0] })
}

process.on('message', (m) => {
  const step = m?.type === 'prepare' ? prepare(m) : m?.type === 'go' ? go() : m?.type === 'exit' ? Promise.resolve(process.exit(0)) : undefined
  step?.catch(async (err) => {
    await send({ type: 'error', message: err?.stack ?? String(err) })
    process.exit(1)
  })
})
await send({ type: 'up' })
