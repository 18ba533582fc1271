// Per-connection limits and protocol violations: frame size (1009), frame rate (4003), requests
// in flight (REPJS_LIMIT, connection stays usable), slow consumers (4004, others keep being
// served), text frames, messages before hello and server-to-client messages (4000).
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { CLOSE, encodeMessage, type Message, type Messages } from '../../core/protocol.js'
import { STALL_MS } from '../../node-gateway/gateway/hub.js'
import { decodeVote } from '../../core/record.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect, createEtcdStore } from '../../node-gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { codec, helloFrame, httpUrl, metric, openHello, openRaw, rawRecord, rawVote, until, type RawClient } from '../helpers/raw-gateway.js'

const KiB = 1024
let etcd: Cluster
let gw: Gateway
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({
    etcd: etcd.endpoint,
    logger: pino({ level: 'silent' }),
    maxFrameBytes: 64 * KiB,
    // SUBSCRIBE pacing (its bucket's burst is maxSubscriptions) is gateway-caps.test's: refilled at
    // once here, so the count limit below is what refuses.
    limits: { maxInFlight: 4, ratePerSecond: 200, maxBufferedBytes: 64 * KiB, maxSubscriptions: 8, maxLocks: 2, subscribesPerSecond: 1_000_000 },
  })
})
afterAll(async () => {
  await gw?.close()
  await etcd?.stop()
})

/** A record for slot `slot` of stream 'main' of `run` (the place is checked only when a gateway stores it). */
const record = (value: unknown, name = 'f', run = 'limits', slot = 0) => rawRecord({ run, stream: 'main', slot }, value, 'raw', name)

async function closedWith(c: RawClient, ms = 10_000): Promise<{ code: number; reason: string; errors: Messages['error'][] }> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the gateway did not close the connection')), ms).unref())
  const { code, reason } = await Promise.race([c.closed, timeout])
  return { code, reason, errors: c.frames.filter((f): f is Messages['error'] => f?.type === 'error') }
}

/** Asserts the SLOTS frames `c` received are gap-free from slot `from` on; returns the next slot after them. */
function gapFreeFrom(c: RawClient, from: number): number {
  let next = from
  for (const f of c.frames) {
    if (f?.type !== 'slots') continue
    expect(f.first).toBe(next)
    next += f.records.length
  }
  return next
}

test('a frame over maxFrameBytes is closed with 1009; one just under it is served', async () => {
  const run = uniqueRun('big')
  const c = await openHello(gw.url, run)
  const fits = encodeMessage({ type: 'propose', id: 1, stream: 'main', slot: 0, clearVotes: false, record: record('x'.repeat(60 * KiB), 'f', run) })
  expect(fits.length).toBeLessThan(64 * KiB)
  c.sendRaw(fits)
  expect(await c.next((m) => m.type === 'decided')).toMatchObject({ id: 1, won: true })
  c.sendRaw(encodeMessage({ type: 'propose', id: 2, stream: 'main', slot: 1, clearVotes: false, record: record('x'.repeat(65 * KiB)) }))
  expect((await closedWith(c)).code).toBe(CLOSE.TOO_BIG)
  // Also before hello.
  const d = await openRaw(gw.url)
  d.sendRaw(new Uint8Array(64 * KiB + 1))
  expect((await closedWith(d)).code).toBe(CLOSE.TOO_BIG)
})

test('more than ratePerSecond frames closes with 4003 and REPJS_LIMIT', async () => {
  const c = await openHello(gw.url, uniqueRun('rate'))
  for (let n = 0; n < 1000; n++) c.send({ type: 'ping', n })
  const r = await closedWith(c)
  expect(r.code).toBe(CLOSE.RATE_LIMITED)
  expect(r.errors.at(-1)).toMatchObject({ code: ErrorCodes.LIMIT })
  const pongs = c.frames.filter((f) => f?.type === 'pong').length
  expect(pongs).toBeGreaterThan(0)
  expect(pongs).toBeLessThan(1000)
  // A client within the rate is fine.
  const ok = await openHello(gw.url, uniqueRun('rate'))
  for (let n = 0; n < 20; n++) {
    ok.send({ type: 'ping', n })
    await ok.next((m) => m.type === 'pong' && m.n === n)
  }
  expect(ok.isClosed()).toBe(false)
  ok.close()
})

