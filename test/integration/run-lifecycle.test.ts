// Run lifecycle: the run index entry written with the run record, `listRuns`, deleting a run
// (`deleteRun`, what `repjs runs rm` does) with its tombstone, REPJS_RUN_GONE for late joiners and
// for replicas still in the run (direct and through a gateway), and `newRun` incarnations.
import { describe, expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { connect, type Replica } from '../../node-gateway/index.js'
import { metaKey, runIndexKey, runPrefix } from '../../node-gateway/store/keys.js'
import { deleteRun } from '../../node-gateway/store/run-delete.js'
import { decodeRunEntry } from '../../node-gateway/store/run-entry.js'
import { listRuns } from '../../node-gateway/store/run-index.js'
import { uniqueRun } from '../helpers/etcd.js'
import { useEtcdAndGateway } from '../helpers/etcd-gateway.js'
import { helloFrame, openRaw, runMeta, until } from '../helpers/raw-gateway.js'
import { CLOSE } from '../../core/protocol.js'

const env = useEtcdAndGateway()

const via = {
  direct: () => ({ etcd: env.etcd.endpoint }),
  gateway: () => ({ gateway: env.gw.url }),
}
type Via = keyof typeof via

const join = (run: string, how: Via, more: Record<string, unknown> = {}) => connect({ run, program: 'life@1', ...via[how](), ...more })
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e)

async function entryOf(run: string) {
  const v = await env.admin.client.get(runIndexKey(run)).buffer()
  return v && decodeRunEntry(new Uint8Array(v), run)
}

test('creating a run writes its index entry in the same Txn; listRuns reports it', async () => {
  const run = uniqueRun('listed')
  const rep = await join(run, 'direct')
  const f = rep.distributed((i: number) => i + 1, { name: 'f' })
  for (let i = 0; i < 5; i++) await f(i)
  await rep.stream('side').random()
  const metaRev = (await env.admin.client.get(metaKey(run)).exec()).kvs[0]!.create_revision
  const indexRev = (await env.admin.client.get(runIndexKey(run)).exec()).kvs[0]!.create_revision
  expect(indexRev).toBe(metaRev)
  const entry = (await entryOf(run))!
  expect(entry).toMatchObject({ v: 1, incarnation: rep.info.incarnation, program: 'life@1', ttlMs: null, gone: null })
  // A joiner neither rewrites the entry nor creates anything.
  const other = await join(run, 'gateway')
  expect(other.info.created).toBe(false)
  expect(await entryOf(run)).toEqual(entry)
  // Both replicas announce themselves (presence keys, written asynchronously).
  await until(async () => (await listRuns(env.admin, { runs: [run] }))[0]!.present === 2, 5000, 'both replicas present')
  const [s] = await listRuns(env.admin, { runs: [run] })
  expect(s).toMatchObject({ run, program: 'life@1', incarnation: rep.info.incarnation, gone: false, present: 2, ttlMs: null, streams: { main: 5, side: 1 } })
  expect(s!.created).toBe(entry.created)
  expect(s!.bytes).toBeGreaterThan(200)
  // A light listing (the dashboard's) reads no log: the same counts and presence, no size.
  // A presence key may be rewritten between the two listings (a replica's status changes as it
  // follows the log, at most once a second), so lastActivity may only have moved forward.
  const [light] = await listRuns(env.admin, { runs: [run], detail: 'light' })
  expect({ ...light, lastActivity: s!.lastActivity }).toEqual({ ...s, bytes: null })
  expect(light!.lastActivity).toBeGreaterThanOrEqual(s!.lastActivity!)
  expect((await listRuns(env.admin)).map((r) => r.run)).toContain(run)
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
    // A replica present (its presence key) makes rm refuse, unless forced.
    await until(async () => (await env.admin.client.getAll().prefix(`${runPrefix(run)}p/`).keys()).length === 1, 5000, 'the replica to be present')
    await expect(deleteRun(env.admin, run)).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT, message: /1 replica\(s\) present.*--force/ })
    const res = await deleteRun(env.admin, run, { force: true })
    expect(res).toMatchObject({ existed: true })
    expect(res.deleted).toBeGreaterThanOrEqual(3)
    expect(await env.admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
    const entry = (await entryOf(run))!
    expect(entry.gone).toBeGreaterThan(0)
    // The replica in the run: its next call fails, nothing is written back into the deleted run.
    const err = await failure(f(2))
    expect(err).toMatchObject({ code: ErrorCodes.RUN_GONE, message: expect.stringMatching(/was deleted at .*--new/) })
    expect(await env.admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
    // A late joiner, either way.
    for (const late of ['direct', 'gateway'] as const) {
      await expect(join(run, late)).rejects.toMatchObject({ code: ErrorCodes.RUN_GONE, message: expect.stringMatching(/newRun: true/) })
    }
    expect((await listRuns(env.admin, { runs: [run] }))[0]).toMatchObject({ gone: true, bytes: 0, present: 0 })
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
  for (let i = 0; (await env.admin.client.getAll().prefix(votes).keys()).length < 2; i++) await new Promise((r) => setTimeout(r, 20))
  await deleteRun(env.admin, run, { force: true }) // the replicas are present: deleted under them on purpose
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
  const res = await deleteRun(env.admin, run, { batch: 50, onProgress: (d, t) => progress.push([d, t]) })
  expect(res.deleted).toBe(121)
  expect(progress.map(([d]) => d)).toEqual([50, 100, 121])
  expect(progress.every(([, t]) => t === 121)).toBe(true)
  expect(await env.admin.client.getAll().prefix(runPrefix(run)).keys()).toEqual([])
  expect((await entryOf(run))!.gone).toBeGreaterThan(0)
  await expect(deleteRun(env.admin, uniqueRun('never'))).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT, message: /does not exist/ })
}, 30_000)

