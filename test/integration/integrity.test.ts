// Every layer that carries a value for slot k carries k and checks it: a stored record names its
// run, stream and slot, so a record moved to another slot (by hand, by a store, by a gateway that
// answers for the wrong slot) is REPJS_CORRUPT, never a value. And the gateway validates what it
// writes: a token for a run does not let a client write garbage, misplaced records or records in
// another replica's name into it.
import { pino } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { CLOSE, decodeMessage, encodeMessage, SUBPROTOCOL, type Message, type Messages } from '../../core/protocol.js'
import { createToken, startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect, createEtcdStore } from '../../node-gateway/index.js'
import { META_FORMAT } from '../../core/record.js'
import { pad } from '../../node-gateway/store/keys.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { codec, openHello, openRaw, rawRecord, rawVote, runMeta, until, type RawClient } from '../helpers/raw-gateway.js'

const quiet = pino({ level: 'silent' })
const MAX_VALUE = 4096
const SECRET = 'integrity-secret'
let etcd: Cluster
let gw: Gateway
let gwSecret: Gateway
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: quiet, limits: { maxValueBytes: MAX_VALUE } })
  gwSecret = await startGateway({ etcd: etcd.endpoint, logger: quiet, secret: SECRET })
})
afterAll(async () => {
  await gw?.close()
  await gwSecret?.close()
  await etcd?.stop()
})

async function rejection(p: Promise<unknown>): Promise<RepJSError> {
  const got = await p.then((value) => ({ value }), (err: unknown) => ({ err }))
  if (!('err' in got)) throw new Error(`expected a RepJSError, got the value ${JSON.stringify(got.value)}`)
  if (!RepJSError.is(got.err)) throw got.err
  return got.err
}

/** `p` is refused with REPJS_CORRUPT because what came for slot `expected` names slot `found`. */
async function expectMisplaced(p: Promise<unknown>, expected: number, found: number): Promise<void> {
  const err = await rejection(p)
  expect(err.code).toBe(ErrorCodes.CORRUPT)
  expect(err.details).toMatchObject({ expected: { slot: expected }, found: { slot: found } })
}

/** The run's keys and values in etcd, keys relative to the run. */
async function stored(run: string): Promise<Map<string, Buffer>> {
  const store = createEtcdStore({ endpoints: etcd.endpoint })
  try {
    const all = await store.client.getAll().prefix(`/repjs/v1/${run}/`).buffers()
    return new Map(Object.entries(all).map(([k, v]) => [k.slice(`/repjs/v1/${run}/`.length), v]))
  } finally {
    await store.close()
  }
}

test('a record copied in etcd from slot 0 to slot 1 is REPJS_CORRUPT on replay, directly and through a gateway', async () => {
  const run = uniqueRun('moved')
  const a = await connect({ run, etcd: etcd.endpoint, program: 'moved' })
  let n = 0
  expect(await a.distributed(() => ++n, { name: 'count' })()).toBe(1)
  await a.close()
  const store = createEtcdStore({ endpoints: etcd.endpoint })
  try {
    const rec0 = await store.client.get(`/repjs/v1/${run}/s/main/${pad(0)}`).buffer()
    expect(rec0).not.toBeNull()
    await store.client.put(`/repjs/v1/${run}/s/main/${pad(1)}`).value(rec0!)
  } finally {
    await store.close()
  }
  for (const where of [{ etcd: etcd.endpoint }, { gateway: gw.url }]) {
    const b = await connect({ run, ...where, program: 'moved' })
    const count = b.distributed(() => 0, { name: 'count' })
    expect(await count()).toBe(1)
    const err = await rejection(count())
    expect(err.code).toBe(ErrorCodes.CORRUPT)
    expect(err.message).toContain(`/repjs/v1/${run}/s/main/${pad(1)}`)
    expect(err.message).toMatch(/names run '.*' stream 'main' slot 0/)
    expect(err.details).toMatchObject({ expected: { run, stream: 'main', slot: 1 }, found: { run, stream: 'main', slot: 0 } })
    await b.close()
  }
})

