/**
 * Hot-path benchmark: etcd3's gRPC client vs the lean node:http2 KV client (node-gateway/store/kv-client.ts).
 * `npm run build && node bench/hot-path.mjs [--quick] [--no-fsync]`
 *
 * Starts its own single-member etcd (fsync ON unless --no-fsync), then times sequential calls, each
 * kind after its own warm-up, in interleaved blocks so drift in disk latency hits all kinds alike:
 *   (a) etcd3  client.kv.txn   the create-if-absent Txn RepJS issues per proposal, raw
 *   (b) http2  KvClient.txn    the same Txn through the lean client
 *   (c) rep.distributed()      through the store with hotPath 'etcd3'
 *   (d) rep.distributed()      through the store with hotPath 'http2'
 * Prints p50 / mean / p99, Node CPU per call and the ratios. etcd is stopped by PID at the end.
 */
import { Etcd3 } from 'etcd3'
import { connect } from '../dist/node-gateway/index.js'
import { KvClient } from '../dist/node-gateway/store/kv-client.js'

const argv = process.argv.slice(2)
for (const a of argv) {
  if (!['--quick', '--no-fsync'].includes(a)) {
    console.error(`unknown option ${a}\nusage: node bench/hot-path.mjs [--quick] [--no-fsync]`)
    process.exit(2)
  }
}
const QUICK = argv.includes('--quick')
const FSYNC = !argv.includes('--no-fsync')
const WARM = QUICK ? 300 : 2000
const N = QUICK ? 1000 : 5000
const ROUNDS = 10
const ID = `${Date.now().toString(36)}-${process.pid}`
const log = (...a) => console.log(...a)
const now = () => process.hrtime.bigint()

/** bench/etcd.mjs if present (same spawn as the main benchmark), else the built local-etcd helper. */
async function startEtcd() {
  try {
    const m = await import('./etcd.mjs')
    return { ...(await m.startEtcd({ fsync: FSYNC })), version: m.etcdVersion() }
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err
    const { startCluster } = await import('../dist/node-gateway/etcd/local-etcd.js')
    const c = await startCluster(1, { fsync: FSYNC })
    return { endpoint: c.endpoint, stop: () => c.stop(), version: 'etcd (local-etcd helper)' }
  }
}

function stats(lat, n) {
  const a = Float64Array.from(lat.subarray(0, n)).sort()
  let sum = 0
  for (const x of a) sum += x
  return { n, p50Us: a[n >> 1], p99Us: a[Math.min(n - 1, Math.floor(n * 0.99))], meanUs: sum / n }
}
const ms = (us) => `${(us / 1000).toFixed(3)} ms`

const etcd = await startEtcd()
let etcd3, kv, repE, repH
try {
  log(`etcd ${etcd.version} at ${etcd.endpoint}, fsync ${FSYNC ? 'on' : 'off'}; node ${process.version}`)
  log(`warm-up ${WARM} calls per kind, then ${N} timed sequential calls per kind in ${ROUNDS} interleaved rounds`)
  etcd3 = new Etcd3({ hosts: etcd.endpoint })
  kv = new KvClient({ endpoints: etcd.endpoint })
  repE = await connect({ run: `hp-etcd3-${ID}`, etcd: etcd.endpoint, program: 'hot-path-bench', etcdOptions: { hotPath: 'etcd3' } })
  repH = await connect({ run: `hp-http2-${ID}`, etcd: etcd.endpoint, program: 'hot-path-bench', etcdOptions: { hotPath: 'http2' } })
  if (repE.engine?.store?.kv !== undefined || repH.engine?.store?.kv === undefined) log('  (could not confirm the stores\' hot paths)')

  const value = Buffer.from('r'.repeat(60))
  const createIfAbsent = (client, prefix) => {
    let slot = 0
    return () => {
      const key = Buffer.from(`/repjs/v1/${prefix}-${ID}/s/main/${String(slot++).padStart(12, '0')}`)
      return client.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }],
      })
    }
  }
  const xE = repE.distributed(() => Math.random(), { name: 'x' })
  const xH = repH.distributed(() => Math.random(), { name: 'x' })
  const kinds = {
    'etcd3 txn': { call: createIfAbsent(etcd3.kv, 'raw-etcd3') },
    'http2 txn': { call: createIfAbsent(kv, 'raw-http2') },
    'distributed etcd3': { call: () => xE() },
    'distributed http2': { call: () => xH() },
  }
  for (const [name, k] of Object.entries(kinds)) {
    Object.assign(k, { lat: new Float64Array(N), i: 0, cpuUs: 0 })
    const t0 = now()
    for (let i = 0; i < WARM; i++) await k.call()
    log(`  warm-up ${name.padEnd(18)} ${WARM} calls in ${(Number(now() - t0) / 1e6).toFixed(0)} ms`)
  }
  const names = Object.keys(kinds)
  const block = Math.ceil(N / ROUNDS)
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < names.length; j++) {
      const k = kinds[names[(r + j) % names.length]]
      const end = Math.min(N, k.i + block)
      const c0 = process.cpuUsage()
      for (; k.i < end; k.i++) {
        const s = now()
        await k.call()
        k.lat[k.i] = Number(now() - s) / 1e3
      }
      const d = process.cpuUsage(c0)
      k.cpuUs += d.user + d.system
    }
  }
  const out = {}
  for (const [name, k] of Object.entries(kinds)) out[name] = { ...stats(k.lat, k.i), cpuUs: k.cpuUs / k.i }
  log('')
  log(`| kind | p50 | mean | p99 | Node CPU/call |`)
  log(`|---|---:|---:|---:|---:|`)
  for (const [name, s] of Object.entries(out)) log(`| ${name} | ${ms(s.p50Us)} | ${ms(s.meanUs)} | ${ms(s.p99Us)} | ${s.cpuUs.toFixed(0)} µs |`)
  const ratio = (a, b) => `p50 ${(out[a].p50Us / out[b].p50Us).toFixed(3)}x, mean ${(out[a].meanUs / out[b].meanUs).toFixed(3)}x, CPU ${(out[a].cpuUs / out[b].cpuUs).toFixed(2)}x`
  log('')
  log(`http2 txn / etcd3 txn:                  ${ratio('http2 txn', 'etcd3 txn')}`)
  log(`distributed http2 / distributed etcd3:  ${ratio('distributed http2', 'distributed etcd3')}`)
  log(`distributed etcd3 / etcd3 txn (floor):  ${ratio('distributed etcd3', 'etcd3 txn')}`)
  log(`distributed http2 / http2 txn (floor):  ${ratio('distributed http2', 'http2 txn')}`)
  log(`distributed http2 / etcd3 txn:          ${ratio('distributed http2', 'etcd3 txn')}`)
} finally {
  await repE?.close().catch(() => {})
  await repH?.close().catch(() => {})
  kv?.close()
  etcd3?.close()
  await etcd.stop()
}
