/**
 * Real etcd for tests: one member or a cluster on free 127.0.0.1 ports with temp data dirs.
 * Members can be stopped and started again (same data dir) to cut and restore quorum.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

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

export async function startCluster(size = 1, opts: { fsync?: boolean } = {}): Promise<Cluster> {
  const root = mkdtempSync(join(tmpdir(), 'repjs-etcd-'))
  const specs = []
  for (let i = 0; i < size; i++) specs.push({ name: `m${i}`, client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}` })
  const initial = specs.map((s) => `${s.name}=${s.peer}`).join(',')
  const members: Member[] = specs.map((s) => {
    const m: Member = {
      ...s,
      dataDir: join(root, s.name),
      async start() {
        const args = [
          '--name', s.name, '--data-dir', m.dataDir,
          '--listen-client-urls', s.client, '--advertise-client-urls', s.client,
          '--listen-peer-urls', s.peer, '--initial-advertise-peer-urls', s.peer,
          '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', root,
          '--heartbeat-interval', '50', '--election-timeout', '500',
          '--logger', 'zap', '--log-level', 'error',
        ]
        if (!opts.fsync) args.push('--unsafe-no-fsync')
        m.proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] })
        m.proc.stderr!.resume()
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
  await Promise.all(members.map((m) => waitHealthy(m.client)))
  return {
    members,
    endpoints: members.map((m) => m.client),
    endpoint: members[0]!.client,
    async stop() {
      await Promise.all(members.map((m) => m.stop()))
      rmSync(root, { recursive: true, force: true })
    },
  }
}

let counter = 0
/** A run id unique to this test process. */
export function uniqueRun(prefix = 'run'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`
}