test('requests over maxInFlight get a retryable REPJS_LIMIT and the connection stays usable', async () => {
  const run = uniqueRun('inflight')
  const c = await openHello(gw.url, run)
  // awaitVotes for votes that never come: each holds its in-flight place until cancelled.
  for (let id = 1; id <= 10; id++) c.send({ type: 'awaitVotes', id, stream: 'v', slot: id, n: 3 })
  const limited = await Promise.all([5, 6, 7, 8, 9, 10].map((id) => c.next<Messages['error']>((m) => m.type === 'error' && m.id === id)))
  for (const e of limited) expect(e).toMatchObject({ code: ErrorCodes.LIMIT, retryable: true })
  expect(c.frames.filter((f) => f?.type === 'error')).toHaveLength(6)
  // Still usable: pings are not requests, and a proposal over the limit is refused, not dropped.
  c.send({ type: 'ping', n: 7 })
  await c.next((m) => m.type === 'pong' && m.n === 7)
  c.send({ type: 'propose', id: 11, stream: 'main', slot: 0, clearVotes: false, record: record(1, 'f', run) })
  expect(await c.next((m) => (m.type === 'error' || m.type === 'decided') && m.id === 11)).toMatchObject({ type: 'error', code: ErrorCodes.LIMIT })
  for (let id = 1; id <= 4; id++) c.send({ type: 'cancel', id })
  // Once the waits are cancelled, requests are served again.
  let id = 100
  await until(async () => {
    const mine = id++
    c.send({ type: 'propose', id: mine, stream: 'main', slot: 0, clearVotes: false, record: record(1, 'f', run) })
    const m = await c.next((f) => (f.type === 'error' || f.type === 'decided') && f.id === mine)
    return m.type === 'decided'
  }, 5000, 'the in-flight places to free up')
  c.send({ type: 'awaitVotes', id: 13, stream: 'v', slot: 99, n: 1 })
  c.send({ type: 'vote', id: 14, stream: 'v', slot: 99, value: rawVote({ run, stream: 'v', slot: 99 }, 'yes') })
  expect(await c.next((m) => m.type === 'voted' && m.id === 14)).toMatchObject({ decided: false })
  const votes = await c.next<Messages['votes']>((m) => m.type === 'votes' && m.id === 13)
  expect(votes.values.map((v) => decodeVote(codec, v, { run, stream: 'v', slot: 99 }).value)).toEqual(['yes'])
  expect(c.isClosed()).toBe(false)
  c.close()
})

