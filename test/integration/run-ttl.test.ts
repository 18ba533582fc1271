// --run-ttl: a run created with a TTL has its keys on an etcd lease that every replica (and every
// gateway, for its connections) keeps alive while it has the run open. Idle for the TTL, the run
// expires: its keys go, its index entry stays (the tombstone), and a late joiner gets REPJS_RUN_GONE.
import { expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { connect } from '../../node-gateway/index.js'
import { metaKey, runIndexKey, runPrefix } from '../../node-gateway/store/keys.js'
import { decodeRunEntry } from '../../node-gateway/store/run-entry.js'
import { createEtcdStore } from '../../node-gateway/store/etcd-store.js'
import { listRuns } from '../../node-gateway/store/run-index.js'
import { uniqueRun } from '../helpers/etcd.js'
import { useEtcdAndGateway } from '../helpers/etcd-gateway.js'
import { runMeta } from '../helpers/raw-gateway.js'

const env = useEtcdAndGateway()

const TTL = 2000

/** Resolves when the run record is deleted (by its lease's expiry); fails after `ms`. */
async function expired(run: string, ms: number): Promise<number> {
  const started = Date.now()
  const w = await env.admin.client.watch().key(metaKey(run)).create()
  try {
    if ((await env.admin.client.get(metaKey(run)).buffer()) === null) return Date.now() - started
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`run ${run} did not expire within ${ms} ms`)), ms)
      w.on('delete', () => (clearTimeout(t), resolve()))
    })
    return Date.now() - started
  } finally {
    await w.cancel()
  }
}