/**
 * A crafted gateway: welcomes anyone, remembers the first record proposed and the first vote, and
 * answers every PROPOSE with that record (DECIDED for the wrong slot), every SUBSCRIBE with it at
 * slots 0 and 1, and every AWAIT_VOTES with that vote (with `honestDecided`, DECIDED echoes the proposal).
 */
async function craftedGateway(opts: { gap?: boolean; honestDecided?: boolean } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => SUBPROTOCOL })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  let first: Uint8Array | undefined
  let firstVote: Uint8Array | undefined
  wss.on('connection', (ws: WebSocket) => {
    const send = (m: Message) => ws.send(encodeMessage(m))
    ws.on('message', (data: Buffer) => {
      const m = decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      if (m.type === 'hello') send({ type: 'welcome', meta: m.meta, created: true, gateway: 'crafted' })
      if (m.type === 'propose') {
        first ??= m.record
        send({ type: 'decided', id: m.id, won: true, record: opts.honestDecided ? m.record : first })
      }
      if (m.type === 'vote') {
        firstVote ??= m.value
        send({ type: 'voted', id: m.id, decided: false, record: new Uint8Array() })
      }
      if (m.type === 'awaitVotes') send({ type: 'votes', id: m.id, values: [firstVote!] })
      if (m.type === 'readSnapshot') send({ type: 'snapshot', id: m.id, present: false, snapshot: new Uint8Array() })
      if (m.type === 'subscribe') {
        if (first) send({ type: 'slots', sub: m.sub, first: opts.gap ? m.from + 1 : 0, records: [first, first] })
        send({ type: 'caughtUp', sub: m.sub })
      }
    })
  })
  const port = (wss.address() as { port: number }).port
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate()
      wss.close(() => resolve())
    }),
  }
}

test('a gateway answering with another slot\'s record (DECIDED, SLOTS) is refused with REPJS_CORRUPT, never a value', async () => {
  const crafted = await craftedGateway()
  try {
    const run = uniqueRun('crafted')
    const a = await connect({ run, gateway: crafted.url, program: 'crafted' })
    let n = 0
    const count = a.distributed(() => ++n, { name: 'count' })
    expect(await count()).toBe(1)
    // Slot 1 is answered with slot 0's record: same call identity, another slot.
    await expectMisplaced(count(), 1, 0)
    await a.close()
    // A replica joining later gets slot 0's record delivered as slots 0 and 1.
    const b = await connect({ run, gateway: crafted.url, program: 'crafted' })
    const again = b.distributed(() => 0, { name: 'count' })
    expect(await again()).toBe(1)
    await expectMisplaced(again(), 1, 0)
    await b.close()
  } finally {
    await crafted.close()
  }
})

test('a gateway answering AWAIT_VOTES with another slot\'s votes is refused with REPJS_CORRUPT', async () => {
  const crafted = await craftedGateway({ honestDecided: true })
  try {
    const a = await connect({ run: uniqueRun('votes'), gateway: crafted.url, program: 'votes' })
    expect(await a.vote(5, { quorum: 1, reduce: 'max' })).toBe(5)
    await expectMisplaced(a.vote(6, { quorum: 1, reduce: 'max' }), 1, 0)
    await a.close()
  } finally {
    await crafted.close()
  }
})

test('a gateway skipping slots in SLOTS is a protocol error for the replica, not a gap it fills', async () => {
  const crafted = await craftedGateway({ gap: true })
  try {
    const run = uniqueRun('gap')
    const a = await connect({ run, gateway: crafted.url, program: 'gap' })
    expect(await a.distributed(() => 1, { name: 'one' })()).toBe(1)
    await a.close()
    const b = await connect({ run, gateway: crafted.url, program: 'gap' })
    const closed = new Promise<string | undefined>((resolve) => b.on('status', (s) => s.state === 'closed' && resolve(s.reason)))
    expect(await closed).toMatch(/SLOTS from slot 1, expected 0/)
    expect((await rejection(b.distributed(() => 1, { name: 'one' })())).code).toBe(ErrorCodes.PROTOCOL)
  } finally {
    await crafted.close()
  }
})

async function answer(c: RawClient, msg: Message & { id: number }): Promise<Message> {
  c.send(msg)
  return c.next((m) => 'id' in m && m.id === msg.id)
}

