/**
 * The etcd cluster as the dashboard shows it: each member with its client URLs, whether it leads,
 * its database size and version. The member list comes from etcd's Cluster API; each member's status
 * from its own JSON gateway (POST <clientURL>/v3/maintenance/status), asked directly so that every
 * member reports its own size (a member that does not answer within a second shows as unreachable).
 */
import type { Etcd3 } from 'etcd3'

export interface EtcdMember {
  id: string
  name: string
  clientURLs: string[]
  reachable: boolean
  leader: boolean
  /** Database size in bytes (the file, including free pages), or null when unreachable. */
  dbSize: number | null
  /** Bytes in use in the database, or null. */
  dbSizeInUse: number | null
  version: string | null
}

interface StatusJson {
  header?: { member_id?: string }
  version?: string
  dbSize?: string
  dbSizeInUse?: string
  leader?: string
}

async function memberStatus(url: string): Promise<StatusJson | undefined> {
  try {
    const res = await fetch(new URL('/v3/maintenance/status', url), { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) })
    return res.ok ? ((await res.json()) as StatusJson) : undefined
  } catch {
    return undefined
  }
}

export async function etcdMembers(client: Etcd3): Promise<EtcdMember[]> {
  const list = await client.cluster.memberList({ linearizable: false })
  const statuses = await Promise.all(list.members.map((m) => (m.clientURLs[0] ? memberStatus(m.clientURLs[0]) : undefined)))
  const leader = statuses.find((s) => s?.leader && s.leader !== '0')?.leader
  return list.members.map((m, i) => {
    const s = statuses[i]
    return {
      id: String(m.ID),
      name: m.name,
      clientURLs: m.clientURLs,
      reachable: s !== undefined,
      leader: leader !== undefined && String(m.ID) === leader,
      dbSize: s?.dbSize !== undefined ? Number(s.dbSize) : null,
      dbSizeInUse: s?.dbSizeInUse !== undefined ? Number(s.dbSizeInUse) : null,
      version: s?.version ?? null,
    }
  })
}
