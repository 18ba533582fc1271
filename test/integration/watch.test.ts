// The lean watch (a streaming call on the hand-written HTTP/2 connection) against real etcd: events in order with their values, large responses
// split over DATA frames (and frames split anyhow), compaction and every way the stream can end
// surfacing as one error, cancel, and follow() recovering through range reads.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { expect, test } from 'vitest'
import { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { prefixEnd, slotKey } from '../../node-gateway/store/keys.js'
import { KvClient } from '../../node-gateway/store/kv-client.js'
import {
  FrameReader, WatchCompactedError, watch, type LeanWatcher, type WatchEvent, type WatchOptions, type WatchRequest, type WatchResponse,
} from '../../node-gateway/store/watch-client.js'
import { freeze, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { eventually, useKvCluster } from '../helpers/kv-cluster.js'
import { startProxy } from '../helpers/tcp-proxy.js'

let etcd: Cluster
let ref: Etcd3
const watchers: LeanWatcher[] = []
const clients = useKvCluster(
  (e, r) => ((etcd = e), (ref = r)),
  () => watchers.forEach((w) => w.cancel()),
)

const b = (s: string) => Buffer.from(s)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function client(endpoints: string | string[], callTimeoutMs?: number): KvClient {
  const c = new KvClient({ endpoints, callTimeoutMs })
  clients.push(c)
  return c
}

async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** A watch recording everything it gets. */
function record(kv: KvClient, req: WatchRequest, opts?: WatchOptions) {
  const events: WatchEvent[] = []
  const responses: WatchResponse[] = []
  const errors: Error[] = []
  const w = watch(kv, req, { event: (ev) => events.push(ev), response: (r) => responses.push(r), error: (e) => errors.push(e) }, opts)
  watchers.push(w)
  return { w, events, responses, errors }
}

async function revision(): Promise<string> {
  return (await eventually(() => ref.get('/watchtest/none').exec())).header.revision
}

test('events arrive in order with their values, in etcd3 shapes; deletes too; responses carry the header', async () => {
  const prefix = `/watchtest/${uniqueRun()}/`
  const rev = await revision()
  const r = record(client(etcd.endpoint), { key: prefix, range_end: prefixEnd(prefix), start_revision: BigInt(rev) + 1n })
  // Written before and after the watch is created: both arrive, from the start revision on.
  await ref.put(prefix + 'a').value('A')
  await until(() => r.responses.some((x) => x.created), 10_000, 'created')
  for (let i = 0; i < 20; i++) await ref.put(prefix + `k${String(i).padStart(2, '0')}`).value(`v${i}`)
  await ref.delete().key(prefix + 'a')
  await until(() => r.events.length === 22, 10_000, '22 events')
  expect(r.errors).toEqual([])
  expect(r.events[0]!.type).toBe('Put')
  expect(r.events[0]!.kv.key.toString()).toBe(prefix + 'a')
  expect(r.events[0]!.kv.value.toString()).toBe('A')
  expect(r.events.slice(1, 21).map((e) => e.kv.value.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`))
  const del = r.events[21]!
  expect(del.type).toBe('Delete')
  expect(del.kv.key.toString()).toBe(prefix + 'a')
  // Revisions strictly increase, as strings like etcd3's.
  const revs = r.events.map((e) => BigInt(e.kv.mod_revision))
  for (let i = 1; i < revs.length; i++) expect(revs[i]!).toBeGreaterThan(revs[i - 1]!)
  expect(revs[0]).toBe(BigInt(rev) + 1n)
  const kv = r.events[1]!.kv
  expect(Buffer.isBuffer(kv.key) && Buffer.isBuffer(kv.value)).toBe(true)
  expect([typeof kv.create_revision, typeof kv.version, typeof kv.lease]).toEqual(['string', 'string', 'string'])
  expect(kv.version).toBe('1')
  expect(kv.lease).toBe('0')
  // The same key-value as etcd3 reads it.
  const theirs = (await ref.getAll().prefix(prefix + 'k00').exec()).kvs[0]!
  expect(JSON.stringify(kv)).toBe(JSON.stringify(theirs))
  const withEvents = r.responses.filter((x) => x.events.length > 0)
  expect(withEvents.flatMap((x) => x.events)).toEqual(r.events)
  const last = r.responses[r.responses.length - 1]!
  expect(BigInt(last.header.revision)).toBe(revs[revs.length - 1])
  expect(last.header.member_id).not.toBe('0')
  expect(r.w.closed).toBe(false)
  r.w.cancel()
  expect(r.w.closed).toBe(true)
})

test('a large response (200 puts of 2 KiB in one txn) split over many DATA frames arrives whole', async () => {
  const prefix = `/watchtest/${uniqueRun()}/`
  const r = record(client(etcd.endpoint), { key: prefix, range_end: prefixEnd(prefix), start_revision: BigInt(await revision()) + 1n })
  const value = (i: number) => Buffer.alloc(2048, i % 251)
  const success = Array.from({ length: 200 }, (_, i) => ({ request_put: { key: b(`${prefix}${String(i).padStart(3, '0')}`), value: value(i) } }))
  // etcd's default --max-txn-ops is 128: two txns, each one revision, each one response.
  // Each batch only if its first key is absent: a retry after a commit whose answer was lost adds nothing.
  const once = (ops: typeof success) => ref.kv.txn({ compare: [{ key: ops[0]!.request_put.key, target: 'Create', result: 'Equal', create_revision: 0 }], success: ops, failure: [] })
  await eventually(() => once(success.slice(0, 100)))
  await eventually(() => once(success.slice(100)))
  await until(() => r.events.length === 200, 10_000, '200 events')
  expect(r.errors).toEqual([])
  r.events.forEach((ev, i) => {
    expect(ev.kv.key.toString()).toBe(`${prefix}${String(i).padStart(3, '0')}`)
    expect(ev.kv.value.equals(value(i))).toBe(true)
  })
  const sizes = r.responses.filter((x) => x.events.length > 0).map((x) => x.events.length)
  expect(sizes).toEqual([100, 100]) // each > 200 KiB: many 16 KiB DATA frames
  r.w.cancel()
})

test('frames split anyhow across chunks, several per chunk, are cut back into the same messages', () => {
  const messages = [0, 1, 4, 5, 300, 70_000, 3].map((n, i) => Buffer.alloc(n, i + 1))
  const stream = Buffer.concat(messages.map((m) => Buffer.concat([Buffer.from([0, (m.length >>> 24) & 255, (m.length >>> 16) & 255, (m.length >>> 8) & 255, m.length & 255]), m])))
  const splits = [1, 2, 3, 5, 7, 64, 16_384, stream.length]
  for (const size of [...splits, 'random' as const]) {
    const got: Buffer[] = []
    const reader = new FrameReader(1 << 20, (m) => got.push(Buffer.from(m)))
    for (let off = 0; off < stream.length; ) {
      const n = size === 'random' ? 1 + Math.floor(Math.random() * 9000) : size
      reader.push(stream.subarray(off, off + n))
      off += n
    }
    expect(got.map((m) => m.toString('hex'))).toEqual(messages.map((m) => m.toString('hex')))
    expect(reader.pending).toBe(0)
  }
  // Too large, or compressed: refused.
  expect(() => new FrameReader(10, () => {}).push(Buffer.from([0, 0, 0, 0, 11]))).toThrow(/larger than max/)
  expect(() => new FrameReader(10, () => {}).push(Buffer.from([1, 0, 0, 0, 1, 0]))).toThrow(/compressed/)
})

test('a watch from a compacted revision fails with WatchCompactedError', async () => {
  const prefix = `/watchtest/${uniqueRun()}/`
  const from = BigInt(await revision()) + 1n
  for (let i = 0; i < 5; i++) await ref.put(prefix + i).value(String(i))
  const now = await revision()
  await ref.kv.compact({ revision: now, physical: true })
  const r = record(client(etcd.endpoint), { key: prefix, range_end: prefixEnd(prefix), start_revision: from })
  await until(() => r.errors.length > 0, 10_000, 'the compaction error')
  expect(r.errors[0]).toBeInstanceOf(WatchCompactedError)
  expect((r.errors[0] as WatchCompactedError).compactRevision).toBe(now)
  expect(r.events).toEqual([])
  expect(r.w.closed).toBe(true)
  // From the compacted revision itself on, the watch is fine.
  const ok = record(client(etcd.endpoint), { key: prefix, range_end: prefixEnd(prefix), start_revision: BigInt(now) + 1n })
  await ref.put(prefix + 'x').value('x')
  await until(() => ok.events.length === 1, 10_000, 'the event')
  expect(ok.errors).toEqual([])
  ok.w.cancel()
})

test('a cut connection ends the watch with an error; the same client watches again once restored', async () => {
  const m0 = new URL(etcd.members[0]!.client)
  const proxy = await startProxy({ host: m0.hostname, port: Number(m0.port) })
  try {
    const kv = client(proxy.url, 1000)
    const prefix = `/watchtest/${uniqueRun()}/`
    const r = record(kv, { key: prefix, range_end: prefixEnd(prefix) })
    await until(() => r.responses.some((x) => x.created), 10_000, 'created')
    await ref.put(prefix + 'before').value('1')
    await until(() => r.events.length === 1, 10_000, 'the first event')
    proxy.cut()
    await until(() => r.errors.length > 0, 5000, 'the error after the cut')
    expect(r.errors).toHaveLength(1)
    expect(r.errors[0]!.constructor.name).toBe('GRPCUnavailableError')
    expect(r.w.closed).toBe(true)
    await ref.put(prefix + 'during').value('2')
    await sleep(100)
    expect(r.events).toHaveLength(1)
    // While the path is down, a new watch fails too (connect refused), once.
    const down = record(kv, { key: prefix, range_end: prefixEnd(prefix) })
    await until(() => down.errors.length > 0, 5000, 'the connect error')
    proxy.restore()
    const again = record(kv, { key: prefix, range_end: prefixEnd(prefix), start_revision: r.events[0]!.kv.mod_revision })
    await until(() => again.events.length === 2, 10_000, 'the replay')
    expect(again.events.map((e) => e.kv.value.toString())).toEqual(['1', '2'])
    expect(again.errors).toEqual([])
    again.w.cancel()
  } finally {
    await proxy.close()
  }
})

test('cancel: nothing more is delivered, no error; closing the client ends open watches with an error', async () => {
  const kv = client(etcd.endpoint)
  const prefix = `/watchtest/${uniqueRun()}/`
  const r = record(kv, { key: prefix, range_end: prefixEnd(prefix) })
  await until(() => r.responses.some((x) => x.created), 10_000, 'created')
  r.w.cancel()
  await ref.put(prefix + 'a').value('1')
  await sleep(200)
  expect(r.events).toEqual([])
  expect(r.errors).toEqual([])
  // Canceled before the stream is even open.
  const early = record(kv, { key: prefix })
  early.w.cancel()
  const open = record(kv, { key: prefix, range_end: prefixEnd(prefix) })
  await until(() => open.responses.some((x) => x.created), 10_000, 'created')
  kv.close()
  await until(() => open.errors.length > 0, 2000, 'the close error')
  expect(open.errors[0]!.constructor.name).toBe('ClientClosedError')
  await sleep(100)
  expect(early.errors).toEqual([])
})

test('a member that loses its leader ends the watch ("no leader"); a frozen member is found by keepalive pings', async () => {
  const [m0, m1, m2] = etcd.members as [Cluster['members'][0], Cluster['members'][0], Cluster['members'][0]]
  const prefix = `/watchtest/${uniqueRun()}/`
  // Frozen (SIGSTOP): the TCP connection stays up, nothing answers; the ping finds out.
  const frozen = record(client(m2.client), { key: prefix, range_end: prefixEnd(prefix) }, { keepaliveMs: 300, pingTimeoutMs: 500 })
  await until(() => frozen.responses.some((x) => x.created), 10_000, 'created')
  await freeze(m2.proc!)
  try {
    await until(() => frozen.errors.length > 0, 5000, 'the keepalive error')
  } finally {
    m2.proc!.kill('SIGCONT')
  }
  expect(frozen.errors[0]!.constructor.name).toBe('GRPCUnavailableError')

  await eventually(async () => void (await ref.put(prefix + 'x').value('1')))
  const lone = record(client(m0.client), { key: prefix, range_end: prefixEnd(prefix) })
  await until(() => lone.responses.some((x) => x.created), 10_000, 'created')
  await m1.stop()
  await m2.stop()
  try {
    await until(() => lone.errors.length > 0, 15_000, 'the no-leader error')
    expect(lone.errors[0]!.message).toMatch(/no leader/)
  } finally {
    await m1.start()
    await m2.start()
  }
  await eventually(async () => void (await ref.put(prefix + 'y').value('2')), 30_000)
}, 60_000)

test("follow() over the lean watch: a slot decided below one already seen, during a cut, is still delivered", async () => {
  const m0 = new URL(etcd.members[0]!.client)
  const proxy = await startProxy({ host: m0.hostname, port: Number(m0.port) })
  const store = new EtcdStore({ endpoints: proxy.url, callTimeoutMs: 1000 })
  expect(store.transport.kind).toBe('http2')
  try {
    const run = uniqueRun('follow')
    const got: number[] = []
    let caughtUp = false
    await eventually(async () => void (await ref.put(slotKey(run, 'main', 0)).value('r0')))
    const stop = store.follow(run, 'main', 0, { slot: (s) => got.push(s), caughtUp: () => (caughtUp = true), error: () => {} })
    await until(() => caughtUp && got.length === 1, 10_000, 'catch-up')
    await sleep(300) // the watch is open
    // Slot 2 is decided before slot 1 (concurrent calls); the watch delivers 2, then the path is cut.
    await ref.put(slotKey(run, 'main', 2)).value('r2')
    await until(() => got.includes(2), 10_000, 'slot 2')
    proxy.cut()
    await ref.put(slotKey(run, 'main', 1)).value('r1')
    await ref.put(slotKey(run, 'main', 3)).value('r3')
    await sleep(300)
    proxy.restore()
    // The re-read starts at the next undelivered slot (1), not after the highest seen (3).
    await until(() => got.length === 4, 15_000, 'slots 1 and 3 after the cut')
    expect(got).toEqual([0, 2, 1, 3])
    // And the watch is back: a later slot arrives live, once.
    await ref.put(slotKey(run, 'main', 4)).value('r4')
    await until(() => got.length === 5, 10_000, 'slot 4')
    await sleep(200)
    expect(got).toEqual([0, 2, 1, 3, 4])
    stop()
  } finally {
    await store.close()
    await proxy.close()
  }
})

test('an open watch keeps the process alive until canceled or unref(); the session itself never does', async () => {
  const dist = fileURLToPath(new URL('../../dist/node-gateway/store/', import.meta.url))
  const script = (unref: boolean) => `
    import { KvClient } from ${JSON.stringify(dist + 'kv-client.js')}
    import { watch } from ${JSON.stringify(dist + 'watch-client.js')}
    const kv = new KvClient({ endpoints: ${JSON.stringify(etcd.endpoint)} })
    const hold = setTimeout(() => console.log('no response'), 8000)
    const w = watch(kv, { key: '/watchtest/exit', range_end: '/watchtest/exiu' }, {
      response: (r) => {
        if (!r.created) return
        console.log('created')
        clearTimeout(hold)
        // Runs only if the watch keeps the process alive.
        setTimeout(() => (console.log('canceled'), w.cancel()), 300).unref()
      },
      error: (e) => console.log('error', e.message),
    }, { keepaliveMs: 200 })
    ${unref ? 'w.unref()' : ''}
  `
  const run = (unref: boolean) =>
    new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script(unref)], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)))
    })
  expect((await run(false)).trim().split('\n')).toEqual(['created', 'canceled'])
  expect((await run(true)).trim().split('\n')).toEqual(['created'])
})
