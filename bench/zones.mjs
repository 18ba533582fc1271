/**
 * A simulated multi-zone etcd cluster on 127.0.0.1 for bench/replicas.mjs (the paper's Figure 2).
 *
 * Member i (0-based) sits in zone ZONE_OF(i): 0-7 "west", 8-11 "central", 12-15 "east", like the
 * paper's 8 + 4 + 4 Google Cloud machines. Every member advertises a peer URL that is a TCP proxy
 * in this process in front of its real peer listener. etcd's peer transport (rafthttp) sends the
 * sender's member ID in an `X-Server-From` header on every request, and a TCP connection to a peer
 * always comes from one member, so the proxy reads that header off the first request of each
 * connection and from then on delays both directions of the connection by the one-way delay
 * between the two members' zones (ONE_WAY_MS). Member IDs are computed the way etcd does
 * (sha1 of the sorted peer URLs + cluster token, first 8 bytes) and checked against etcd's own.
 * Each replica talks to its own member through a client proxy (same zone).
 *
 * Delays of 1 ms and more are setTimeout()s (in order, >= the delay); in-zone links (0.25 ms one
 * way in the paper's setting) get no timer: the proxy hop itself (two loopback hops and a pass
 * through this event loop) is the in-zone delay.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../dist/node-gateway/etcd/local-etcd.js'
import { killChild, spawnTracked } from './lib.mjs'

export const ZONE_OF = (i) => (i < 8 ? 'west' : i < 12 ? 'central' : 'east')
/** One-way delay in ms between two zones. */
export const ONE_WAY_MS = {
  'west-west': 0.25, 'central-central': 0.25, 'east-east': 0.25,
  'west-central': 18, 'west-east': 30, 'central-east': 12,
}
export const oneWay = (a, b) => ONE_WAY_MS[`${a}-${b}`] ?? ONE_WAY_MS[`${b}-${a}`]
export const HEARTBEAT_MS = 100
export const ELECTION_MS = 1000

/** etcd's member ID for a member of a new cluster (membership.NewMember with now = nil), hex. */
export function memberId(peerUrls, token) {
  const b = Buffer.concat([...peerUrls].sort().map((u) => Buffer.from(u)).concat(Buffer.from(token)))
  return createHash('sha1').update(b).digest().readBigUInt64BE(0).toString(16)
}

/** A proxy 127.0.0.1:listen -> 127.0.0.1:target. `delayFor(firstBytes)` picks a connection's one-way delay. */
async function startProxy(target, delayFor) {
  const sockets = new Set()
  const server = createServer((client) => {
    const upstream = connect(target(), '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.once('close', () => sockets.delete(s))
      s.setNoDelay(true)
    }
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    let delay
    let head = Buffer.alloc(0)
    const pass = (to, d) => (delay >= 1 ? setTimeout(() => to.destroyed || to.write(d), delay) : to.write(d))
    client.on('data', (d) => {
      if (delay === undefined) {
        head = Buffer.concat([head, d])
        if (head.indexOf('\r\n\r\n') < 0 && head.length < 16384) return
        delay = delayFor(head)
        d = head
      }
      pass(upstream, d)
    })
    upstream.on('data', (d) => pass(client, d))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: server.address().port,
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((r) => server.close(() => r()))
    },
  }
}

