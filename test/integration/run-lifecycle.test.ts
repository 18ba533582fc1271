// Run lifecycle: the run index entry written with the run record, `listRuns`, deleting a run
// (`deleteRun`, what `repjs runs rm` does) with its tombstone, REPJS_RUN_GONE for late joiners and
// for replicas still in the run (direct and through a gateway), and `newRun` incarnations.
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect, createEtcdStore, type Replica } from '../../node-gateway/index.js'
import type { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { metaKey, runIndexKey, runPrefix } from '../../node-gateway/store/keys.js'
import { deleteRun } from '../../node-gateway/store/run-delete.js'
import { decodeRunEntry } from '../../node-gateway/store/run-entry.js'
import { listRuns } from '../../node-gateway/store/run-index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'

let etcd: Cluster
let gw: Gateway
let admin: EtcdStore
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }) })
  admin = createEtcdStore({ endpoints: etcd.endpoint })
})
afterAll(async () => {
  await admin?.close()
  await gw?.close()
  await etcd?.stop()
})

const via = {
  direct: () => ({ etcd: etcd.endpoint }),
  gateway: () => ({ gateway: gw.url }),
}
type Via = keyof typeof via

const join = (run: string, how: Via, more: Record<string, unknown> = {}) => connect({ run, program: 'life@1', ...via[how](), ...more })
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e)

async function entryOf(run: string) {
  const v = await admin.client.get(runIndexKey(run)).buffer()
  return v && decodeRunEntry(new Uint8Array(v), run)
}

test('creating a run writes its index entry in the same Txn; listRuns reports it', async () => {
  const run = uniqueRun('listed')
  const rep = await join(run, 'direct')
  const f = rep.distributed((i: number) => i + 1, { name: 'f' })
  for (let i = 0; i < 5; i++) await f(i)
  await rep.stream('side').random()
  const metaRev = (await admin.client.get(metaKey(run)).exec()).kvs[0]!.create_revision
  const indexRev = (await admin.client.get(runIndexKey(run)).exec()).kvs[0]!.create_revision
  expect(indexRev).toBe(metaRev)
  const entry = (await entryOf(run))!
  expect(entry).toMatchObject({ v: 1, incarnation: rep.info.incarnation, program: 'life@1', ttlMs: null, gone: null })
  // A joiner neither rewrites the entry nor creates anything.
  const other = await join(run, 'gateway')
  expect(other.info.created).toBe(false)
  expect(await entryOf(run)).toEqual(entry)
  const [s] = await listRuns(admin, { runs: [run] })
  expect(s).toMatchObject({ run, program: 'life@1', incarnation: rep.info.incarnation, gone: false, present: 0, ttlMs: null, streams: { main: 5, side: 1 } })
  expect(s!.created).toBe(entry.created)
  expect(s!.bytes).toBeGreaterThan(200)
  expect((await listRuns(admin)).map((r) => r.run)).toContain(run)
  await rep.close()
  await other.close()
})

describe.each(['direct', 'gateway'] as const)('a run deleted under a replica (%s)', (how) => {
  test('the replica fails with REPJS_RUN_GONE on its next call; a late joiner too; newRun starts a new incarnation', async () => {
    const run = uniqueRun(`rm-${how}`)
    const rep = await join(run, how)
    const f = rep.distributed((i: number) => i * 2, { name: 'f' })
    expect(await f(1)).toBe(2)
    const old = rep.info.incarnation
    // A replica present (a presence key) makes rm refuse, unless forced.
    await admin.client.put(`${runPrefix(run)}p/someone`).value('x')
    await expect(deleteRun(admin, run)).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT, message: /1 replica\(s\) present.*--force/ })
    const res = await deleteRun(admin, run, { force: true })
    expect(res).toMatchObject({ existed: true })
    expect(res.deleted).toBeGreaterThanOrEqual(3)
    expect(await admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
    const entry = (await entryOf(run))!
    expect(entry.gone).toBeGreaterThan(0)
    // The replica in the run: its next call fails, nothing is written back into the deleted run.
    const err = await failure(f(2))
    expect(err).toMatchObject({ code: ErrorCodes.RUN_GONE, message: expect.stringMatching(/was deleted at .*--new/) })
    expect(await admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
    // A late joiner, either way.
    for (const late of ['direct', 'gateway'] as const) {
      await expect(join(run, late)).rejects.toMatchObject({ code: ErrorCodes.RUN_GONE, message: expect.stringMatching(/newRun: true/) })
    }
    expect((await listRuns(admin, { runs: [run] }))[0]).toMatchObject({ gone: true, bytes: 0, present: 0 })
    // Created again explicitly: a new incarnation, an empty log. Several --new replicas join it.
    const again = await join(run, how, { newRun: true })
    const also = await join(run, how === 'direct' ? 'gateway' : 'direct', { newRun: true })
    expect(again.info.created).toBe(true)
    expect(also.info.created).toBe(false)
    expect(again.info.incarnation).not.toBe(old)
    expect(also.info.incarnation).toBe(again.info.incarnation)
    const g = again.distributed((i: number) => i * 3, { name: 'f' })
    expect(await g(1)).toBe(3)
    expect(await also.distributed((i: number) => i * 3, { name: 'f' })(1)).toBe(3)
    expect((await entryOf(run))!).toMatchObject({ incarnation: again.info.incarnation, gone: null })
    // The replica of the old incarnation never comes back into the new one.
    expect(await failure(f(3))).toMatchObject({ code: expect.stringMatching(/REPJS_RUN_(GONE|CHANGED)/) })
    await Promise.all([rep.close(), again.close(), also.close()])
  }, 30_000)
})

test('a replica waiting for votes when its run is deleted fails instead of waiting for ever', async () => {
  const run = uniqueRun('rm-vote')
  const reps: Replica[] = [await join(run, 'direct'), await join(run, 'gateway')]
  const waits = reps.map((r) => failure(r.vote(1, { quorum: 3, reduce: 'max', name: 'v' })))
  // Both votes are in before the run goes.
  const votes = `${runPrefix(run)}v/`
  for (let i = 0; (await admin.client.getAll().prefix(votes).keys()).length < 2; i++) await new Promise((r) => setTimeout(r, 20))
  await deleteRun(admin, run)
  for (const e of await Promise.all(waits)) expect(e).toMatchObject({ code: ErrorCodes.RUN_GONE })
  await Promise.all(reps.map((r) => r.close()))
}, 30_000)

test('a large run is deleted in batches with progress, marked gone first', async () => {
  const run = uniqueRun('rm-batch')
  const rep = await join(run, 'direct')
  const f = rep.distributed((i: number) => i, { name: 'f' })
  await Promise.all(Array.from({ length: 120 }, (_, i) => f(i)))
  await rep.close()
  const progress: Array<[number, number]> = []
  const res = await deleteRun(admin, run, { batch: 50, onProgress: (d, t) => progress.push([d, t]) })
  expect(res.deleted).toBe(121)
  expect(progress.map(([d]) => d)).toEqual([50, 100, 121])
  expect(progress.every(([, t]) => t === 121)).toBe(true)
  expect(await admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
  expect((await entryOf(run))!.gone).toBeGreaterThan(0)
  await expect(deleteRun(admin, uniqueRun('never'))).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT, message: /does not exist/ })
}, 30_000)