test.each(['direct', 'gateway'] as const)('a run past its TTL is gone and a late joiner gets REPJS_RUN_GONE (%s)', async (how) => {
  const run = uniqueRun(`ttl-${how}`)
  const where = how === 'direct' ? { etcd: env.etcd.endpoint } : { gateway: env.gw.url }
  const rep = await connect({ run, program: 'ttl@1', runTtlMs: TTL, ...where })
  await rep.distributed(() => 7, { name: 'seven' })()
  await rep.vote(1, { quorum: 1, reduce: 'max', name: 'v' })
  // Every key of the run is on the run's lease (but presence keys, on their replica's own); the index entry is not.
  const kvs = (await env.admin.client.getAll().prefix(runPrefix(run)).exec()).kvs.filter((kv) => !kv.key.toString().startsWith(`${runPrefix(run)}p/`))
  expect(kvs.length).toBeGreaterThanOrEqual(3)
  const lease = kvs[0]!.lease
  expect(lease).not.toBe('0')
  for (const kv of kvs) expect(kv.lease).toBe(lease)
  const index = (await env.admin.client.get(runIndexKey(run)).exec()).kvs[0]!
  expect(index.lease).toBe('0')
  expect(decodeRunEntry(new Uint8Array(index.value), run)).toMatchObject({ ttlMs: TTL, lease, gone: null })
  await rep.close()
  // Nobody keeps it open: it expires one TTL (rounded by etcd) after the last keep-alive.
  const after = await expired(run, 15_000)
  expect(after).toBeGreaterThan(TTL / 3)
  expect(await env.admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
  for (const late of [{ etcd: env.etcd.endpoint }, { gateway: env.gw.url }]) {
    await expect(connect({ run, program: 'ttl@1', ...late })).rejects.toMatchObject({ code: ErrorCodes.RUN_GONE, message: expect.stringMatching(/expired/) })
  }
  expect((await listRuns(env.admin, { runs: [run] }))[0]).toMatchObject({ gone: true, ttlMs: TTL, bytes: 0 })
  // Started again explicitly: a new incarnation, with the TTL asked for now.
  const again = await connect({ run, program: 'ttl@1', newRun: true, runTtlMs: 3000, ...where })
  expect(again.info.created).toBe(true)
  expect((await listRuns(env.admin, { runs: [run] }))[0]).toMatchObject({ gone: false, ttlMs: 3000, incarnation: again.info.incarnation })
  await again.close()
}, 40_000)

test('an active run with replicas attached does not expire, idle or not; it expires once they leave', async () => {
  const run = uniqueRun('ttl-active')
  const direct = await connect({ run, program: 'ttl@1', runTtlMs: TTL, etcd: env.etcd.endpoint })
  const viaGateway = await connect({ run, program: 'ttl@1', gateway: env.gw.url })
  const f = viaGateway.distributed((i: number) => i, { name: 'f' })
  // Two TTLs: the gateway replica calls, the direct one (which created the run) only keeps it open.
  const until = Date.now() + 2 * TTL
  let calls = 0
  while (Date.now() < until) {
    expect(await f(calls)).toBe(calls)
    calls++
    await new Promise((r) => setTimeout(r, 100))
  }
  expect(await env.admin.client.get(metaKey(run)).buffer()).not.toBeNull()
  expect(await direct.distributed((i: number) => i, { name: 'f' })(0)).toBe(0)
  // The gateway's connection alone keeps it alive.
  await direct.close()
  const still = Date.now() + 1.5 * TTL
  while (Date.now() < still) {
    expect(await f(calls)).toBe(calls)
    calls++
    await new Promise((r) => setTimeout(r, 100))
  }
  expect((await listRuns(env.admin, { runs: [run] }))[0]).toMatchObject({ gone: false, streams: { main: calls } })
  await viaGateway.close()
  await expired(run, 15_000)
  expect(await env.admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
}, 40_000)

test.each(['direct', 'gateway'] as const)('a run whose lease lapses under an attached replica (revoked: as after a partition longer than the TTL): its next call fails with REPJS_RUN_GONE, nothing is written (%s)', async (how) => {
  const run = uniqueRun(`lapse-${how}`)
  const where = how === 'direct' ? { etcd: env.etcd.endpoint } : { gateway: env.gw.url }
  const rep = await connect({ run, program: 'ttl@1', runTtlMs: TTL, ...where })
  try {
    const f = rep.distributed((i: number) => i + 1, { name: 'f' })
    for (let i = 0; i < 40; i++) expect(await f(i)).toBe(i + 1) // past the quiet log's streak: proposals go without reading the log
    const lease = (await env.admin.client.get(metaKey(run)).exec()).kvs[0]!.lease
    await env.admin.client.leaseClient.leaseRevoke({ ID: lease })
    expect(await env.admin.client.get(metaKey(run)).buffer()).toBeNull()
    // The replica's run watch or its next proposal, whichever sees it first, stops it.
    await expect(f(100)).rejects.toMatchObject({ code: ErrorCodes.RUN_GONE })
    // Nothing of the run's was written back (presence keys are on their replica's own lease).
    const left = (await env.admin.client.getAll().prefix(runPrefix(run)).keys()).filter((k) => !k.startsWith(`${runPrefix(run)}p/`))
    expect(left).toEqual([])
  } finally {
    await rep.close().catch(() => {})
  }
}, 30_000)

test('the proposal Txn itself (hand-encoded, direct) refuses a run whose lease lapsed: REPJS_RUN_GONE from propose, nothing written', async () => {
  const run = uniqueRun('lapse-store')
  const store = createEtcdStore({ endpoints: env.etcd.endpoint })
  const bytes = (s: string) => new TextEncoder().encode(s)
  try {
    await store.openRun(run, runMeta(), { ttlMs: TTL })
    expect((await store.propose({ run, stream: 'main', slot: 0 }, bytes('first'))).won).toBe(true)
    const lease = (await env.admin.client.get(metaKey(run)).exec()).kvs[0]!.lease
    await env.admin.client.leaseClient.leaseRevoke({ ID: lease })
    // No engine here to halt on the run watch first: the answer is the Txn's own (its guard compare failed).
    await expect(store.propose({ run, stream: 'main', slot: 1 }, bytes('second'))).rejects.toMatchObject({ code: ErrorCodes.RUN_GONE })
    expect(await env.admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
  } finally {
    await store.close()
  }
})
