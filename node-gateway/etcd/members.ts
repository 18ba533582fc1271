/**
 * etcd's member API for a running cluster (any cluster, not only one RepJS started): list the
 * members with their leader and database size, add one (etcd answers with the `--initial-cluster`
 * the new member must start with), remove one by name or id. Used by `repjs cluster` and by
 * `local-etcd.ts` to grow, shrink and repair a local cluster. Member ids are shown in hex, as
 * etcdctl shows them.
 */
import { Etcd3, type IMember } from 'etcd3'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { storeError } from '../store/etcd-errors.js'

export interface MemberInfo {
  /** Member id in hex (as etcdctl prints it). */
  id: string
  /** Empty for a member that was added but has not started yet. */
  name: string
  peerURLs: string[]
  clientURLs: string[]
  isLearner: boolean
  /** True for the member the others follow (per the first member that answered its status). */
  leader: boolean
  /** Backend database size in bytes (maintenance status), or null if the member did not answer. */
  dbSize: number | null
}

export interface AddedMember {
  id: string
  name: string
  peerURL: string
  /** `--initial-cluster` for the new member: every member's name=peerURL, the new one included. */
  initialCluster: string
}

const CALL_MS = 5000
/** etcd's strict reconfiguration check: a member started under 5 s ago, or a change that would cost the quorum. */
const UNHEALTHY = /unhealthy cluster/i
const hex = (id: string | number) => BigInt(id).toString(16)

function client(endpoints: string[]): Etcd3 {
  return new Etcd3({ hosts: endpoints, dialTimeout: CALL_MS, defaultCallOptions: () => ({ deadline: Date.now() + CALL_MS }) })
}

async function withClient<T>(endpoints: string[], what: string, fn: (c: Etcd3) => Promise<T>): Promise<T> {
  if (endpoints.length === 0) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `${what} needs the cluster's client URLs: --etcd URL[,URL]`)
  const c = client(endpoints)
  try {
    return await fn(c)
  } catch (err) {
    if (RepJSError.is(err)) throw err
    if (UNHEALTHY.test((err as Error).message)) {
      throw new RepJSError(
        ErrorCodes.MEMBERSHIP,
        `etcd refused ${what}: ${(err as Error).message}. etcd changes membership only while every member it counts on has been ` +
          `connected for 5 s and the change keeps a quorum: start the member added last (or wait a few seconds after it started), then retry.`,
        { cause: err, retryable: true },
      )
    }
    const e = storeError(err, what)
    if (e.code === ErrorCodes.UNAVAILABLE) {
      throw new RepJSError(ErrorCodes.UNAVAILABLE, `etcd cluster at ${endpoints.join(',')} is unreachable or has no quorum (${what}): ${(err as Error).message}. Check the --etcd URLs and that a majority of members runs.`, { cause: err, details: { endpoints } })
    }
    // etcd refused the change itself (unhealthy cluster, peer URL taken, member not found, ...).
    throw new RepJSError(ErrorCodes.MEMBERSHIP, `etcd refused ${what}: ${(err as Error).message}`, { cause: err })
  } finally {
    c.close()
  }
}

/**
 * A membership change, tried again while etcd says the cluster is not ready for it (a member
 * started under 5 s ago: etcd's strict reconfiguration check), for up to 20 s.
 */
