/**
 * The local multi-member etcd of `repjs etcd` and `repjs start --members N`: members m0..m(N-1)
 * on 127.0.0.1, member m0's client port given (default 2379), the others on free ports, data in
 * DIR/m<i>. With a kept data dir the ports go to DIR/cluster.json, so the same cluster starts
 * again on them (etcd keeps its members' peer URLs in its data). Prints the endpoints and the Raft
 * and compaction flags in use.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { portInUse, startCluster, type Cluster } from '../etcd/local-etcd.js'
import { AUTO_COMPACTION, compactionFlags, raftProfile } from '../etcd/profiles.js'

export interface LocalClusterOptions {
  members: number
  profile?: string
  /** Kept data dir (default: a temp dir removed on stop). */
  dataDir?: string
  /** Client port of member m0. */
  port: number
  /** Where the summary lines go. */
  print: (line: string) => void
}

interface SavedCluster {
  members: Array<{ name: string; client: number; peer: number }>
}

/** A port number from a flag, or undefined when absent. */
export function portNumber(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--${flag} must be a port number, got '${String(v)}'`)
  return n
}

/** A member count from a flag. */
export function memberCount(v: unknown): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--members must be 1 to 9 (an odd number keeps a majority best: 1, 3, 5), got '${String(v)}'`)
  return n
}

export async function startLocalCluster(o: LocalClusterOptions): Promise<Cluster> {
  if (o.profile !== undefined) raftProfile(o.profile) // an unknown one fails before anything starts
  const file = o.dataDir && join(o.dataDir, 'cluster.json')
  let saved: SavedCluster | undefined
  if (file && existsSync(file)) {
    saved = JSON.parse(readFileSync(file, 'utf8')) as SavedCluster
    if (saved.members.length !== o.members) {
      throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `${o.dataDir} holds a ${saved.members.length}-member cluster: start it with --members ${saved.members.length}, or use another --data`)
    }
  }
  const first = saved ? saved.members[0]!.client : o.port
  if (await portInUse(first)) {
    throw new RepJSError(ErrorCodes.SETUP, `port ${first} is in use (another etcd? another repjs start?). Stop it, or pick another port: --port 23790`)
  }
  const cluster = await startCluster(o.members, {
    profile: o.profile, dataDir: o.dataDir, fsync: true, clientPort: o.port,
    ports: saved?.members.map((m) => ({ client: m.client, peer: m.peer })),
  })
  if (file && !saved) {
    mkdirSync(o.dataDir!, { recursive: true })
    const port = (u: string) => Number(new URL(u).port)
    const members = cluster.members.map((m) => ({ name: m.name, client: port(m.client), peer: port(m.peer) }))
    writeFileSync(file, JSON.stringify({ members } satisfies SavedCluster, null, 2) + '\n')
  }
  const t = cluster.timing
  o.print(`etcd: ${cluster.members.length} member${cluster.members.length > 1 ? 's' : ''} (data in ${o.dataDir ?? 'a temp dir, removed on stop'})`)
  o.print(`Endpoints: ${cluster.endpoints.join(',')}`)
  o.print(`Raft: --heartbeat-interval ${t.heartbeatMs} --election-timeout ${t.electionMs} (${o.profile ? `profile ${o.profile}` : 'no --profile: one-machine timing'}; RTT ${t.rtt})`)
  o.print(`Compaction: ${compactionFlags(AUTO_COMPACTION).join(' ')}`)
  return cluster
}