test('the gateway refuses garbage, misplaced, foreign and oversized writes with a code, and stores none of them', async () => {
  const run = uniqueRun('writes')
  const c = await openHello(gw.url, run)
  const at = { run, stream: 'main', slot: 0 }
  const refusals: [string, Message & { id: number }, string][] = [
    ['garbage bytes', { type: 'propose', id: 1, stream: 'main', slot: 0, clearVotes: false, record: new Uint8Array([1, 2, 3]) }, ErrorCodes.BAD_ARGUMENT],
    ['a CBOR value, not a record', { type: 'propose', id: 2, stream: 'main', slot: 0, clearVotes: false, record: codec.encode('x') }, ErrorCodes.BAD_ARGUMENT],
    ['a record naming slot 1', { type: 'propose', id: 3, stream: 'main', slot: 0, clearVotes: false, record: rawRecord({ ...at, slot: 1 }, 'x') }, ErrorCodes.BAD_ARGUMENT],
    ['a record naming another stream', { type: 'propose', id: 4, stream: 'main', slot: 0, clearVotes: false, record: rawRecord({ ...at, stream: 'other' }, 'x') }, ErrorCodes.BAD_ARGUMENT],
    ['a record naming another run', { type: 'propose', id: 5, stream: 'main', slot: 0, clearVotes: false, record: rawRecord({ ...at, run: 'elsewhere' }, 'x') }, ErrorCodes.BAD_ARGUMENT],
    ['a record in another replica\'s name', { type: 'propose', id: 6, stream: 'main', slot: 0, clearVotes: false, record: rawRecord(at, 'x', 'someone-else') }, ErrorCodes.BAD_ARGUMENT],
    ['a version-1 record (no place)', { type: 'propose', id: 7, stream: 'main', slot: 0, clearVotes: false, record: codec.format.encode([1, 'call', 'f', '-', '', 'raw', true, 'x']) }, ErrorCodes.BAD_ARGUMENT],
    ['an oversized record', { type: 'propose', id: 8, stream: 'main', slot: 0, clearVotes: false, record: rawRecord(at, 'x'.repeat(MAX_VALUE)) }, ErrorCodes.LIMIT],
    ['a garbage vote', { type: 'vote', id: 9, stream: 'v', slot: 0, value: new Uint8Array([0xff, 0xff]) }, ErrorCodes.BAD_ARGUMENT],
    ['an oversized vote', { type: 'vote', id: 10, stream: 'v', slot: 0, value: rawVote({ run, stream: 'v', slot: 0 }, 'y'.repeat(MAX_VALUE)) }, ErrorCodes.LIMIT],
    ['a plain value as a vote', { type: 'vote', id: 11, stream: 'v', slot: 0, value: codec.encode(7) }, ErrorCodes.BAD_ARGUMENT],
    ['a vote naming slot 1', { type: 'vote', id: 12, stream: 'v', slot: 0, value: rawVote({ run, stream: 'v', slot: 1 }, 7) }, ErrorCodes.BAD_ARGUMENT],
    ['a vote cast as another replica', { type: 'vote', id: 13, stream: 'v', slot: 0, value: rawVote({ run, stream: 'v', slot: 0 }, 7, 'someone-else') }, ErrorCodes.BAD_ARGUMENT],
  ]
  for (const [what, msg, code] of refusals) {
    const got = await answer(c, msg)
    expect(got, what).toMatchObject({ type: 'error', code, retryable: false })
  }
  // Run-once: the marker and the outcome must name the lock's slot.
  const acquired = (await answer(c, { type: 'acquire', id: 20, stream: 'once', slot: 3, ttlMs: 5000 })) as Messages['acquired']
  expect(acquired.state).toBe(2)
  const lockAt = { run, stream: 'once', slot: 3 }
  expect(await answer(c, { type: 'markStarted', id: 21, lock: acquired.lock, marker: rawRecord({ ...lockAt, slot: 4 }, {}) })).toMatchObject({ type: 'error', code: ErrorCodes.BAD_ARGUMENT })
  expect(await answer(c, { type: 'decideLocked', id: 22, lock: acquired.lock, record: rawRecord({ ...lockAt, stream: 'main' }, 'o') })).toMatchObject({ type: 'error', code: ErrorCodes.BAD_ARGUMENT })
  expect(await answer(c, { type: 'decideLocked', id: 23, lock: acquired.lock, record: new Uint8Array([0x80]) })).toMatchObject({ type: 'error', code: ErrorCodes.BAD_ARGUMENT })
  // What is right is stored, on the same connection.
  const good = rawRecord(at, 'ok')
  expect(await answer(c, { type: 'propose', id: 30, stream: 'main', slot: 0, clearVotes: false, record: good })).toMatchObject({ type: 'decided', won: true })
  expect(await answer(c, { type: 'vote', id: 31, stream: 'v', slot: 0, value: rawVote({ run, stream: 'v', slot: 0 }, 7) })).toMatchObject({ type: 'voted', decided: false })
  const outcome = rawRecord(lockAt, 'once')
  expect(await answer(c, { type: 'decideLocked', id: 32, lock: acquired.lock, record: outcome })).toMatchObject({ type: 'decided', won: true })
  c.send({ type: 'release', lock: acquired.lock })
  expect(c.isClosed()).toBe(false)
  c.close()
  const keys = await stored(run)
  expect([...keys.keys()].sort()).toEqual(['meta', `s/main/${pad(0)}`, `s/once/${pad(3)}`, `v/v/${pad(0)}/raw`])
  expect(keys.get(`s/main/${pad(0)}`)!.equals(good)).toBe(true)
  expect(keys.get(`s/once/${pad(3)}`)!.equals(outcome)).toBe(true)
})