export async function untilReady<T>(change: () => Promise<T>, onWait?: () => void): Promise<T> {
  const until = Date.now() + 20_000
  for (let waited = false; ; waited = true) {
    try {
      return await change()
    } catch (err) {
      if (!RepJSError.is(err, ErrorCodes.MEMBERSHIP) || !err.retryable || Date.now() > until) throw err
      if (!waited) onWait?.()
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}

/** The members as etcd lists them (linearizable: no stale list from a member cut off from the leader). */
export function memberList(endpoints: string[]): Promise<IMember[]> {
  return withClient(endpoints, 'listing the members', async (c) => (await c.cluster.memberList({ linearizable: true })).members)
}

/** Every member with its leader flag and database size (each started member's own status). */
export async function listMembers(endpoints: string[]): Promise<MemberInfo[]> {
  const members = await memberList(endpoints)
  const status = await Promise.all(
    members.map(async (m) => {
      if (m.clientURLs.length === 0) return null
      const c = client(m.clientURLs)
      try {
        return await c.maintenance.status()
      } catch {
        return null // down, or not caught up: shown without a size
      } finally {
        c.close()
      }
    }),
  )
  const leader = status.find((s) => s !== null)?.leader
  return members.map((m, i) => ({
    id: hex(m.ID),
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: Boolean(m.isLearner),
    leader: leader !== undefined && BigInt(leader) === BigInt(m.ID),
    dbSize: status[i] ? Number(status[i]!.dbSize) : null,
  }))
}

/**
 * The member `who` names: its name, its id (hex or decimal) or one of its peer URLs (a member added
 * but not started yet has no name); or REPJS_BAD_ARGUMENT naming those there are.
 */
export function findMember(members: IMember[], who: string): IMember {
  const byId = /^(0x)?[0-9a-f]+$/i.test(who) ? [hex(`0x${who.replace(/^0x/i, '')}`), ...(/^\d+$/.test(who) ? [hex(who)] : [])] : []
  const found = members.filter((m) => m.name === who || byId.includes(hex(m.ID)) || m.peerURLs.includes(who.replace(/\/$/, '')))
  if (found.length === 1) return found[0]!
  const there = members.map((m) => `${m.name || `(not started: ${m.peerURLs.join(',')})`} (${hex(m.ID)})`).join(', ')
  if (found.length === 0) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `no member '${who}' in the cluster (give a name, an id or a peer URL); its members: ${there}`, { details: { member: who } })
  throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `'${who}' names more than one member (${there}): give the id`, { details: { member: who } })
}

/** `--initial-cluster` from etcd's member list, with `name` for the member that has not started yet (`id`). */
export function initialCluster(members: IMember[], newId: string, name: string): string {
  return members
    .flatMap((m) => m.peerURLs.map((u) => `${BigInt(m.ID) === BigInt(newId) ? name : m.name}=${u}`))
    .join(',')
}

/**
 * Add a member that will listen on `peerURL` (step 1 of etcd's two: then start it with
 * `--initial-cluster-state existing` and the returned `--initial-cluster`).
 */
export function addMember(endpoints: string[], name: string, peerURL: string): Promise<AddedMember> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `member name must be 1-64 of [A-Za-z0-9._-], got '${name}'`)
  let url: URL
  try {
    url = new URL(peerURL)
  } catch {
    throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--peer-url must be a URL such as http://10.0.0.4:2380, got '${peerURL}'`)
  }
  return withClient(endpoints, `adding member ${name} (${peerURL})`, async (c) => {
    const list = (await c.cluster.memberList({ linearizable: true })).members
    if (list.some((m) => m.name === name)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `a member named '${name}' is already in the cluster: pick another --name`)
    const res = await c.cluster.memberAdd({ peerURLs: [url.href.replace(/\/$/, '')] })
    return { id: hex(res.member.ID), name, peerURL: res.member.peerURLs[0]!, initialCluster: initialCluster(res.members, res.member.ID, name) }
  })
}

/** Remove the member `who` names (name, id or peer URL); never the last one. Returns it. */
export function removeMember(endpoints: string[], who: string): Promise<IMember> {
  return withClient(endpoints, `removing member ${who}`, async (c) => {
    const list = (await c.cluster.memberList({ linearizable: true })).members
    const m = findMember(list, who)
    if (list.length === 1) {
      throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `'${who}' is the cluster's last member: removing it would end the cluster. Add another member first, or stop etcd instead.`, { details: { member: who } })
    }
    await c.cluster.memberRemove({ ID: m.ID })
    return m
  })
}

/** The etcd command line that starts a member added with `addMember`. */
export function memberCommand(o: { name: string; peerURL: string; clientURL: string; dataDir: string; initialCluster: string; flags?: string[] }): string[] {
  return [
    'etcd', '--name', o.name, '--data-dir', o.dataDir,
    '--listen-peer-urls', o.peerURL, '--initial-advertise-peer-urls', o.peerURL,
    '--listen-client-urls', o.clientURL, '--advertise-client-urls', o.clientURL,
    '--initial-cluster', o.initialCluster, '--initial-cluster-state', 'existing',
    ...(o.flags ?? []),
  ]
}
