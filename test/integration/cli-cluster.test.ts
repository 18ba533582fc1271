/**
 * `repjs etcd`, `repjs cluster` and `repjs start --members` as processes (dist/) against real etcd:
 * a 3-member dev cluster is listed; add-member prints the exact etcd command for a new member
 * (removed again by its peer URL: not started, it has no name yet) and with --start runs that command (removed by id); errors come with
 * codes; SIGTERM stops every member.
 */
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, startCluster, type Cluster } from '../helpers/etcd.js'
import { cli, outcome, tempDir, track, type Proc } from '../helpers/run-script.js'
import { portInUse } from '../../node-gateway/etcd/local-etcd.js'
import type { MemberInfo } from '../../node-gateway/etcd/members.js'

const repjs = (...args: string[]) => track(spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
const procs: Proc[] = []
const dir = tempDir('repjs-cli-cluster-')
let single: Cluster | undefined
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()))
  await single?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** `repjs cluster list --json` as rows. */
async function list(etcd: string): Promise<MemberInfo[]> {
  const o = await outcome(repjs('cluster', 'list', '--json', '--etcd', etcd))
  expect(o.code, o.stderr).toBe(0)
  return o.stdout.trim().split('\n').map((l) => JSON.parse(l))
}

describe('repjs etcd / repjs cluster', () => {
  it('a 3-member dev cluster: list, add (the printed command; --start runs it), remove by peer URL and by id, errors, SIGTERM', async () => {
    const port = await freePort()
    const etcd = repjs('etcd', '--members', '3', '--profile', 'continental', '--port', String(port))
    procs.push(etcd)
    const lines = await etcd.lines(5)
    expect(lines[2]).toBe('Raft: --heartbeat-interval 150 --election-timeout 1500 (profile continental; RTT ~135 ms (across a continent))')
    expect(lines[3]).toBe('Compaction: --auto-compaction-mode revision --auto-compaction-retention 10000')
    const endpoints = /^Endpoints: (\S+)$/.exec(lines[1]!)![1]!
    expect(endpoints.split(',')).toHaveLength(3)
    expect(endpoints.split(',')[0]).toBe(`http://127.0.0.1:${port}`)

    let members = await list(endpoints)
    expect(members.map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2'])
    expect(members.filter((m) => m.leader)).toHaveLength(1)
    expect(members.every((m) => (m.dbSize ?? 0) > 0)).toBe(true)
    const table = await outcome(repjs('cluster', 'list', '--etcd', endpoints))
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+PEER URLS\s+CLIENT URLS\s+LEADER\s+DB SIZE$/)
    expect(table.stdout).toMatch(/ leader +\d+ KiB/)

    // add-member prints the command for the new machine; removed again before it ever starts.
    const [peer, client] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`]
    const added = await outcome(repjs('cluster', 'add-member', '--etcd', endpoints, '--name', 'x1', '--peer-url', peer, '--client-url', client, '--data', join(dir, 'x1'), '--profile', 'continental'))
    expect(added.code, added.stderr).toBe(0)
    const command = added.stdout.split('\n')[1]!
    expect(command).toBe(
      `etcd --name x1 --data-dir ${join(dir, 'x1')} --listen-peer-urls ${peer} --initial-advertise-peer-urls ${peer} ` +
        `--listen-client-urls ${client} --advertise-client-urls ${client} --initial-cluster ${/--initial-cluster (\S+)/.exec(command)![1]} ` +
        `--initial-cluster-state existing --heartbeat-interval 150 --election-timeout 1500 --auto-compaction-mode revision --auto-compaction-retention 10000`,
    )
    const initial = /--initial-cluster (\S+)/.exec(command)![1]!.split(',').sort()
    const peers = await list(endpoints)
    expect(initial).toEqual([...peers.filter((m) => m.name).map((m) => `${m.name}=${m.peerURLs[0]}`), `x1=${peer}`].sort())
    // Not started, it has no name in etcd yet: removed by its peer URL.
    const removed = await outcome(repjs('cluster', 'remove-member', '--etcd', endpoints, peer))
    expect(removed.code, removed.stderr).toBe(0)
    expect((await list(endpoints)).map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2'])

    // add-member --start runs the member here until SIGTERM; it stays a member, removed by id.
    const y1 = repjs('cluster', 'add-member', '--etcd', endpoints, '--name', 'y1', '--data', join(dir, 'y1'), '--start')
    procs.push(y1)
    // It runs the command it prints (the same arguments), so that command joins the cluster.
    const y1Lines = await y1.lines(3)
    expect(y1Lines[1]).toMatch(/^etcd --name y1 .* --initial-cluster-state existing /)
    expect(y1Lines[2]).toMatch(/^Member y1 runs: client URL http:\/\/127\.0\.0\.1:\d+/)
    members = await list(endpoints)
    const y1Member = members.find((m) => m.name === 'y1')!
    expect(y1Member.clientURLs).toHaveLength(1)
    y1.proc.kill('SIGTERM')
    expect(await y1.exited).toBe(0)
    expect(await portInUse(Number(new URL(y1Member.clientURLs[0]!).port))).toBe(false)
    const byId = await outcome(repjs('cluster', 'remove-member', '--etcd', endpoints, y1Member.id))
    expect(byId.code, byId.stderr).toBe(0)
    expect((await list(endpoints)).map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2'])

    // Errors, with codes.
    const none = await outcome(repjs('cluster', 'remove-member', '--etcd', endpoints, 'nope'))
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/no member 'nope' in the cluster \(give a name, an id or a peer URL\); its members: .*\[REPJS_BAD_ARGUMENT\]/)
    const badProfile = await outcome(repjs('etcd', '--members', '3', '--profile', 'mars'))
    expect(badProfile.stderr).toContain("unknown --profile 'mars': choose one of lan, continental, us-japan, global [REPJS_BAD_ARGUMENT]")

    // SIGTERM stops every member by PID; nothing listens any more.
    etcd.proc.kill('SIGTERM')
    expect(await etcd.exited).toBe(0)
    expect(etcd.stderr).toContain('Stopped.')
    for (const url of endpoints.split(',')) expect(await portInUse(Number(new URL(url).port))).toBe(false)

    const down = await outcome(repjs('cluster', 'list', '--etcd', endpoints.split(',')[0]!))
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/is unreachable or has no quorum .*\[REPJS_UNAVAILABLE\]/)
  }, 120_000) // about 30 s: etcd takes a membership change only 5 s after the last member started

  it('removing the last member is refused', async () => {
    single = await startCluster(1)
    const o = await outcome(repjs('cluster', 'remove-member', '--etcd', single.endpoint, 'm0'))
    expect(o.code).toBe(1)
    expect(o.stderr).toMatch(/'m0' is the cluster's last member.*\[REPJS_BAD_ARGUMENT\]/)
  })
})

describe('repjs start --members 3', () => {
  it('starts a 3-member etcd under the gateway, prints the flags in use, SIGTERM stops it all', async () => {
    const [port, gw, web] = [await freePort(), await freePort(), await freePort()]
    const start = repjs('start', '--members', '3', '--profile', 'lan', '--port', String(port), '--data', join(dir, 'start'), '--gateway-port', String(gw), '--web-port', String(web))
    procs.push(start)
    await start.lines(1) // Demo: ...
    expect(start.stdout).toMatch(/^Demo: http:\/\/127\.0\.0\.1:\d+\/\?run=/)
    const endpoints = /^Endpoints: (\S+)$/m.exec(start.stderr)![1]!.split(',')
    expect(endpoints).toHaveLength(3)
    expect(start.stderr).toContain('Raft: --heartbeat-interval 100 --election-timeout 1000 (profile lan;')
    expect((await list(endpoints.join(','))).filter((m) => m.leader)).toHaveLength(1)
    start.proc.kill('SIGTERM')
    expect(await start.exited).toBe(0)
    for (const url of endpoints) expect(await portInUse(Number(new URL(url).port))).toBe(false)
  })
})