test('a HELLO whose run record is not one is refused (4000) and creates nothing', async () => {
  for (const meta of [new Uint8Array([1, 2, 3]), codec.encode({ format: 2, program: 7 }), codec.encode('meta'), new Uint8Array(MAX_VALUE + 1)]) {
    const run = uniqueRun('meta')
    const c = await openRaw(gw.url)
    c.send({ type: 'hello', run, replica: 'raw', token: '', meta })
    const err = await c.next<Messages['error']>((m) => m.type === 'error')
    expect(err).toMatchObject({ id: 0, code: meta.length > MAX_VALUE ? ErrorCodes.LIMIT : ErrorCodes.BAD_ARGUMENT })
    expect((await c.closed).code).toBe(CLOSE.PROTOCOL_ERROR)
    expect((await stored(run)).size).toBe(0)
  }
  // The control: a run record is accepted.
  const c = await openRaw(gw.url)
  c.send({ type: 'hello', run: uniqueRun('meta'), replica: 'raw', token: '', meta: runMeta() })
  await c.next((m) => m.type === 'welcome')
  c.close()
})

test('a token pinned to a replica id opens the run only as that replica', async () => {
  const run = uniqueRun('pinned')
  const pinned = createToken(SECRET, run, 600, Date.now(), { replica: 'alice' })
  const bob = await openRaw(gwSecret.url)
  bob.send({ type: 'hello', run, replica: 'bob', token: pinned, meta: runMeta() })
  expect(await bob.next((m) => m.type === 'error')).toMatchObject({ id: 0, code: ErrorCodes.UNAUTHORIZED })
  expect((await bob.closed).code).toBe(CLOSE.UNAUTHORIZED)
  expect((await stored(run)).size).toBe(0)
  const alice = await openHello(gwSecret.url, run, pinned, 'alice')
  alice.close()
  // A token without a replica id opens the run as any replica.
  const any = await openHello(gwSecret.url, run, createToken(SECRET, run), 'carol')
  any.close()
})

test('one live connection per (run, replica id): a second one takes over, so k connections cast one vote', async () => {
  const run = uniqueRun('one-vote')
  const token = createToken(SECRET, run, 600, Date.now(), { replica: 'alice' })
  const conns: RawClient[] = []
  for (let i = 0; i < 3; i++) {
    const c = await openHello(gwSecret.url, run, token, 'alice')
    const prev = conns[conns.length - 1]
    if (prev) {
      // The earlier connection is told why and closed with REPLACED.
      expect(await prev.next((m) => m.type === 'error' && m.id === 0)).toMatchObject({ code: ErrorCodes.REPLACED })
      expect((await prev.closed).code).toBe(CLOSE.REPLACED)
    }
    expect(await answer(c, { type: 'vote', id: 1, stream: 'v', slot: 0, value: rawVote({ run, stream: 'v', slot: 0 }, i, 'alice') })).toMatchObject({ type: 'voted', decided: false })
    conns.push(c)
  }
  const votes = [...(await stored(run)).keys()].filter((k) => k.startsWith('v/'))
  expect(votes).toEqual([`v/v/${pad(0)}/alice`])
  conns[2]!.close()
})