test('a run from before the index is indexed when it is opened, and can be deleted', async () => {
  const run = uniqueRun('pre-index')
  // A run record written as earlier versions did: no index entry.
  await env.admin.client.put(metaKey(run)).value(Buffer.from(runMeta('old@1')))
  expect(await entryOf(run)).toBeNull()
  const rep = await join(run, 'gateway', { program: 'old@1' })
  expect(rep.info.created).toBe(false)
  expect(await entryOf(run)).toMatchObject({ program: 'old@1', incarnation: rep.info.incarnation, gone: null })
  expect((await listRuns(env.admin, { runs: [run] }))[0]).toMatchObject({ run, program: 'old@1', gone: false })
  await rep.close()
  // The replica's presence goes with it (its gateway revokes the presence lease).
  await until(async () => (await listRuns(env.admin, { runs: [run] }))[0]!.present === 0, 5000, 'the replica to leave')
  await deleteRun(env.admin, run)
  await expect(join(run, 'direct', { program: 'old@1' })).rejects.toMatchObject({ code: ErrorCodes.RUN_GONE })
})

test.each(['direct', 'gateway'] as const)('a replica only waiting (for input) when its run is deleted stops with REPJS_RUN_GONE (%s)', async (how) => {
  const run = uniqueRun(`rm-wait-${how}`)
  const rep = await join(run, how)
  expect(await rep.distributed(() => 1, { name: 'one' })()).toBe(1)
  const waiting = failure(rep.input())
  // The input slot is taken and waited on (nobody typed a line) before the run goes.
  await new Promise((r) => setTimeout(r, 50))
  await deleteRun(env.admin, run, { force: true }) // the replica is present: deleted under it on purpose
  expect(await waiting).toMatchObject({ code: ErrorCodes.RUN_GONE })
  expect(rep.status.state).toBe('closed')
  expect(rep.status.reason).toMatch(/was deleted at/)
  await rep.close()
}, 20_000)

test('the gateway protocol: HELLO to a gone run is refused with REPJS_RUN_GONE and close 4009; HELLO_RUN with newRun creates it; a bad TTL is refused', async () => {
  const run = uniqueRun('raw-gone')
  const first = await openRaw(env.gw.url)
  first.send({ type: 'helloRun', run, replica: 'raw', token: '', meta: runMeta(), newRun: false, ttlMs: 60_000 })
  expect(await first.next((m) => m.type === 'welcome')).toMatchObject({ created: true })
  expect((await entryOf(run))!).toMatchObject({ ttlMs: 60_000 })
  first.close()
  await deleteRun(env.admin, run)
  const refused = await openRaw(env.gw.url)
  refused.sendRaw(helloFrame(run))
  expect(await refused.next((m) => m.type === 'error')).toMatchObject({ id: 0, code: ErrorCodes.RUN_GONE, retryable: false })
  expect(await refused.closed).toMatchObject({ code: CLOSE.RUN_GONE })
  const bad = await openRaw(env.gw.url)
  bad.send({ type: 'helloRun', run, replica: 'raw', token: '', meta: runMeta(), newRun: true, ttlMs: 500 })
  expect(await bad.next((m) => m.type === 'error')).toMatchObject({ id: 0, code: ErrorCodes.BAD_ARGUMENT })
  expect(await bad.closed).toMatchObject({ code: CLOSE.PROTOCOL_ERROR })
  const again = await openRaw(env.gw.url)
  again.send({ type: 'helloRun', run, replica: 'raw', token: '', meta: runMeta(), newRun: true, ttlMs: 0 })
  expect(await again.next((m) => m.type === 'welcome')).toMatchObject({ created: true })
  expect((await entryOf(run))!).toMatchObject({ ttlMs: null, gone: null })
  again.close()
  await expect(join(run, 'direct', { runTtlMs: 999 })).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT, message: /runTtlMs/ })
})