const run = (cmd, args, ms = 15000) =>
  new Promise((resolve, reject) => execFile(cmd, args, { timeout: ms, encoding: 'utf8' }, (err, out, errOut) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${errOut || err.message}`)) : resolve(out))))

/**
 * `size` members, member i in ZONE_OF(i), fsync as asked. Returns { members: [{ name, zone, id,
 * client (real), clientProxy (what replica i uses), pid }], leader(), moveLeaderTo(i), stop() }.
 */
export async function startZonedCluster(size, { fsync = false } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'repjs-zones-'))
  const token = `repjs-zones-${process.pid}-${Date.now()}`
  const proxies = []
  const procs = []
  const members = []
  try {
    for (let i = 0; i < size; i++) members.push({ name: `m${i}`, zone: ZONE_OF(i) })
    // Proxies first (their ports are the advertised peer URLs, which fix the member IDs), then
    // etcd's own ports, distinct from each other and from the proxies' (which are listening).
    const byId = new Map()
    for (const [i, m] of members.entries()) {
      const p = await startProxy(() => m.peerPort, (head) => {
        const from = /\r\nX-Server-From: *([0-9a-fA-F]+)/i.exec(head.toString('latin1'))?.[1]?.toLowerCase()
        const src = from === undefined ? undefined : byId.get(from)
        // etcd's /members, /version and probing requests carry no sender: no delay
        if (src === undefined) return 0
        return oneWay(members[src].zone, members[i].zone)
      })
      proxies.push(p)
      m.peer = `http://127.0.0.1:${p.port}`
    }
    for (const [i, m] of members.entries()) {
      m.id = memberId([m.peer], token)
      byId.set(m.id, i)
    }
    for (const m of members) {
      const p = await startProxy(() => m.clientPort, () => oneWay(m.zone, m.zone))
      proxies.push(p)
      m.clientProxy = `http://127.0.0.1:${p.port}`
    }
    const taken = new Set()
    const port = async () => {
      for (;;) {
        const q = await freePort()
        if (!taken.has(q)) return taken.add(q), q
      }
    }
    for (const m of members) {
      m.clientPort = await port()
      m.peerPort = await port()
      m.client = `http://127.0.0.1:${m.clientPort}`
    }
    const initial = members.map((m) => `${m.name}=${m.peer}`).join(',')
    for (const m of members) {
      const args = [
        '--name', m.name, '--data-dir', join(root, m.name),
        '--listen-client-urls', m.client, '--advertise-client-urls', m.clientProxy,
        '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`, '--initial-advertise-peer-urls', m.peer,
        '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
        '--heartbeat-interval', String(HEARTBEAT_MS), '--election-timeout', String(ELECTION_MS),
        '--logger', 'zap', '--log-level', 'error',
      ]
      if (!fsync) args.push('--unsafe-no-fsync')
      const proc = spawnTracked('etcd', args, { stdio: 'ignore' })
      procs.push(proc)
      m.pid = proc.pid
    }
    const until = Date.now() + 60_000
    for (const m of members) {
      for (;;) {
        try {
          if ((await fetch(`${m.client}/health`)).ok) break
        } catch {
          /* not up */
        }
        if (Date.now() > until) throw new Error(`the ${size}-member zoned cluster did not become healthy within 60 s (member ${m.name})`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (err) {
    await stopAll()
    throw err
  }

  async function stopAll() {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve()
            p.once('exit', resolve)
            killChild(p)
          }),
      ),
    )
    await Promise.all(proxies.map((p) => p.close()))
    rmSync(root, { recursive: true, force: true })
  }

  /** { leaderIndex, term, idsMatch } from `etcdctl endpoint status` on every member (direct URLs). */
  async function status() {
    const out = await run('etcdctl', ['--endpoints', members.map((m) => m.client).join(','), 'endpoint', 'status', '-w', 'simple'])
    let leaderId
    const seen = new Set()
    for (const line of out.trim().split('\n')) {
      const f = line.split(',').map((s) => s.trim())
      // endpoint, ID, version, db size, is leader, is learner, raft term, raft index, applied index, errors
      seen.add(f[1])
      if (f[4] === 'true') leaderId = f[1]
    }
    const idsMatch = members.every((m) => seen.has(m.id))
    const leaderIndex = members.findIndex((m) => m.id === leaderId)
    return { leaderId, leaderIndex, idsMatch }
  }

  return {
    members,
    status,
    pids: () => members.map((m) => m.pid),
    /** Moves the raft leader to member `i` with `etcdctl move-leader` (sent to the current leader). */
    async moveLeaderTo(i) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const s = await status()
        if (s.leaderIndex === i) return { moved: attempt > 0, attempts: attempt }
        if (s.leaderIndex >= 0) {
          await run('etcdctl', ['--endpoints', members[s.leaderIndex].client, 'move-leader', members[i].id]).catch(() => {})
        }
        await new Promise((r) => setTimeout(r, 500))
      }
      const s = await status()
      if (s.leaderIndex !== i) throw new Error(`could not move the etcd leader to ${members[i].name} (leader is ${members[s.leaderIndex]?.name ?? s.leaderId})`)
      return { moved: true, attempts: 5 }
    },
    stop: stopAll,
  }
}
