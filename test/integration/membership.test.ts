/**
 * A live run survives etcd membership changes: 3 Node replicas talking to etcd directly and one
 * through a gateway make calls while the cluster grows from 1 to 3 to 5 members, shrinks back to 3
 * (the leader and the first member removed), and a member whose data dir is deleted is replaced.
 * Every replica prints the same complete sequence of agreed values; the log holds exactly the
 * calls made (none lost, none repeated); the run-once appends ran once each.
 *
 * Clients are given the client URLs of every member the cluster will have (5 reserved ports): a
 * URL with no member behind it is skipped (connection refused: the next one is tried), so nobody
 * is reconfigured while members come and go; a replaced member takes over its predecessor's URLs.
 * REPJS_LONG: more replicas and two rounds of changes (the second 3 -> 5 -> 3 and another replacement).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Etcd3 } from 'etcd3'
import { listMembers } from '../../node-gateway/etcd/members.js'
import { slotPrefix } from '../../node-gateway/store/keys.js'
import { freePort, startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { spawnGateway, type GatewayProc } from '../helpers/gateway.js'
import { startReplica, type ReplicaProc } from '../helpers/replicas.js'
import { tempDir } from '../helpers/run-script.js'

const LONG = Boolean(process.env.REPJS_LONG)
const DIRECT = LONG ? 5 : 3
const ROUNDS = LONG ? 2 : 1
const MAX_MEMBERS = 5

describe('membership changes under a live run', () => {
  let cluster: Cluster | undefined
  let gateway: GatewayProc | undefined
  const replicas: ReplicaProc[] = []
  const dir = tempDir('repjs-membership-')
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.kill()))
    await gateway?.kill()
    await cluster?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`1 -> 3 -> 5 -> 3 members (leader removed) and a member replaced, ${DIRECT} direct replicas + 1 via a gateway: identical, complete transcripts`, async () => {
    const ports = await Promise.all(Array.from({ length: MAX_MEMBERS }, async () => ({ client: await freePort(), peer: await freePort() })))
    const urls = ports.map((p) => `http://127.0.0.1:${p.client}`)
    cluster = await startCluster(1, { ports: ports.slice(0, 1) })
    const c = cluster
    gateway = await spawnGateway(urls.join(','))
    const run = uniqueRun('membership')
    const env = { REPJS_RUN: run, MEMBERSHIP_FILE: join(dir, 'appends'), MEMBERSHIP_STOP: join(dir, 'stop') }
    for (let i = 0; i < DIRECT; i++) replicas.push(startReplica('membership.mjs', { ...env, REPJS_ETCD: urls.join(',') }))
    replicas.push(startReplica('membership.mjs', { ...env, REPJS_GATEWAY: gateway.url }))

    /** Every replica makes `n` more calls (proof that calls go on after a change). */
    const progress = async (what: string, n = 5) => {
      const have = replicas.map((r) => r.stdout.split('\n').filter(Boolean).length)
      await Promise.all(replicas.map((r, i) => r.lines(have[i]! + n)))
      const members = await listMembers(c.endpoints)
      expect(members.map((m) => m.name).sort(), what).toEqual(c.members.map((m) => m.name).sort())
      expect(members.filter((m) => m.leader), what).toHaveLength(1)
    }
    /** A reserved port pair no current member uses. */
    const freeSlot = () => {
      const used = new Set(c.members.map((m) => m.client))
      return ports.find((p) => !used.has(`http://127.0.0.1:${p.client}`))!
    }
    const grow = async () => {
      const p = freeSlot()
      await c.addMember({ clientPort: p.client, peerPort: p.peer })
    }
    const leaderName = async () => (await listMembers(c.endpoints)).find((m) => m.leader)!.name

    await progress('1 member')
    for (let round = 0; round < ROUNDS; round++) {
      while (c.members.length < 3) await grow()
      await progress('3 members')
      while (c.members.length < 5) await grow()
      await progress('5 members')
      await c.removeMember(await leaderName())
      await progress('4 members, the leader removed')
      const first = c.members.find((m) => m.name === 'm0')
      await c.removeMember(first ?? (await leaderName()))
      await progress('3 members')

      // A member loses its disk: killed, its data dir deleted; a new member takes its URLs.
      const lost = c.members[0]!
      await lost.stop()
      rmSync(lost.dataDir, { recursive: true, force: true })
      await progress('3 members, one down')
      const fresh = await c.replaceMember(lost)
      expect(fresh.client).toBe(lost.client)
      await progress('3 members, one replaced')
    }

    // The replicas agree to stop; each then has the whole run.
    writeFileSync(env.MEMBERSHIP_STOP, '')
    const codes = await Promise.all(replicas.map((r) => r.exited))
    expect(codes, replicas.map((r) => r.stderr).join('\n')).toEqual(replicas.map(() => 0))
    const transcripts = replicas.map((r) => r.stdout)
    for (const t of transcripts) expect(t).toBe(transcripts[0])
    const lines = transcripts[0]!.trim().split('\n')
    const steps = lines.length
    expect(lines.map((l) => Number(l.split(' ')[0]))).toEqual(Array.from({ length: steps }, (_, i) => i))
    expect(new Set(lines.map((l) => l.split(' ')[1])).size).toBe(steps) // a fresh agreed id per step

    // The log holds exactly the calls made: tick + stop? per step, and an append every 5th step.
    const appends = Math.ceil(steps / 5)
    const kv = new Etcd3({ hosts: c.endpoints })
    const slots = await kv.getAll().prefix(slotPrefix(run, 'main')).count()
    kv.close()
    expect(slots).toBe(2 * steps + appends)
    // Each run-once append ran exactly once.
    expect(readFileSync(env.MEMBERSHIP_FILE, 'utf8').trim().split('\n').map(Number)).toEqual(Array.from({ length: appends }, (_, i) => i * 5))
    console.log(`membership: ${steps} steps x ${replicas.length} replicas through ${ROUNDS} round(s) of 1->3->5->3 and a replacement`)
  }, LONG ? 300_000 : 150_000) // about 45 s here: etcd takes a membership change only 5 s after the last member started
})
