// Presence keys (core/presence.ts): written by direct replicas and through gateways with the right
// fields, at most once a second, gone on close, after a crash (lease expiry) and when a connection drops.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { PRESENCE_TTL_S } from '../../core/presence.js'
import { connect } from '../../node-gateway/index.js'
import { presenceKey } from '../../node-gateway/store/keys.js'
import { listPresence } from '../../node-gateway/store/presence-list.js'
import { uniqueRun } from '../helpers/etcd.js'
import { useEtcdAndGateway } from '../helpers/etcd-gateway.js'
import { codec, openHello, until } from '../helpers/raw-gateway.js'
import { runReplica } from '../helpers/run-script.js'
import { encodePresence } from '../../core/presence.js'

const env = useEtcdAndGateway()

const present = async (run: string) => listPresence(env.admin.client, run)

test('a direct replica and one through a gateway announce themselves with every field; gone on close', async () => {
  const run = uniqueRun('presence')
  const d = await connect({ run, etcd: env.etcd.endpoint, program: 'p', name: 'direct one' })
  const g = await connect({ run, gateway: env.gw.url, program: 'p', name: 'via gateway' })
  for (let i = 0; i < 5; i++) await Promise.all([d.now(), g.now()])
  await until(async () => (await present(run)).filter((p) => p.slot === 5).length === 2, 5000, 'both at slot 5')
  const [pd, pg] = [d, g].map(async (rep) => (await present(run)).find((p) => p.replica === rep.info.replicaId))
  const before = Date.now()
  expect(await pd).toMatchObject({ v: 1, replica: d.info.replicaId, name: 'direct one', runtime: 'node', status: 'live', slot: 5, head: 4 })
  expect(await pg).toMatchObject({ v: 1, replica: g.info.replicaId, name: 'via gateway', runtime: 'node', status: 'live', slot: 5, head: 4 })
  expect((await pd)!.at).toBeLessThanOrEqual(before)
  expect((await pd)!.at).toBeGreaterThan(before - 10_000)
  // The key is lease-bound.
  const kv = await env.admin.client.get(presenceKey(run, d.info.replicaId)).exec()
  expect(kv.kvs[0]!.lease).not.toBe('0')
  // Closing deletes the key at once (direct: the store revokes its lease; gateway: the connection's).
  await d.close()
  expect((await present(run)).map((p) => p.replica)).toEqual([g.info.replicaId])
  await g.close()
  await until(async () => (await present(run)).length === 0, 3000, 'the gateway to drop the closed connection\'s key')
})

test('under many calls, presence is written at most once a second (direct and through a gateway)', async () => {
  const run = uniqueRun('presence-rate')
  const d = await connect({ run, etcd: env.etcd.endpoint, program: 'p' })
  const g = await connect({ run, gateway: env.gw.url, program: 'p' })
  const puts = new Map<string, number[]>()
  const watcher = await env.admin.client.watch().prefix(`/repjs/v1/${run}/p/`).create()
  watcher.on('put', (kv) => {
    const key = kv.key.toString()
    puts.set(key, [...(puts.get(key) ?? []), Date.now()])
  })
  const until3s = Date.now() + 3500
  let calls = 0
  while (Date.now() < until3s) {
    await Promise.all([d.random(), g.random()])
    calls++
  }
  await until(async () => (await present(run)).every((p) => p.slot === calls), 3000, 'presence to reach the last slot')
  await watcher.cancel()
  expect(calls).toBeGreaterThan(20)
  for (const rep of [d, g]) {
    const times = puts.get(presenceKey(run, rep.info.replicaId)) ?? []
    // Slots changed all along: written more than once, never twice within a second (watch delivery jitter aside).
    expect(times.length).toBeGreaterThanOrEqual(3)
    expect(times.length).toBeLessThanOrEqual(6)
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(800)
  }
  await Promise.all([d.close(), g.close()])
})