test('a slow consumer is closed with 4004 once too much is buffered; others keep being served', async () => {
  const run = uniqueRun('slow')
  const slow = await openHello(gw.url, run)
  slow.send({ type: 'subscribe', sub: 1, stream: 'busy', from: 0 })
  await slow.next((m) => m.type === 'caughtUp' && m.sub === 1)
  const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
  socket.pause()

  const good = await connect({ run, gateway: gw.url, program: 'raw-test' })
  const other = await openHello(gw.url, run, '', 'other')
  const writer = createEtcdStore({ endpoints: etcd.endpoint })
  // 16 KiB records: big enough to fill buffers fast, small enough that the gateway's etcd watch
  // never needs a message over gRPC's 4 MiB default (see the report on etcd-store's watch).
  const big = record('x'.repeat(16 * KiB), 'big')
  const slowRefused = async () => metric(await (await fetch(`${httpUrl(gw.url)}/metrics`)).text(), 'repjs_gateway_refused_total{reason="slow-consumer"}') ?? 0
  const before = await slowRefused()
  let written = 0
  try {
    // Write big records until the gateway gives up on the paused client (kernel buffers on
    // loopback take a few MB before the gateway's own queue grows).
    while (written < 4000 && (await slowRefused()) === before) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => writer.propose({ run, stream: 'busy', slot: written + i }, big)))
      written += 20
      expect(await good.now()).toBeTypeOf('number')
    }
    expect(await slowRefused()).toBe(before + 1)
    console.log(`slow consumer: closed after ${written} slots of 16 KiB were written`)
    // The others were served all along and still are.
    expect(await good.distributed(() => 'still served', { name: 'after' })()).toBe('still served')
    other.send({ type: 'ping', n: 42 })
    await other.next((m) => m.type === 'pong' && m.n === 42)
    // A client that reads catches up the whole busy stream, paced, without being taken for slow.
    other.send({ type: 'subscribe', sub: 9, stream: 'busy', from: 0 })
    await other.next((m) => m.type === 'caughtUp' && m.sub === 9, 30_000)
    const got = other.frames.reduce((n, f) => n + (f?.type === 'slots' ? f.records.length : 0), 0)
    expect(got).toBe(written)
    expect(other.isClosed()).toBe(false)

    // The slow client, once it reads again, gets a gap-free prefix of the stream and then 4004.
    socket.resume()
    const r = await closedWith(slow, 20_000)
    expect(r.code).toBe(CLOSE.SLOW_CONSUMER)
    const next = gapFreeFrom(slow, 0)
    expect(next).toBeGreaterThan(0)
    expect(next).toBeLessThan(written)
    await until(() => gw.connections === 2, 5000, 'the slow connection to go')
  } finally {
    await writer.close()
    other.close()
    await good.close()
  }
}, 90_000)

test('a slow consumer that never reads again is dropped; its buffers are released', async () => {
  const run = uniqueRun('stuck')
  const stuck = await openHello(gw.url, run)
  stuck.send({ type: 'subscribe', sub: 1, stream: 'busy', from: 0 })
  await stuck.next((m) => m.type === 'caughtUp')
  ;(stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  const before = gw.connections
  const writer = createEtcdStore({ endpoints: etcd.endpoint })
  const big = record('y'.repeat(16 * KiB), 'big')
  try {
    let written = 0
    const refused = async () => metric(await (await fetch(`${httpUrl(gw.url)}/metrics`)).text(), 'repjs_gateway_refused_total{reason="slow-consumer"}') ?? 0
    const start = await refused()
    while (written < 4000 && (await refused()) === start) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => writer.propose({ run, stream: 'busy', slot: written + i }, big)))
      written += 20
    }
    // Not waiting out ws's 30 s close handshake: the gateway drops it well before.
    await until(() => gw.connections === before - 1, 15_000, 'the stuck connection to be dropped')
  } finally {
    await writer.close()
    stuck.ws.terminate()
  }
}, 60_000)

test('a text frame closes with 4000', async () => {
  const c = await openHello(gw.url, uniqueRun('text'))
  c.sendRaw('hello as text')
  const r = await closedWith(c)
  expect(r.code).toBe(CLOSE.PROTOCOL_ERROR)
  expect(r.errors[0]).toMatchObject({ code: ErrorCodes.PROTOCOL })
  // Before hello too.
  const d = await openRaw(gw.url)
  d.sendRaw('text')
  expect((await closedWith(d)).code).toBe(CLOSE.PROTOCOL_ERROR)
})

test('a message before hello closes with 4000', async () => {
  for (const msg of [
    { type: 'ping', n: 1 },
    { type: 'propose', id: 1, stream: 'main', slot: 0, clearVotes: false, record: record(1) },
    { type: 'subscribe', sub: 1, stream: 'main', from: 0 },
  ] as const) {
    const c = await openRaw(gw.url)
    c.send(msg)
    const r = await closedWith(c)
    expect(r.code, msg.type).toBe(CLOSE.PROTOCOL_ERROR)
    expect(r.errors[0]?.code).toBe(ErrorCodes.PROTOCOL)
    expect(r.errors[0]?.message).toContain('hello')
  }
})

