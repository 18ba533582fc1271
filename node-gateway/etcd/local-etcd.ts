/**
 * A local etcd: one member or a cluster on free 127.0.0.1 ports (or given ones) with its own data
 * dirs. Used by `npm start`, the tests and the benchmark. Members can be stopped and started again
 * (same data dir) to cut and restore quorum. Stops only the processes it started, by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Members still running when this process exits are killed with it (by PID, only our own). */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL')
})

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

/** True if something already listens on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(true))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)))
  })
}

export interface Member {
  name: string
  client: string
  peer: string
  dataDir: string
  proc?: ChildProcess
  start(): Promise<void>
  stop(): Promise<void>
}

export interface Cluster {
  members: Member[]
  /** Comma-free list of client URLs. */
  endpoints: string[]
  endpoint: string
  stop(): Promise<void>
}

async function waitHealthy(url: string, ms = 15000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok) return
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error(`etcd at ${url} did not become healthy`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export interface ClusterOptions {
  /** fsync on (default false: tests and benchmarks of the engine, not of the disk). */
  fsync?: boolean
  /** Keep data here (and keep it on stop) instead of a temp dir that is removed on stop. */
  dataDir?: string
  /** Client port of a single member (default: a free port). */
  clientPort?: number
  /** Where etcd's own log goes (default: discarded). */
  onLog?: (line: string) => void
  /** More etcd flags for every member, e.g. ['--quota-backend-bytes', '1048576']. */
  extraArgs?: string[]
  /** The peer URL a member advertises (default: the one it listens on), e.g. a fault proxy in front of it. */
  advertisePeer?: (member: { name: string; peer: string }) => Promise<string>
}

export async function startCluster(size = 1, opts: ClusterOptions = {}): Promise<Cluster> {
  const root = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'repjs-etcd-'))
  mkdirSync(root, { recursive: true })
  const specs: Array<{ name: string; client: string; peer: string; advertised: string }> = []
  for (let i = 0; i < size; i++) {
    const client = i === 0 && opts.clientPort ? opts.clientPort : await freePort()
    const spec = { name: `m${i}`, client: `http://127.0.0.1:${client}`, peer: `http://127.0.0.1:${await freePort()}` }
    specs.push({ ...spec, advertised: opts.advertisePeer ? await opts.advertisePeer(spec) : spec.peer })
  }
  const initial = specs.map((s) => `${s.name}=${s.advertised}`).join(',')
  const members: Member[] = specs.map((s) => {
    const m: Member = {
      name: s.name, client: s.client, peer: s.peer,
      dataDir: join(root, s.name),
      async start() {
        const args = [
          '--name', s.name, '--data-dir', m.dataDir,
          '--listen-client-urls', s.client, '--advertise-client-urls', s.client,
          '--listen-peer-urls', s.peer, '--initial-advertise-peer-urls', s.advertised,
          '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `repjs-${specs[0]!.peer}`,
          '--heartbeat-interval', '50', '--election-timeout', '500',
          '--logger', 'zap', '--log-level', 'error',
        ]
        if (!opts.fsync) args.push('--unsafe-no-fsync')
        args.push(...(opts.extraArgs ?? []))
        const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] })
        m.proc = proc
        running.add(proc)
        proc.once('exit', () => running.delete(proc))
        m.proc.on('error', (err) => opts.onLog?.(`etcd failed to start: ${err.message}`))
        m.proc.stderr!.setEncoding('utf8').on('data', (d: string) => opts.onLog?.(d))
      },
      async stop() {
        const p = m.proc
        m.proc = undefined
        if (!p || p.exitCode !== null) return
        await new Promise<void>((resolve) => {
          p.once('exit', () => resolve())
          p.kill('SIGKILL')
        })
      },
    }
    return m
  })
  await Promise.all(members.map((m) => m.start()))
  try {
    await Promise.all(members.map((m) => waitHealthy(m.client)))
  } catch (err) {
    await Promise.all(members.map((m) => m.stop()))
    throw err
  }
  return {
    members,
    endpoints: members.map((m) => m.client),
    endpoint: members[0]!.client,
    async stop() {
      await Promise.all(members.map((m) => m.stop()))
      if (!opts.dataDir) rmSync(root, { recursive: true, force: true })
    },
  }
}

