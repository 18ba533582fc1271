/**
 * A local cluster shrinks, grows and repairs itself through etcd's member API (local-etcd.ts +
 * members.ts), and keeps its data. Long form only: membership.test.ts covers the same changes under
 * a live run in npm test.
 */
import { rmSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { Etcd3 } from 'etcd3'
import { listMembers } from '../../node-gateway/etcd/members.js'
import { startCluster, type Cluster } from '../helpers/etcd.js'

describe('local cluster membership', () => {
  let c: Cluster | undefined
  afterAll(async () => {
    await c?.stop()
  })

  it.skipIf(!process.env.REPJS_LONG)('removes the leader, adds a member, replaces a member whose data dir was deleted; the data stays', async () => {
    c = await startCluster(3)
    const kv = new Etcd3({ hosts: c.endpoints })
    await kv.put('k').value('v1')
    kv.close()

    let list = await listMembers(c.endpoints)
    expect(list.map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2'])
    expect(list.filter((m) => m.leader)).toHaveLength(1)
    expect(list.every((m) => m.dbSize !== null && m.dbSize > 0)).toBe(true)

    const leader = list.find((m) => m.leader)!.name
    await c.removeMember(leader)
    list = await listMembers(c.endpoints)
    expect(list.map((m) => m.name)).not.toContain(leader)
    expect(list).toHaveLength(2)

    const added = await c.addMember()
    expect(added.name).toBe('m3')
    list = await listMembers(c.endpoints)
    expect(list.map((m) => m.name).sort()).toEqual(c.members.map((m) => m.name).sort())
    expect(list).toHaveLength(3)

    // A member loses its disk: killed, data dir deleted; replaced by a new member on its URLs.
    const lost = c.members[0]!
    await lost.stop()
    rmSync(lost.dataDir, { recursive: true, force: true })
    const fresh = await c.replaceMember(lost)
    expect(fresh.name).not.toBe(lost.name)
    expect(fresh.client).toBe(lost.client)
    list = await listMembers(c.endpoints)
    expect(list.map((m) => m.name).sort()).toEqual(c.members.map((m) => m.name).sort())

    // The new member has the data (read from it alone, serializable: its own copy).
    const one = new Etcd3({ hosts: fresh.client })
    expect(await one.get('k').serializable(true).string()).toBe('v1')
    one.close()
  })
})