test('a server-to-client message sent by a client closes with 4000', async () => {
  const serverMessages: Message[] = [
    { type: 'welcome', meta: new Uint8Array(), created: true, gateway: 'x' },
    { type: 'decided', id: 1, won: true, record: new Uint8Array() },
    { type: 'slots', sub: 1, first: 0, records: [] },
    { type: 'caughtUp', sub: 1 },
    { type: 'voted', id: 1, decided: false, record: new Uint8Array() },
    { type: 'votes', id: 1, values: [] },
    { type: 'acquired', id: 1, state: 0, lock: 0, hasBytes: false, bytes: new Uint8Array() },
    { type: 'ok', id: 1 },
    { type: 'lockLost', lock: 1 },
    { type: 'pong', n: 1 },
    { type: 'error', id: 0, code: 'X', message: 'y', retryable: false, status: '' },
  ]
  for (const msg of serverMessages) {
    const c = await openHello(gw.url, uniqueRun('dir'))
    c.send(msg)
    const r = await closedWith(c)
    expect(r.code, msg.type).toBe(CLOSE.PROTOCOL_ERROR)
    expect(r.errors[0]?.message, msg.type).toContain(msg.type)
  }
  // A second hello is not a request either.
  const c = await openHello(gw.url, uniqueRun('dir'))
  c.sendRaw(helloFrame(uniqueRun('dir')))
  expect((await closedWith(c)).code).toBe(CLOSE.PROTOCOL_ERROR)
  // Unknown type numbers and malformed frames.
  for (const bytes of [[99], [0x80], [21, 0x80], [21, 1, 2], []]) {
    const d = await openHello(gw.url, uniqueRun('dir'))
    d.sendRaw(Uint8Array.from(bytes))
    const r = await closedWith(d)
    expect(r.code, JSON.stringify(bytes)).toBe(CLOSE.PROTOCOL_ERROR)
    expect([ErrorCodes.PROTOCOL, ErrorCodes.UNKNOWN_MESSAGE]).toContain(r.errors[0]?.code)
  }
})

let historyRun = ''
test('a client catching up a history far larger than maxBufferedBytes is paced, not closed', async () => {
  const run = (historyRun = uniqueRun('history'))
  const writer = createEtcdStore({ endpoints: etcd.endpoint })
  const rec = record('h'.repeat(16 * KiB), 'h')
  const N = 400 // ~6.5 MB of history against a 64 KiB limit
  try {
    for (let s = 0; s < N; s += 50) await Promise.all(Array.from({ length: 50 }, (_, i) => writer.propose({ run, stream: 'long', slot: s + i }, rec)))
  } finally {
    await writer.close()
  }
  const c = await openHello(gw.url, run)
  c.send({ type: 'subscribe', sub: 7, stream: 'long', from: 3 })
  await c.next((m) => m.type === 'caughtUp' && m.sub === 7, 30_000)
  const next = gapFreeFrom(c, 3)
  expect(next).toBe(N)
  expect(c.isClosed()).toBe(false)
  c.close()
}, 60_000)

test('a client that stops reading while catching up is closed with 4004 after a while', async () => {
  expect(historyRun).not.toBe('')
  const c = await openHello(gw.url, historyRun)
  const socket = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
  const refused = async () => metric(await (await fetch(`${httpUrl(gw.url)}/metrics`)).text(), 'repjs_gateway_refused_total{reason="slow-consumer"}') ?? 0
  const before = await refused()
  // Before the SUBSCRIBE: the gateway's stall clock cannot start earlier than this.
  const t0 = Date.now()
  c.send({ type: 'subscribe', sub: 1, stream: 'long', from: 0 })
  socket.pause()
  await new Promise((r) => setTimeout(r, 1000))
  expect(await refused()).toBe(before) // paced, not dropped at once
  await until(async () => (await refused()) > before, 20_000, 'the stalled client to be given up on')
  expect(Date.now() - t0).toBeGreaterThanOrEqual(STALL_MS)
  socket.resume()
  const r = await closedWith(c)
  expect(r.code).toBe(CLOSE.SLOW_CONSUMER)
  gapFreeFrom(c, 0)
  expect(c.frames.some((f) => f?.type === 'caughtUp')).toBe(false)
}, 40_000)

