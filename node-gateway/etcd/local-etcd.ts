/**
 * A local etcd: one member or a cluster on free 127.0.0.1 ports (or given ones) with its own data
 * dirs. Used by `npm start`, `repjs etcd`, the tests and the benchmark. Members can be stopped and
 * started again (same data dir) to cut and restore quorum, and added, removed or replaced while the
 * cluster runs (etcd's member API, `members.ts`). Raft timings come from a profile (`profiles.ts`;
 * 50 / 500 ms without one) and history is auto-compacted. Stops only the processes it started, by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addMember, removeMember, untilReady } from './members.js'
import { AUTO_COMPACTION, TEST_TIMING, compactionFlags, raftFlags, raftProfile, type RaftProfile } from './profiles.js'

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
  /** The etcd arguments this member is started with. */
  readonly args: string[]
  start(): Promise<void>
  stop(): Promise<void>
}

export interface Cluster {
  /** The current members (changes with addMember / removeMember / replaceMember). */
  members: Member[]
  /** The current members' client URLs. */
  readonly endpoints: string[]
  /** The first current member's client URL. */
  readonly endpoint: string
  /** The Raft timing in use. */
  readonly timing: RaftProfile
  /** The etcd flags every member gets beyond its names and URLs: Raft timing, auto-compaction, extraArgs. */
  readonly flags: string[]
  /** Add a member (etcd member add), start it with `--initial-cluster-state existing`, wait until healthy. */
  addMember(opts?: AddOptions): Promise<Member>
  /** Remove a member from the cluster (etcd member remove), stop its process, delete its data dir. */
  removeMember(member: Member | string): Promise<void>
  /**
   * Replace a member that lost its data (or its machine): remove it from the cluster, then add a new
   * member with a new name and an empty data dir on the same client and peer URLs, and start it.
   */
  replaceMember(member: Member | string): Promise<Member>
  stop(): Promise<void>
}

export interface AddOptions {
  name?: string
  clientPort?: number
  peerPort?: number
}

/** Resolves once the member answers /health (it has a leader and no alarm). */
export async function waitHealthy(url: string, ms = 15000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })
      if (res.ok) return
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error(`etcd at ${url} did not become healthy`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A member's process exited before it served: on chosen free ports, most likely another process took one first. */
class MemberExited extends Error {}

/** True if the etcd answering at `client` lists member `name` with peer URL `peer` (its own cluster). */
async function answersAs(client: string, name: string, peer: string): Promise<boolean> {
  try {
    const res = await fetch(`${client}/v3/cluster/member/list`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) })
    const list = (await res.json()) as { members?: Array<{ name?: string; peerURLs?: string[] }> }
    return !!list.members?.some((x) => x.name === name && x.peerURLs?.includes(peer))
  } catch {
    return false
  }
}

/**
 * Wait until member `m` is healthy and answers as itself. A free port is found by binding it and
 * letting it go (freePort), so another process (another test's etcd, a proxy) can take it before
 * etcd binds it: etcd then exits, and whatever holds the port would pass a bare /health check in
 * its place (a test then stops the wrong process and talks to a stranger). MemberExited if the
 * process ends first.
 */
async function waitServing(m: Member, advertisedPeer: string, ms = 15000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    const p = m.proc
    if (p && (p.exitCode !== null || p.signalCode !== null)) throw new MemberExited(`etcd ${m.name} exited before serving on ${m.client} (another process may have taken its port)`)
    if ((await waitHealthy(m.client, 0).then(() => true, () => false)) && (await answersAs(m.client, m.name, advertisedPeer))) return
    if (Date.now() > until) throw new Error(`etcd ${m.name} at ${m.client} did not become healthy as itself`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A member process to start and stop (by PID) with these etcd arguments. */
export function localMember(o: { name: string; client: string; peer: string; dataDir: string; args: string[]; onLog?: (line: string) => void }): Member {
  const m: Member = {
    name: o.name, client: o.client, peer: o.peer, dataDir: o.dataDir, args: o.args,
    async start() {
      const proc = spawn('etcd', o.args, { stdio: ['ignore', 'ignore', 'pipe'] })
      m.proc = proc
      running.add(proc)
      proc.once('exit', () => running.delete(proc))
      proc.on('error', (err) => o.onLog?.(`etcd failed to start: ${err.message}`))
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => o.onLog?.(d))
    },
    async stop() {
      const p = m.proc
      m.proc = undefined
      if (!p || p.exitCode !== null || p.signalCode !== null) return
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve())
        p.kill('SIGKILL')
      })
    },
  }
  return m
}