test('a replica replaced by another connection with its id stops with REPJS_REPLACED and does not reconnect', async () => {
  const run = uniqueRun('replaced')
  const a = await connect({ run, gateway: gw.url, program: 'replaced', replicaId: 'same' })
  const closed = new Promise<string | undefined>((resolve) => a.on('status', (s) => s.state === 'closed' && resolve(s.reason)))
  const b = await connect({ run, gateway: gw.url, program: 'replaced', replicaId: 'same' })
  expect(await closed).toMatch(/took over/)
  expect((await rejection(a.now())).code).toBe(ErrorCodes.REPLACED)
  expect(await b.now()).toBeTypeOf('number')
  // No flapping: only b is connected (a would otherwise take over again on reconnect).
  await until(() => gw.connections === 1, 5000, 'only the later replica to be connected')
  expect(await b.now()).toBeTypeOf('number')
  await b.close()
})

test('a run created before records named their place (run record format 1) still replays its version-1 records', async () => {
  const run = uniqueRun('v1-run')
  const store = createEtcdStore({ endpoints: etcd.endpoint })
  try {
    await store.client.put(`/repjs/v1/${run}/meta`).value(Buffer.from(codec.encode({ format: 1, program: 'old', incarnation: 'ab'.repeat(16), replicas: null })))
    await store.client.put(`/repjs/v1/${run}/s/main/${pad(0)}`).value(Buffer.from(codec.format.encode([1, 'call', 'f', '-', '', 'old-replica', true, 'recorded'])))
  } finally {
    await store.close()
  }
  const rep = await connect({ run, etcd: etcd.endpoint, program: 'old' })
  const f = rep.distributed(() => 'new', { name: 'f' })
  expect(await f()).toBe('recorded')
  // New slots of such a run are version-2 records, read back like any other.
  expect(await f()).toBe('new')
  await rep.close()
  const again = await connect({ run, gateway: gw.url, program: 'old' })
  const g = again.distributed(() => 'other', { name: 'f' })
  expect([await g(), await g()]).toEqual(['recorded', 'new'])
  await again.close()
})

test('a record holding a NaN of other bits (what an earlier version wrote for a computed 0/0 on x86) reads as NaN; a run of a newer run-record format is refused with REPJS_VERSION_MISMATCH', async () => {
  const run = uniqueRun('nan-bits')
  const store = createEtcdStore({ endpoints: etcd.endpoint })
  try {
    await store.client.put(`/repjs/v1/${run}/meta`).value(Buffer.from(codec.encode({ format: META_FORMAT, program: 'nan', incarnation: 'cd'.repeat(16), replicas: null })))
    const record = codec.format.encode([2, run, 'main', 0, 'call', 'f', '-', '', 'old-replica', true, [0.1]])
    const at = record.lastIndexOf(0xfb)
    expect(at).toBe(record.length - 9) // the outcome's float64
    record.set([0xfb, 0xff, 0xf8, 0, 0, 0, 0, 0, 0], at)
    await store.client.put(`/repjs/v1/${run}/s/main/${pad(0)}`).value(Buffer.from(record))
    const rep = await connect({ run, etcd: etcd.endpoint, program: 'nan' })
    const f = rep.distributed(() => [1], { name: 'f' })
    expect(await f()).toEqual([NaN])
    expect(await f()).toEqual([1])
    await rep.close()

    const newer = uniqueRun('newer-format')
    await store.client.put(`/repjs/v1/${newer}/meta`).value(Buffer.from(codec.encode({ format: META_FORMAT + 1, program: 'p', incarnation: 'ef'.repeat(16), replicas: null })))
    await expect(connect({ run: newer, etcd: etcd.endpoint, program: 'p' })).rejects.toMatchObject({ code: 'REPJS_VERSION_MISMATCH' })
  } finally {
    await store.close()
  }
})
