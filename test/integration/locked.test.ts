// Run-once calls: a call longer than the lease TTL runs once (the lease is kept alive); a holder
// killed mid-call makes the slot REPJS_IN_DOUBT for everyone, including a restarted replica.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { expect, test } from 'vitest'
import { connect } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { finished, startReplica, type ReplicaProc } from '../helpers/replicas.js'

const etcd = useEtcd()

const tmpFile = () => join(mkdtempSync(join(tmpdir(), 'repjs-locked-')), 'ran.log')
const started = (r: ReplicaProc) => r.stdout.includes('started')

async function keysOf(run: string): Promise<string[]> {
  const client = new Etcd3({ hosts: etcd.endpoint })
  try {
    return await client.getAll().prefix(`/repjs/v1/${run}/`).keys()
  } finally {
    client.close()
  }
}

test('a locked call running 3x its lease TTL runs once, and leaves only the log entry behind', async () => {
  const env = { REPJS_RUN: uniqueRun('ttl'), REPJS_ETCD: etcd.endpoint, LOCKED_MS: '6000', LOCKED_TTL: '2000', LOCKED_FILE: tmpFile() }
  const rs = [0, 1, 2].map(() => startReplica('locked.mjs', env))
  const outs = await Promise.all(rs.map(finished))
  expect(readFileSync(env.LOCKED_FILE, 'utf8').trim().split('\n')).toHaveLength(1)
  expect(readFileSync(env.LOCKED_FILE, 'utf8')).toContain('aborted=false')
  expect(rs.filter(started)).toHaveLength(1)
  const outcome = (o: string) => o.split('\n').find((l) => l.startsWith('outcome'))
  expect(outcome(outs[0]!)).toMatch(/^outcome done by \d+$/)
  expect(outcome(outs[1]!)).toBe(outcome(outs[0]!))
  expect(outcome(outs[2]!)).toBe(outcome(outs[0]!))
  const keys = await keysOf(env.REPJS_RUN)
  expect(keys.sort()).toEqual([`/repjs/v1/${env.REPJS_RUN}/meta`, `/repjs/v1/${env.REPJS_RUN}/s/main/000000000000`])
})

test('killing the holder mid-call makes the slot REPJS_IN_DOUBT on every replica, also after restart', async () => {
  const env = { REPJS_RUN: uniqueRun('doubt'), REPJS_ETCD: etcd.endpoint, LOCKED_MS: '4000', LOCKED_TTL: '1000', LOCKED_FILE: tmpFile() }
  const rs = [0, 1, 2].map(() => startReplica('locked.mjs', env))
  await Promise.race(rs.map((r) => r.lines(1)))
  const holder = rs.find(started)!
  await holder.kill()
  const others = rs.filter((r) => r !== holder)
  for (const o of await Promise.all(others.map(finished))) expect(o.trim()).toBe('error REPJS_IN_DOUBT')
  expect(existsSync(env.LOCKED_FILE)).toBe(false)
  const again = await finished(startReplica('locked.mjs', env))
  expect(again.trim()).toBe('error REPJS_IN_DOUBT')
})

test("onInDoubt: 'rerun' is recorded with the call and reruns after a holder died", async () => {
  const run = uniqueRun('rerun')
  const a = await connect({ run, etcd: etcd.endpoint, program: 'rerun' })
  // Simulate a holder that died mid-call: take the lock and write the marker, then lose the lease.
  const store = (a as unknown as { engine: { store: import('../../core/store.js').Store } }).engine.store
  const got = await store.acquire({ run, stream: 'main', slot: 0 }, 'ghost', 1000)
  expect(got.state).toBe('held')
  const { encodeRecord } = await import('../../core/record.js')
  const { createCodec } = await import('../../core/codec.js')
  const { createCborFormat } = await import('../../core/cbor-format.js')
  const codec = createCodec(createCborFormat())
  const ident = { kind: 'once', name: 'idem', argsHash: '-', site: 'elsewhere' }
  if (got.state !== 'held') return
  await got.lock.markStarted(encodeRecord(codec, { run, stream: 'main', slot: 0 }, { ...ident, by: 'ghost', ok: true, value: { onInDoubt: 'rerun' } }))
  await got.lock.release()
  let runs = 0
  const idem = a.distributedLocked(() => ++runs, { name: 'idem' })
  expect(await idem()).toBe(1)
  expect(runs).toBe(1)
  await a.close()
})

test('a holder that lost its lease sees its signal fire and cannot record its result (fencing)', async () => {
  const run = uniqueRun('fence')
  const a = await connect({ run, etcd: etcd.endpoint, program: 'fence' })
  const b = await connect({ run, etcd: etcd.endpoint, program: 'fence' })
  const client = new Etcd3({ hosts: etcd.endpoint })
  let releaseA!: () => void
  const aMayReturn = new Promise<void>((r) => (releaseA = r))
  let aborted = false
  let aStarted!: () => void
  const aIsRunning = new Promise<void>((r) => (aStarted = r))
  const callA = a.distributedLocked(async (signal: AbortSignal) => {
    aStarted()
    // Lose the lease from outside, as a long GC pause or a partition would.
    const lock = (await client.get(`/repjs/v1/${run}/l/main/000000000000`).exec()).kvs[0]!
    await client.leaseClient.leaseRevoke({ ID: lock.lease })
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))
    aborted = signal.aborted
    await aMayReturn
    return 'result of A'
  }, { name: 'fenced', ttlMs: 1000 })()
  // B finds the lock gone but A's started marker: the slot becomes in doubt.
  await aIsRunning
  const callB = b.distributedLocked(() => 'result of B', { name: 'fenced', ttlMs: 1000 })()
  await expect(callB).rejects.toMatchObject({ code: 'REPJS_IN_DOUBT' })
  releaseA()
  await expect(callA).rejects.toMatchObject({ code: 'REPJS_IN_DOUBT' })
  expect(aborted).toBe(true)
  client.close()
  await a.close()
  await b.close()
})