/** SIGTERM each member by PID and wait for it (etcd flushes and exits); SIGKILL (Member.stop) after 5 s. */
export async function stopGracefully(members: Member[]): Promise<void> {
  const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null
  await Promise.all(
    members.map(async (m) => {
      const p: ChildProcess | undefined = m.proc
      if (!p || !alive(p)) return
      const exited = new Promise<void>((r) => p.once('exit', () => r()))
      p.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (alive(p)) await m.stop()
    }),
  )
}

export interface ClusterOptions {
  /** fsync on (default false: tests and benchmarks of the engine, not of the disk). */
  fsync?: boolean
  /** Keep data here (and keep it on stop) instead of a temp dir that is removed on stop. */
  dataDir?: string
  /** Client port of the first member (default: a free port). */
  clientPort?: number
  /** Client and peer ports of each initial member (default: free ports), e.g. to restart a cluster kept in dataDir. */
  ports?: Array<{ client: number; peer: number }>
  /** Starts on fresh free ports if a chosen one was taken before etcd bound it (default 3; internal). */
  portAttempts?: number
  /** Where etcd's own log goes (default: discarded). */
  onLog?: (line: string) => void
  /** More etcd flags for every member, after RepJS's own (so they win), e.g. ['--quota-backend-bytes', '1048576']. */
  extraArgs?: string[]
  /** The peer URL a member advertises (default: the one it listens on), e.g. a fault proxy in front of it. */
  advertisePeer?: (member: { name: string; peer: string }) => Promise<string>
  /** Raft timing profile (profiles.ts): lan, continental, us-japan, global. Default: 50 / 500 ms (tests). */
  profile?: string
  /** etcd auto-compaction (default AUTO_COMPACTION: keep the last 10,000 revisions); false: off. */
  autoCompaction?: { mode: 'revision' | 'periodic'; retention: string } | false
}

interface Spec {
  name: string
  client: string
  peer: string
  advertised: string
}

