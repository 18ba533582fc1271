/**
 * Issue 14, the 3-replica case: N replicas (fresh processes, bench/users-replica.mjs of a given
 * checkout) on one run of one etcd, M sequential now() each; prints calls/s (slowest replica),
 * each replica's calls-only CPU per call, etcd's CPU per slot (ETCD_PID set) and the Txns etcd
 * handled per slot (its /metrics).
 *
 *   node bench/three-replica-txns.mjs <etcd-endpoint> [N=3] [M=2000] [checkout=.]
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const [endpoint, nArg = '3', mArg = '2000', checkout = '.'] = process.argv.slice(2)
const N = Number(nArg), M = Number(mArg)
const txns = async () => {
  const text = await (await fetch(endpoint + '/metrics')).text()
  let n = 0
  for (const m of text.matchAll(/grpc_server_handled_total\{[^}]*grpc_method="Txn"[^}]*\} (\d+)/g)) n += Number(m[1])
  return n
}
const run = `t3-${process.pid}-${Date.now()}`
const script = resolve(join(checkout, 'bench/users-replica.mjs'))
const etcdCpuUs = () => {
  if (!process.env.ETCD_PID) return 0
  const f = readFileSync(`/proc/${process.env.ETCD_PID}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) * 1e4
}
const etcdBefore = etcdCpuUs()
const before = await txns()
const t0 = Number(process.hrtime.bigint()) / 1e3
const outs = await Promise.all(Array.from({ length: N }, () => new Promise((ok, fail) => {
  const p = spawn(process.execPath, [...(process.env.NODE_EXTRA ? process.env.NODE_EXTRA.split(' ') : []), script, run, String(M), endpoint, '--program', 'p'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  p.on('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`exit ${code}`))))
})))
const after = await txns()
const etcdAfter = etcdCpuUs()
const rows = outs.map((o) => JSON.parse(o.trim().split('\n').filter((l) => l.startsWith('{')).pop()))
const extra = outs.map((o) => o.trim().split('\n').filter((l) => !l.startsWith('{')).join(' '))
const last = Math.max(...rows.map((r) => r.lastCallUs))
console.log(JSON.stringify({
  callsPerS: Math.round(M / ((last - t0) / 1e6)),
  cpuUsPerCall: rows.map((r) => Math.round((r.cpuLastUs - r.cpuFirstUs) / M)),
  etcdCpuUsPerSlot: Math.round((etcdAfter - etcdBefore) / M),
  txnsPerSlot: +((after - before) / M).toFixed(3),
  digests: new Set(rows.map((r) => r.digest)).size,
  extra,
}))
