/**
 * A single etcd member for the benchmark, spawned like test/helpers/etcd.ts does: free 127.0.0.1
 * ports, a temp data dir, fsync ON unless { fsync: false } (then --unsafe-no-fsync). Stopped by PID.
 */
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function waitHealthy(url, proc, ms = 15000) {
  const until = Date.now() + ms
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`etcd exited early with code ${proc.exitCode}`)
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok) return
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error(`etcd at ${url} did not become healthy within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

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

/**
 * Start one member. Returns { endpoint, pid, dataDir, fsync, stop() }.
 * A synchronous 'exit' hook also kills it by PID if the benchmark dies without calling stop().
 */
export async function startEtcd({ fsync = true } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'repjs-bench-etcd-'))
  const client = `http://127.0.0.1:${await freePort()}`
  const peer = `http://127.0.0.1:${await freePort()}`
  const args = [
    '--name', 'bench', '--data-dir', join(root, 'data'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `bench=${peer}`, '--initial-cluster-state', 'new', '--initial-cluster-token', root,
    '--heartbeat-interval', '50', '--election-timeout', '500',
    '--logger', 'zap', '--log-level', 'error',
  ]
  if (!fsync) args.push('--unsafe-no-fsync')
  const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d) => {
    if (stderr.length < 8000) stderr += d
  })
  const pid = proc.pid
  const killSync = () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        /* already gone */
      }
    }
    rmSync(root, { recursive: true, force: true })
  }
  process.once('exit', killSync)
  try {
    await waitHealthy(client, proc)
  } catch (err) {
    killSync()
    throw new Error(`${err.message}\n${stderr}`)
  }
  return {
    endpoint: client,
    pid,
    dataDir: join(root, 'data'),
    fsync,
    stderr: () => stderr,
    /** Counters from etcd's /metrics: Txn and Range RPCs served, WAL fsyncs, raft proposals committed. */
    metrics: () => etcdMetrics(client),
    /** CPU ms etcd has used so far (Linux), or undefined. */
    cpuMs: () => processCpuMs(pid),
    async stop() {
      process.removeListener('exit', killSync)
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise((resolve) => {
          proc.once('exit', () => resolve())
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            resolve()
          }
        })
      }
      rmSync(root, { recursive: true, force: true })
    },
  }
}