test(`a crashed direct replica's key expires with its lease (${PRESENCE_TTL_S} s); a dropped gateway connection's goes at once`, async () => {
  const run = uniqueRun('presence-crash')
  const index = fileURLToPath(new URL('../../dist/node-gateway/index.js', import.meta.url))
  const code = `const { connect } = await import(${JSON.stringify(index)}); const rep = await connect({ run: ${JSON.stringify(run)}, etcd: ${JSON.stringify(env.etcd.endpoint)}, program: 'p', replicaId: 'crasher' }); await rep.now(); console.log('ready')`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((r) => child.once('exit', r))
  await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()))
  await until(async () => (await present(run)).some((p) => p.replica === 'crasher'), 5000, 'the crasher to be present')
  child.kill('SIGKILL')
  await exited
  const killed = Date.now()
  await until(async () => (await present(run)).length === 0, (PRESENCE_TTL_S + 5) * 1000, 'the lease to expire')
  const gone = Date.now() - killed
  // Still listed for a while (nobody revoked it), gone within the TTL plus etcd's expiry sweep.
  expect(gone).toBeGreaterThan(PRESENCE_TTL_S * 1000 / 3)

  // Through a gateway the lease is the connection's: a dropped socket deletes the key.
  const raw = await openHello(env.gw.url, run, '', 'rawtab')
  raw.send({ type: 'present', value: encodePresence(codec.format, { v: 1, replica: 'rawtab', name: 'raw', runtime: 'browser', status: 'live', slot: 0, head: -1, at: Date.now() }) })
  await until(async () => (await present(run)).some((p) => p.replica === 'rawtab' && p.runtime === 'browser'), 5000, 'the raw env.admin.client to be present')
  raw.ws.terminate()
  await until(async () => (await present(run)).length === 0, 3000, 'the dropped connection\'s key to go')
}, 30_000)

test('the gateway stores only a presence value naming the connection\'s replica', async () => {
  const run = uniqueRun('presence-check')
  const raw = await openHello(env.gw.url, run, '', 'honest')
  expect((await raw.next((m) => m.type === 'presenceOn')).type).toBe('presenceOn')
  raw.send({ type: 'present', value: encodePresence(codec.format, { v: 1, replica: 'someone-else', name: 'x', runtime: 'node', status: 'live', slot: 0, head: -1, at: 0 }) })
  expect((await raw.closed).code).toBe(4000)
  const err = raw.frames.find((m) => m?.type === 'error')
  expect(err).toMatchObject({ code: 'REPJS_BAD_ARGUMENT' })
  const raw2 = await openHello(env.gw.url, run, '', 'honest')
  raw2.send({ type: 'present', value: codec.format.encode({ v: 1, replica: 'honest' }) })
  expect((await raw2.closed).code).toBe(4000)
  expect(await present(run)).toEqual([])
})

test('a `repjs run` replica announces itself as runtime repjs-run, and is gone when it exits', async () => {
  const run = uniqueRun('presence-run')
  const p = runReplica('notes.js', { run, etcd: env.etcd.endpoint, stdin: 'pipe', flags: ['--name', 'notes-repl'] })
  try {
    await until(async () => (await present(run)).some((x) => x.runtime === 'repjs-run' && x.name === 'notes-repl'), 10_000, 'the repjs run replica to be present')
    p.write('quit\n')
    p.end()
    expect(await p.exited).toBe(0)
    expect(await present(run)).toEqual([])
  } finally {
    await p.kill()
  }
})

test('an idle replica whose presence lease is lost is announced again under a new lease (direct and through a gateway)', async () => {
  const run = uniqueRun('presence-lost')
  const reps = [await connect({ run, etcd: env.etcd.endpoint, program: 'p' }), await connect({ run, gateway: env.gw.url, program: 'p' })]
  await Promise.all(reps.map((r) => r.now()))
  // Their last change is written: from now on they have nothing new to announce.
  await until(async () => (await present(run)).filter((p) => p.status === 'live' && p.slot === 1 && p.head === 0).length === 2, 5000, 'both live at slot 1')
  const leaseOf = async (id: string) => (await env.admin.client.get(presenceKey(run, id)).exec()).kvs[0]?.lease
  const before = await Promise.all(reps.map((r) => leaseOf(r.info.replicaId)))
  // What etcd does to a lease nobody could keep alive: it ends, and its keys go.
  const deleted: string[] = []
  const watcher = await env.admin.client.watch().prefix(`/repjs/v1/${run}/p/`).create()
  watcher.on('delete', (kv) => deleted.push(kv.key.toString()))
  for (const lease of before) await env.admin.client.leaseClient.leaseRevoke({ ID: lease! })
  await until(() => deleted.length === 2, 5000, 'both keys deleted with their leases')
  await watcher.cancel()
  // Nothing changes on the replicas (no call): still they are listed again, each under a new lease.
  await until(async () => (await present(run)).length === 2, (PRESENCE_TTL_S / 3 + 3) * 1000, 'both present again')
  const after = await Promise.all(reps.map((r) => leaseOf(r.info.replicaId)))
  for (let i = 0; i < 2; i++) expect(after[i]).not.toBe(before[i])
  await Promise.all(reps.map((r) => r.close()))
  // The gateway revokes its connection's lease once it sees the close.
  await until(async () => (await present(run)).length === 0, 3000, 'both keys gone after close')
})
