// Gateway-wide and per-run caps (issue 11, 2.8): what per-connection limits cannot bound. Run-once
// leases (per connection, with the check-then-await race; per run; gateway-wide), connections per
// run, streams followed (per run, gateway-wide), bytes written per run, and SUBSCRIBE churn (each
// SUBSCRIBE starts a history read). Every refusal is REPJS_LIMIT. Real etcd, raw clients.
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { CLOSE, type Message, type Messages } from '../../core/protocol.js'
import { encodeRecord } from '../../core/record.js'
import { startGateway, type Gateway, type GatewayOptions } from '../../node-gateway/gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { codec, helloFrame, openHello, openRaw, type RawClient } from '../helpers/raw-gateway.js'

const quiet = pino({ level: 'silent' })
let etcd: Cluster
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await etcd?.stop()
})

async function withGateway(limits: GatewayOptions['limits'], body: (gw: Gateway) => Promise<void>): Promise<void> {
  const gw = await startGateway({ etcd: etcd.endpoint, logger: quiet, limits })
  try {
    await body(gw)
  } finally {
    await gw.close()
  }
}

type Answer = Messages['acquired'] | Messages['error']
const answer = (c: RawClient, id: number) => c.next<Answer>((m) => (m.type === 'acquired' || m.type === 'error') && m.id === id)

/** Send ACQUIREs for `slots` at once (ids from `firstId`); the answers, in slot order. */
async function acquireAll(c: RawClient, slots: number[], firstId = 1, ttlMs = 60_000): Promise<Answer[]> {
  slots.forEach((slot, i) => c.send({ type: 'acquire', id: firstId + i, stream: 'main', slot, ttlMs }))
  return Promise.all(slots.map((_, i) => answer(c, firstId + i)))
}

const held = (as: Answer[]) => as.filter((a) => a.type === 'acquired' && a.state === 2).length
const limited = (as: Answer[]) => as.filter((a) => a.type === 'error' && a.code === ErrorCodes.LIMIT).length

test('maxLocks holds for ACQUIREs sent at once (the cap is taken before the etcd round trip)', async () => {
  await withGateway({ maxLocks: 2 }, async (gw) => {
    const c = await openHello(gw.url, uniqueRun('race'))
    const got = await acquireAll(c, [0, 1, 2, 3, 4, 5])
    expect(held(got)).toBe(2)
    expect(limited(got)).toBe(4)
    // A released lock frees its place.
    const lock = got.find((a): a is Messages['acquired'] => a.type === 'acquired')!.lock
    c.send({ type: 'release', lock })
    const again = await acquireAll(c, [6], 100)
    expect(held(again)).toBe(1)
    c.close()
  })
})

test('maxRunLeases caps one run across connections; another run is not affected; maxLeases caps the gateway', async () => {
  await withGateway({ maxRunLeases: 3, maxLeases: 5 }, async (gw) => {
    const run = uniqueRun('leases')
    const a = await openHello(gw.url, run, '', 'a')
    const b = await openHello(gw.url, run, '', 'b')
    const fromA = await acquireAll(a, [0, 1])
    const fromB = await acquireAll(b, [2, 3])
    expect(held([...fromA, ...fromB])).toBe(3)
    expect(limited([...fromA, ...fromB])).toBe(1)
    const other = await openHello(gw.url, uniqueRun('leases'))
    const fromOther = await acquireAll(other, [0, 1, 2])
    expect(held(fromOther)).toBe(2) // 3 + 2 = maxLeases
    expect(limited(fromOther)).toBe(1)
    const e = fromOther.find((x): x is Messages['error'] => x.type === 'error')!
    expect(e.message).toContain('on this gateway')
    // Closing a connection gives its leases back.
    a.close()
    await a.closed
    let id = 10
    let freed = 0
    for (let tries = 0; tries < 100 && freed === 0; tries++) freed = held(await acquireAll(other, [10 + tries], id++))
    expect(freed).toBe(1)
    for (const c of [b, other]) c.close()
  })
})

test('a connection dropped without a close keeps its leases counted for one TTL (they live on for the holder to re-attach)', async () => {
  await withGateway({ maxRunLeases: 1 }, async (gw) => {
    const run = uniqueRun('detached')
    const a = await openHello(gw.url, run, '', 'a')
    expect(held(await acquireAll(a, [0], 1, 1500))).toBe(1)
    a.ws.terminate() // no close frame: the gateway detaches the lock and its lease lives on
    await a.closed
    const b = await openHello(gw.url, run, '', 'b')
    expect(limited(await acquireAll(b, [1], 1, 1500))).toBe(1)
    let id = 10
    let freed = 0
    for (let tries = 0; tries < 60 && freed === 0; tries++) {
      await new Promise((r) => setTimeout(r, 100))
      freed = held(await acquireAll(b, [2 + tries], id++, 1500))
    }
    expect(freed).toBe(1)
    b.close()
  })
})

test('maxRunConnections: a HELLO over it gets REPJS_LIMIT and close 4005; another run gets in', async () => {
  await withGateway({ maxRunConnections: 2 }, async (gw) => {
    const run = uniqueRun('conns')
    // distinct replica ids: a second HELLO of one (run, replica id) takes over the first connection
    const a = await openHello(gw.url, run, '', 'a')
    const b = await openHello(gw.url, run, '', 'b')
    const c = await openRaw(gw.url)
    c.sendRaw(helloFrame(run, '', 'c'))
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the connection was not refused')), 5000).unref())
    const closed = await Promise.race([c.closed, timeout])
    expect(closed.code).toBe(CLOSE.OVERLOADED)
    expect(c.frames.find((f) => f?.type === 'error')).toMatchObject({ id: 0, code: ErrorCodes.LIMIT })
    const d = await openHello(gw.url, uniqueRun('conns'))
    b.close()
    await b.closed
    const e = await openHello(gw.url, run, '', 'e')
    for (const x of [a, d, e]) x.close()
  })
})

