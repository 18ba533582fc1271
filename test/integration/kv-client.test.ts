// The lean node:http2 KV client against real etcd: Txn branches, Range paging and sorting, the
// shapes the store reads (same as etcd3's), and failures classified by storeError like etcd3's.
import { Etcd3, type ICompare, type IRequestOp } from 'etcd3'
import { expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { storeError } from '../../node-gateway/store/etcd-errors.js'
import { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { KvClient } from '../../node-gateway/store/kv-client.js'
import { freePort, freeze, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { eventually, useKvCluster } from '../helpers/kv-cluster.js'

let etcd: Cluster
let ref: Etcd3
const clients = useKvCluster((e, r) => ((etcd = e), (ref = r)))

const b = (s: string) => Buffer.from(s)
const absent = (key: string): ICompare => ({ key: b(key), target: 'Create', result: 'Equal', create_revision: 0 })
const put = (key: string, value: string | Buffer, lease?: string): IRequestOp => ({ request_put: { key: b(key), value: typeof value === 'string' ? b(value) : value, lease } })
const get = (key: string): IRequestOp => ({ request_range: { key: b(key) } })

function client(endpoints: string | string[], callTimeoutMs?: number): KvClient {
  const c = new KvClient({ endpoints, callTimeoutMs })
  clients.push(c)
  return c
}

async function failure(p: Promise<unknown>): Promise<RepJSError> {
  try {
    await p
  } catch (err) {
    return storeError(err, 'the test call')
  }
  throw new Error('expected the call to fail')
}

/**
 * The calls a test expects to succeed, retried on retryable failures as the engine does: a 3-member
 * cluster on a busy machine may change leaders now and then ("etcdserver: leader changed").
 */
function steady(kv: KvClient): Pick<KvClient, 'txn' | 'range' | 'rangePage'> {
  const retry = async <T>(fn: () => Promise<T>): Promise<T> => {
    const until = Date.now() + 10_000
    for (;;) {
      try {
        return await fn()
      } catch (err) {
        if (!storeError(err, 'x').retryable || Date.now() > until) throw err
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  return { txn: (req, o) => retry(() => kv.txn(req, o)), range: (req, o) => retry(() => kv.range(req, o)), rangePage: (req, o) => retry(() => kv.rangePage(req, o)) }
}

test('txn: success branch puts, failure branch reads; responses have etcd3 shapes', async () => {
  const kv = steady(client(etcd.endpoints))
  const key = `/kvtest/${uniqueRun()}/a`
  const req = { compare: [absent(key)], success: [put(key, 'first')], failure: [get(key)] }
  const won = await kv.txn(req)
  expect(won.succeeded).toBe(true)
  expect(typeof won.header.revision).toBe('string')
  expect(won.responses[0]!.response_put).toBeDefined()
  const lost = await kv.txn({ ...req, success: [put(key, 'second')] })
  expect(lost.succeeded).toBe(false)
  const kvs = lost.responses[0]!.response_range.kvs
  expect(kvs).toHaveLength(1)
  expect(Buffer.isBuffer(kvs[0]!.value)).toBe(true)
  expect(Buffer.isBuffer(kvs[0]!.key)).toBe(true)
  expect(kvs[0]!.value.toString()).toBe('first')
  expect(kvs[0]!.key.toString()).toBe(key)
  expect(kvs[0]!.lease).toBe('0')
  expect(BigInt(lost.header.revision)).toBeGreaterThanOrEqual(BigInt(won.header.revision))
  // Byte for byte what etcd3 returns for the same request.
  const theirs = await ref.kv.txn({ ...req, success: [put(key, 'second')] })
  expect(JSON.stringify({ ...lost, header: { ...lost.header, member_id: '' } })).toBe(JSON.stringify({ ...theirs, header: { ...theirs.header, member_id: '' } }))

  // Value compare, delete in the success branch, and a lease id (a large int64) as a string.
  const lease = ref.lease(30)
  const id = await lease.grant()
  const lk = `/kvtest/${uniqueRun()}/lock`
  expect((await kv.txn({ compare: [absent(lk)], success: [put(lk, 'tok', id)], failure: [] })).succeeded).toBe(true)
  const held = await kv.txn({ compare: [{ key: b(lk), target: 'Value', result: 'Equal', value: b('tok') }], success: [get(lk), { request_delete_range: { key: b(lk) } }], failure: [] })
  expect(held.succeeded).toBe(true)
  expect(held.responses[0]!.response_range.kvs[0]!.lease).toBe(id)
  expect(held.responses[1]!.response_delete_range.deleted).toBe('1')
  const other = await kv.txn({ compare: [{ key: b(lk), target: 'Value', result: 'Equal', value: b('tok') }], success: [put(lk, 'x')], failure: [get(lk)] })
  expect(other.succeeded).toBe(false)
  expect(other.responses[0]!.response_range.kvs).toEqual([])
  await lease.revoke()
})

test('range: limit, more, count, sort by create revision, pinned revision', async () => {
  const kv = steady(client(etcd.endpoints))
  const prefix = `/kvtest/${uniqueRun()}/`
  for (const k of ['c', 'a', 'b']) await kv.txn({ compare: [absent(prefix + k)], success: [put(prefix + k, k.toUpperCase())], failure: [] })
  const end = b(prefix.slice(0, -1) + '0') // '/' + 1
  const page = await kv.range({ key: b(prefix), range_end: end, limit: 2, sort_target: 'Create', sort_order: 'Ascend' })
  expect(page.kvs.map((x) => x.key.toString().slice(prefix.length))).toEqual(['c', 'a'])
  expect(page.more).toBe(true)
  expect(page.count).toBe('3')
  const desc = await kv.range({ key: b(prefix), range_end: end, sort_target: 'Create', sort_order: 'Descend' })
  expect(desc.kvs.map((x) => x.value.toString())).toEqual(['B', 'A', 'C'])
  expect(desc.more).toBe(false)
  const byKey = await kv.range({ key: b(prefix), range_end: end, limit: 10 })
  expect(byKey.kvs.map((x) => x.key.toString().slice(prefix.length))).toEqual(['a', 'b', 'c'])
  expect(typeof byKey.header.revision).toBe('string')
  // Read at an older revision: only what existed then.
  const rev = BigInt(byKey.kvs.find((x) => x.key.toString().endsWith('a'))!.create_revision)
  const old = await kv.range({ key: b(prefix), range_end: end, revision: String(rev) })
  expect(old.kvs.map((x) => x.key.toString().slice(prefix.length))).toEqual(['a', 'c'])
  const none = await kv.range({ key: b(prefix + 'zz') })
  expect(none.kvs).toEqual([])
  expect(none.more).toBe(false)
})

test('rangePage: the keys, values, revision and more of range, decoded without the int64 fields', async () => {
  const kv = steady(client(etcd.endpoints))
  const prefix = `/kvtest/${uniqueRun()}/`
  const values = [b('A'), Buffer.alloc(0), Buffer.from([0, 255, 128, 10]), b('x'.repeat(300))]
  for (const [i, v] of values.entries()) await kv.txn({ compare: [], success: [put(prefix + i, v)], failure: [] })
  const end = b(prefix.slice(0, -1) + '0')
  const full = await kv.range({ key: b(prefix), range_end: end, limit: 3 })
  const page = await kv.rangePage({ key: b(prefix), range_end: end, limit: 3 })
  expect(page.revision).toBe(full.header.revision)
  expect(page.more).toBe(true)
  expect(page.kvs).toEqual(full.kvs.map(({ key, value }) => ({ key, value })))
  expect(page.kvs.map((x) => x.value)).toEqual(values.slice(0, 3))
  const rest = await kv.rangePage({ key: Buffer.concat([page.kvs[2]!.key, Buffer.from([0])]), range_end: end, revision: page.revision })
  expect(rest.more).toBe(false)
  expect(rest.kvs.map((x) => x.value)).toEqual([values[3]])
  const none = await kv.rangePage({ key: b(prefix + 'zz') })
  expect(none).toEqual({ revision: expect.stringMatching(/^[1-9]\d*$/), more: false, kvs: [] })
})

test('a response over 4 MiB is RESOURCE_EXHAUSTED, classified tooLarge (as with etcd3)', async () => {
  const kv = client(etcd.endpoints)
  const prefix = `/kvtest/${uniqueRun()}/big/`
  const mib = Buffer.alloc(1 << 20, 7)
  for (let i = 0; i < 5; i++) await steady(kv).txn({ compare: [], success: [put(`${prefix}${i}`, mib)], failure: [] })
  const end = b(prefix.slice(0, -1) + '0')
  // etcd itself sends any size; the limit is the client's (grpc-js' default 4 MiB, which etcd3 has too).
  const ours = await failure(kv.range({ key: b(prefix), range_end: end }))
  expect(ours.details.tooLarge).toBe(true)
  expect(ours.retryable).toBe(false)
  const theirs = await failure(ref.kv.range({ key: b(prefix), range_end: end }))
  expect(theirs.details.tooLarge).toBe(true)
  // The session survives, and a smaller page goes through.
  const page = await steady(kv).range({ key: b(prefix), range_end: end, limit: 3 })
  expect(page.kvs).toHaveLength(3)
  expect(page.more).toBe(true)
  expect(page.kvs[0]!.value.equals(mib)).toBe(true)
})

test('a dead endpoint fails over to a live one; only dead endpoints is retryable reconnecting', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`
  const key = `/kvtest/${uniqueRun()}/fo`
  const kv = client([dead, etcd.members[1]!.client])
  // Within one call: the dead endpoint is refused, the call goes on to the live one. (A serializable
  // read is answered by the member itself, so no leader change can get in the way here.)
  const first = await kv.range({ key: b(key), serializable: true })
  expect(first.kvs).toEqual([])
  expect(first.header.member_id).not.toBe('0')
  const res = await steady(kv).txn({ compare: [absent(key)], success: [put(key, 'v')], failure: [get(key)] })
  expect(res.succeeded).toBe(true)
  expect((await steady(kv).range({ key: b(key) })).kvs[0]!.value.toString()).toBe('v')

  const none = client([dead, `http://127.0.0.1:${await freePort()}`], 1000)
  const err = await failure(none.range({ key: b(key) }))
  expect(err.retryable).toBe(true)
  expect(err.retryAs).toBe('reconnecting')
})

test('a stopped (SIGSTOP) member: the call hits its deadline, retryable; the next call goes to another member', async () => {
  const m0 = etcd.members[0]!
  const key = `/kvtest/${uniqueRun()}/stop`
  const only = client(m0.client, 500)
  const both = client([m0.client, etcd.members[2]!.client], 500)
  await steady(only).range({ key: b(key) }) // sessions open before the stop
  await steady(both).range({ key: b(key) })
  await freeze(m0.proc!)
  try {
    const t0 = Date.now()
    const err = await failure(only.txn({ compare: [absent(key)], success: [put(key, 'v')], failure: [get(key)] }))
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(err.retryable).toBe(true)
    expect(err.retryAs).toBe('waiting-for-quorum')
    const err2 = await failure(both.range({ key: b(key) }))
    expect(err2.retryable).toBe(true)
    // m0 may have been the leader: the others elect a new one, then calls go through.
    const res = await eventually(() => both.txn({ compare: [absent(key)], success: [put(key, 'v')], failure: [get(key)] }))
    expect(res.header.member_id).not.toBe('')
  } finally {
    m0.proc!.kill('SIGCONT')
  }
  await eventually(() => only.range({ key: b(key) }))
})

test('without quorum a call is retryable waiting-for-quorum; calls resume when members return', async () => {
  const key = `/kvtest/${uniqueRun()}/q`
  const kv = client(etcd.endpoints, 1000)
  await eventually(() => kv.range({ key: b(key) }))
  await etcd.members[1]!.stop()
  await etcd.members[2]!.stop()
  try {
    const errs: RepJSError[] = []
    for (let i = 0; i < 3; i++) errs.push(await failure(kv.txn({ compare: [absent(key)], success: [put(key, 'v')], failure: [get(key)] })))
    for (const e of errs) expect(e.retryable, e.message).toBe(true)
    // Calls to the live member (no quorum) read as waiting-for-quorum; the stopped ones as reconnecting.
    expect(errs.some((e) => e.retryAs === 'waiting-for-quorum')).toBe(true)
  } finally {
    await etcd.members[1]!.start()
    await etcd.members[2]!.start()
  }
  // A proposal that timed out may still have been committed once quorum returned: either branch.
  const res = await eventually(() => kv.txn({ compare: [absent(key)], success: [put(key, 'v')], failure: [get(key)] }), 30_000)
  if (!res.succeeded) expect(res.responses[0]!.response_range.kvs[0]!.value.toString()).toBe('v')
}, 60_000)

test('close: later calls fail with CLOSED; the store picks its hot path from the endpoints', async () => {
  const kv = new KvClient({ endpoints: etcd.endpoint })
  await eventually(() => kv.range({ key: b('/kvtest/x') }))
  kv.close()
  const err = await failure(kv.range({ key: b('/kvtest/x') }))
  expect(err.code).toBe(ErrorCodes.CLOSED)

  const fast = new EtcdStore({ endpoints: etcd.endpoints })
  expect(fast.transport.kind).toBe('http2')
  const slow = new EtcdStore({ endpoints: etcd.endpoints, hotPath: 'etcd3' })
  expect(slow.transport.kind).toBe('etcd3')
  const tls = new EtcdStore({ endpoints: ['https://127.0.0.1:1'] })
  expect(tls.transport.kind).toBe('etcd3')
  expect(() => new EtcdStore({ endpoints: ['https://127.0.0.1:1'], hotPath: 'http2' })).toThrow(/plaintext/)
  await Promise.all([fast.close(), slow.close(), tls.close()])
})
