/**
 * What the benchmark reads off the etcd it runs (started with the library's `startCluster`, see
 * node-gateway/etcd/local-etcd.ts): the version, counters from /metrics (Txn/Range RPCs, WAL fsyncs,
 * raft proposals) and the member's CPU time from /proc.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** First line of `etcd --version`. */
export function etcdVersion() {
  try {
    return execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim()
  } catch (err) {
    return `unknown (${err.message})`
  }
}

const METRICS = {
  txn: /^grpc_server_handled_total\{grpc_code="OK",grpc_method="Txn",[^}]*\} (\S+)$/,
  range: /^grpc_server_handled_total\{grpc_code="OK",grpc_method="Range",[^}]*\} (\S+)$/,
  walFsyncs: /^etcd_disk_wal_fsync_duration_seconds_count (\S+)$/,
  walFsyncSeconds: /^etcd_disk_wal_fsync_duration_seconds_sum (\S+)$/,
  proposals: /^etcd_server_proposals_committed_total (\S+)$/,
}

/** A few counters from an etcd member's /metrics (Prometheus text). Missing ones are 0. */
export async function etcdMetrics(url) {
  const out = Object.fromEntries(Object.keys(METRICS).map((k) => [k, 0]))
  try {
    const text = await (await fetch(`${url}/metrics`)).text()
    for (const line of text.split('\n')) {
      for (const [k, re] of Object.entries(METRICS)) {
        const m = re.exec(line)
        if (m) out[k] += Number(m[1])
      }
    }
  } catch {
    /* metrics are informational */
  }
  return out
}

/** b - a per unit, for each counter. */
export function metricsDelta(a, b, per = 1) {
  return Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] - (a[k] ?? 0)) / per]))
}

let clkTck
/** CPU time (user + system, ms) used so far by a process, from /proc (Linux); undefined elsewhere. */
export function processCpuMs(pid) {
  try {
    clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clkTck
  } catch {
    return undefined
  }
}

/** Probes for one member of a `startCluster` cluster: { endpoint, pid, metrics(), cpuMs() }. */
export function observe(member) {
  const pid = member.proc?.pid
  return {
    endpoint: member.client,
    pid,
    /** Counters from etcd's /metrics: Txn and Range RPCs served, WAL fsyncs, raft proposals committed. */
    metrics: () => etcdMetrics(member.client),
    /** CPU ms etcd has used so far (Linux), or undefined. */
    cpuMs: () => (pid === undefined ? undefined : processCpuMs(pid)),
  }
}