test('maxRunStreams and maxStreams: a SUBSCRIBE needing a new watch over either gets ERROR(sub, REPJS_LIMIT); a shared one is fine', async () => {
  await withGateway({ maxRunStreams: 2, maxStreams: 3 }, async (gw) => {
    const run = uniqueRun('streams')
    const a = await openHello(gw.url, run, '', 'a')
    const subscribe = async (c: RawClient, sub: number, stream: string): Promise<Message> => {
      c.send({ type: 'subscribe', sub, stream, from: 0 })
      return c.next((m) => (m.type === 'caughtUp' && m.sub === sub) || (m.type === 'error' && m.id === sub))
    }
    expect((await subscribe(a, 1, 's1')).type).toBe('caughtUp')
    expect((await subscribe(a, 2, 's2')).type).toBe('caughtUp')
    expect(await subscribe(a, 3, 's3')).toMatchObject({ type: 'error', code: ErrorCodes.LIMIT })
    // Another connection following a stream the run already follows shares its watch.
    const b = await openHello(gw.url, run, '', 'b')
    expect((await subscribe(b, 1, 's1')).type).toBe('caughtUp')
    const other = await openHello(gw.url, uniqueRun('streams'))
    expect((await subscribe(other, 1, 's1')).type).toBe('caughtUp')
    const over = await subscribe(other, 2, 's2')
    expect(over).toMatchObject({ type: 'error', code: ErrorCodes.LIMIT })
    expect((over as Messages['error']).message).toContain('on this gateway')
    // An unsubscribed stream frees its place.
    a.send({ type: 'unsubscribe', sub: 2 })
    expect((await subscribe(a, 4, 's3')).type).toBe('caughtUp')
    for (const c of [a, b, other]) c.close()
  })
})

test('maxRunBytes: what a run wrote counts (a lost proposal does not); writes past it get a final REPJS_LIMIT; another run still writes', async () => {
  await withGateway({ maxRunBytes: 4096 }, async (gw) => {
    const run = uniqueRun('bytes')
    const a = await openHello(gw.url, run, '', 'a')
    const b = await openHello(gw.url, run, '', 'b')
    // A record names its run, stream, slot and proposer (the gateway checks): one per proposal, all of one size.
    const recordFor = (r: string, by: string, slot: number) => encodeRecord(codec, { run: r, stream: 'main', slot }, { kind: 'call', name: 'f', argsHash: '-', site: '', by, ok: true, value: 'x'.repeat(900) })
    const fit = Math.floor(4096 / recordFor(run, 'a', 0).length)
    expect(fit).toBe(4)
    let id = 1
    const propose = async (c: RawClient, slot: number, by = 'a', r = run): Promise<Message> => {
      const n = id++
      c.send({ type: 'propose', id: n, stream: 'main', slot, clearVotes: false, record: recordFor(r, by, slot) })
      return c.next((m) => (m.type === 'decided' || m.type === 'error') && m.id === n)
    }
    for (const slot of [0, 1]) expect(await propose(a, slot)).toMatchObject({ type: 'decided', won: true })
    // Replica b proposes the same slots and loses: nothing written, nothing counted.
    for (const slot of [0, 1]) expect(await propose(b, slot, 'b')).toMatchObject({ type: 'decided', won: false })
    for (const slot of [2, 3]) expect(await propose(a, slot)).toMatchObject({ type: 'decided', won: true })
    for (const slot of [4, 5]) expect(await propose(a, slot)).toMatchObject({ type: 'error', code: ErrorCodes.LIMIT, retryable: false })
    a.send({ type: 'vote', id: 100, stream: 'v', slot: 0, value: new Uint8Array(400) })
    expect(await a.next((m) => m.type === 'error' && m.id === 100)).toMatchObject({ code: ErrorCodes.LIMIT })
    const other = uniqueRun('bytes')
    const d = await openHello(gw.url, other, '', 'd')
    expect(await propose(d, 0, 'd', other)).toMatchObject({ type: 'decided', won: true })
    for (const c of [a, b, d]) c.close()
  })
})

test('SUBSCRIBE churn is bounded: past subscribesPerSecond a SUBSCRIBE gets a retryable REPJS_LIMIT', async () => {
  await withGateway({ maxSubscriptions: 4, subscribesPerSecond: 5 }, async (gw) => {
    const c = await openHello(gw.url, uniqueRun('churn'))
    for (let sub = 1; sub <= 40; sub++) {
      c.send({ type: 'subscribe', sub, stream: 'main', from: 0 })
      c.send({ type: 'unsubscribe', sub })
    }
    c.send({ type: 'ping', n: 1 })
    await c.next((m) => m.type === 'pong')
    const errors = c.frames.filter((f): f is Messages['error'] => f?.type === 'error')
    // The burst (maxSubscriptions) and what refilled meanwhile got through; the rest were refused.
    expect(errors.length).toBeGreaterThanOrEqual(30)
    for (const e of errors) expect(e).toMatchObject({ code: ErrorCodes.LIMIT, retryable: true })
    // The connection stays usable, and a later SUBSCRIBE is served.
    await new Promise((r) => setTimeout(r, 250))
    c.send({ type: 'subscribe', sub: 100, stream: 'main', from: 0 })
    await c.next((m) => m.type === 'caughtUp' && m.sub === 100)
    c.close()
  })
})