test('subscriptions and run-once locks per connection are limited; ids are checked at once', async () => {
  const health = async () => (await (await fetch(`${httpUrl(gw.url)}/health`)).json()) as { streams: number }
  const base = (await health()).streams
  const c = await openHello(gw.url, uniqueRun('subs'))
  // The same id twice in a row (the second arrives while the first is being set up), then gone
  // again at once: one subscription, an ERROR for the duplicate, nothing left behind.
  c.send({ type: 'subscribe', sub: 1, stream: 'a', from: 0 })
  c.send({ type: 'subscribe', sub: 1, stream: 'b', from: 0 })
  c.send({ type: 'unsubscribe', sub: 1 })
  const dup = await c.next<Messages['error']>((m) => m.type === 'error')
  // subscription errors carry the subscription's id, so the client knows which one failed
  expect(dup).toMatchObject({ id: 1, code: ErrorCodes.BAD_ARGUMENT })
  await until(async () => (await health()).streams === base, 5000, 'the hub of the dropped subscription to go')
  // Over maxSubscriptions: REPJS_LIMIT; after an UNSUBSCRIBE there is room again.
  for (let sub = 10; sub < 20; sub++) c.send({ type: 'subscribe', sub, stream: `s${sub}`, from: 0 })
  await Promise.all(Array.from({ length: 8 }, (_, i) => c.next((m) => m.type === 'caughtUp' && m.sub === 10 + i)))
  const limited = c.frames.filter((m): m is Messages['error'] => m?.type === 'error' && m.code === ErrorCodes.LIMIT)
  expect(limited).toHaveLength(2)
  c.send({ type: 'unsubscribe', sub: 10 })
  c.send({ type: 'subscribe', sub: 30, stream: 's30', from: 0 })
  await c.next((m) => m.type === 'caughtUp' && m.sub === 30)
  // Slots beyond the 12-digit key space are refused, for requests and subscriptions alike.
  c.send({ type: 'propose', id: 5, stream: 'main', slot: 1_000_000_000_000, clearVotes: false, record: record(1) })
  expect(await c.next((m) => m.type === 'error' && m.id === 5)).toMatchObject({ code: ErrorCodes.BAD_ARGUMENT })
  c.send({ type: 'unsubscribe', sub: 11 })
  c.send({ type: 'subscribe', sub: 31, stream: 'main', from: Number.MAX_SAFE_INTEGER })
  await until(() => c.frames.some((m) => m?.type === 'error' && m.id === 31), 5000, 'an ERROR for the subscription')
  expect(c.frames.filter((m) => m?.type === 'error').at(-1)).toMatchObject({ code: ErrorCodes.BAD_ARGUMENT })
  // Over maxLocks: a retryable REPJS_LIMIT; a release makes room.
  c.send({ type: 'acquire', id: 41, stream: 'once', slot: 1, ttlMs: 5000 })
  c.send({ type: 'acquire', id: 42, stream: 'once', slot: 2, ttlMs: 5000 })
  const held = await Promise.all([41, 42].map((id) => c.next<Messages['acquired']>((m) => m.type === 'acquired' && m.id === id)))
  expect(held.map((h) => h.state)).toEqual([2, 2])
  c.send({ type: 'acquire', id: 43, stream: 'once', slot: 3, ttlMs: 5000 })
  expect(await c.next((m) => m.type === 'error' && m.id === 43)).toMatchObject({ code: ErrorCodes.LIMIT, retryable: true })
  c.send({ type: 'release', lock: held[0]!.lock })
  await until(async () => {
    const id = 100 + c.frames.length
    c.send({ type: 'acquire', id, stream: 'once', slot: 3, ttlMs: 5000 })
    const m = await c.next((f) => (f.type === 'acquired' || f.type === 'error') && f.id === id)
    return m.type === 'acquired'
  }, 5000, 'room for another lock')
  expect(c.isClosed()).toBe(false)
  c.close()
  await until(async () => (await health()).streams === base, 5000, 'the subscriptions to go with the connection')
})