export async function startCluster(size = 1, opts: ClusterOptions = {}): Promise<Cluster> {
  const timing = opts.profile === undefined ? TEST_TIMING : raftProfile(opts.profile)
  const root = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'repjs-etcd-'))
  mkdirSync(root, { recursive: true })
  const flags = [
    ...raftFlags(timing),
    ...(opts.autoCompaction === false ? [] : compactionFlags(opts.autoCompaction ?? AUTO_COMPACTION)),
    ...(opts.fsync ? [] : ['--unsafe-no-fsync']),
    ...(opts.extraArgs ?? []),
  ]
  const url = (port: number) => `http://127.0.0.1:${port}`
  const spec = async (name: string, clientPort?: number, peerPort?: number): Promise<Spec> => {
    const s = { name, client: url(clientPort ?? (await freePort())), peer: url(peerPort ?? (await freePort())) }
    return { ...s, advertised: opts.advertisePeer ? await opts.advertisePeer(s) : s.peer }
  }
  const specs: Spec[] = []
  for (let i = 0; i < size; i++) {
    const p = opts.ports?.[i]
    specs.push(await spec(`m${i}`, p?.client ?? (i === 0 ? opts.clientPort : undefined), p?.peer))
  }
  const token = `repjs-${specs[0]!.peer}`
  const initial = specs.map((s) => `${s.name}=${s.advertised}`).join(',')

  const member = (s: Spec, initialCluster: string, state: 'new' | 'existing'): Member => {
    const args = [
      '--name', s.name, '--data-dir', join(root, s.name),
      '--listen-client-urls', s.client, '--advertise-client-urls', s.client,
      '--listen-peer-urls', s.peer, '--initial-advertise-peer-urls', s.advertised,
      '--initial-cluster', initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', token,
      '--logger', 'zap', '--log-level', 'error',
      ...flags,
    ]
    return localMember({ name: s.name, client: s.client, peer: s.peer, dataDir: join(root, s.name), args, onLog: opts.onLog })
  }

  const members: Member[] = specs.map((s) => member(s, initial, 'new'))
  await Promise.all(members.map((m) => m.start()))
  try {
    await Promise.all(members.map((m, i) => waitServing(m, specs[i]!.advertised)))
  } catch (err) {
    await Promise.all(members.map((m) => m.stop()))
    // A chosen free port was taken before etcd bound it: start again on other free ports.
    const chosen = !opts.ports && opts.clientPort === undefined && !opts.dataDir
    if (err instanceof MemberExited && chosen && (opts.portAttempts ?? 3) > 1) {
      rmSync(root, { recursive: true, force: true })
      return startCluster(size, { ...opts, portAttempts: (opts.portAttempts ?? 3) - 1 })
    }
    throw err
  }

  let next = size
  const nameFree = (n: string) => !members.some((m) => m.name === n)
  const freshName = () => {
    while (!nameFree(`m${next}`)) next++
    return `m${next++}`
  }
  const find = (who: Member | string) => {
    const m = typeof who === 'string' ? members.find((x) => x.name === who) : who
    if (!m || !members.includes(m)) throw new Error(`no member ${typeof who === 'string' ? who : who.name} in this local cluster`)
    return m
  }
  /** Client URLs to send a membership change to: the running members other than `except`. */
  const others = (except?: Member) => members.filter((m) => m !== except && m.proc).map((m) => m.client)
  const drop = async (m: Member) => {
    await untilReady(() => removeMember(others(m), m.name))
    await m.stop()
    members.splice(members.indexOf(m), 1)
    rmSync(m.dataDir, { recursive: true, force: true })
  }
  const add = async (o: AddOptions = {}, attempts = 3): Promise<Member> => {
    const name = o.name ?? freshName()
    const s = await spec(name, o.clientPort, o.peerPort)
    const added = await untilReady(() => addMember(others(), name, s.advertised))
    const m = member(s, added.initialCluster, 'existing')
    members.push(m)
    await m.start()
    try {
      await waitServing(m, s.advertised)
    } catch (err) {
      // A chosen free port was taken before etcd bound it: take the member out again (by its peer
      // URL: it never started, so it has no name in the list) and add it on other free ports.
      const chosen = o.clientPort === undefined && o.peerPort === undefined
      if (!(err instanceof MemberExited) || !chosen || attempts <= 1) throw err
      await untilReady(() => removeMember(others(m), s.advertised))
      await m.stop()
      members.splice(members.indexOf(m), 1)
      rmSync(m.dataDir, { recursive: true, force: true })
      return add({ ...o, name }, attempts - 1)
    }
    return m
  }

  return {
    members,
    get endpoints() {
      return members.map((m) => m.client)
    },
    get endpoint() {
      return members[0]!.client
    },
    timing,
    flags,
    addMember: add,
    removeMember: (who) => drop(find(who)),
    async replaceMember(who) {
      const old = find(who)
      const port = (u: string) => Number(new URL(u).port)
      await drop(old)
      return add({ clientPort: port(old.client), peerPort: port(old.peer) })
    },
    async stop() {
      await Promise.all(members.map((m) => m.stop()))
      if (!opts.dataDir) rmSync(root, { recursive: true, force: true })
    },
  }
}
