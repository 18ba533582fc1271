// Run-once calls through a gateway across reconnects (issue 11, 2.6 and 2.7): lock handles are
// unique across connections, so a stale RELEASE cannot revoke another call's lock; a holder whose
// connection drops (a cut, a gateway restart) re-attaches to its lock within the lease's TTL and
// records its outcome once; a lost MARK_STARTED answer is re-sent; a holder gone past its TTL loses
// the lock and the other replicas see REPJS_IN_DOUBT.
import { Etcd3 } from 'etcd3'
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { GatewayStore, type SocketLike } from '../../core/gateway-store.js'
import { decodeMessage, type Message, type Messages } from '../../core/protocol.js'
import { createReplica, type Replica } from '../../core/replica.js'
import type { HeldLock } from '../../core/store.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect } from '../../node-gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { spawnGateway } from '../helpers/gateway.js'
import { codec, openHello, runMeta } from '../helpers/raw-gateway.js'
import { startProxy } from '../helpers/tcp-proxy.js'
import { encodeRecord } from '../../core/record.js'
import WebSocket from 'ws'

let etcd: Cluster
let gw: Gateway
let client: Etcd3
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }) })
  client = new Etcd3({ hosts: etcd.endpoint })
})
afterAll(async () => {
  client?.close()
  await gw?.close()
  await etcd?.stop()
})

const lockKey = (run: string, slot: number) => `/repjs/v1/${run}/l/main/${String(slot).padStart(12, '0')}`
/** The run's keys, but for the presence keys of its open replicas (p/). */
const keysOf = async (run: string) => (await client.getAll().prefix(`/repjs/v1/${run}/`).keys()).filter((k) => !k.startsWith(`/repjs/v1/${run}/p/`))
const marker = (by: string, run: string, slot: number) => encodeRecord(codec, { run, stream: 'main', slot }, { kind: 'once', name: 'f', argsHash: '-', site: '', by, ok: true, value: { onInDoubt: 'error' } })

/** A promise and its resolver. */
function gate<T = void>(): { promise: Promise<T>; open(v: T): void } {
  let open!: (v: T) => void
  const promise = new Promise<T>((r) => (open = r))
  return { promise, open }
}

/** A replica whose status has been 'reconnecting' resolves this once it is 'live' again. */
function reconnected(rep: Replica): Promise<void> {
  return new Promise((resolve) => {
    let dropped = false
    rep.on('status', (s) => {
      if (s.state === 'reconnecting') dropped = true
      else if (dropped && s.state === 'live') resolve()
    })
  })
}

test('2.6: a RELEASE of a lock the connection does not hold is refused and revokes nothing', async () => {
  const run = uniqueRun('stale')
  const first = await openHello(gw.url, run, '', 'holder')
  first.send({ type: 'acquire', id: 1, stream: 'main', slot: 0, ttlMs: 5000 })
  const a = await first.next<Messages['acquired']>((m) => m.type === 'acquired')
  expect(a.state).toBe(2)
  first.ws.terminate()
  await first.closed
  const second = await openHello(gw.url, run, '', 'holder')
  second.send({ type: 'acquire', id: 1, stream: 'main', slot: 1, ttlMs: 5000 })
  const b = await second.next<Messages['acquired']>((m) => m.type === 'acquired')
  expect(b.state).toBe(2)
  // The first connection's lock handle, sent on the second connection (a stale RELEASE).
  second.send({ type: 'release', lock: a.lock })
  const lockGone = new Promise<'revoked'>((resolve) => {
    const poll = async (): Promise<void> => {
      if ((await client.get(lockKey(run, 1)).exec()).kvs.length === 0) return resolve('revoked')
      if (!second.isClosed()) setTimeout(() => void poll(), 20)
    }
    void poll()
  })
  const refused = second.next<Messages['error']>((m) => m.type === 'error').then((e) => e.code)
  expect(await Promise.race([refused, lockGone])).toBe('REPJS_LEASE_LOST')
  expect((await client.get(lockKey(run, 1)).exec()).kvs).toHaveLength(1)
  expect(b.lock).not.toBe(a.lock)
  second.close()
  await second.closed
})

test('2.6: after a reconnect, releasing an old lock leaves the new lock held', async () => {
  const run = uniqueRun('stale-client')
  const proxy = await startProxy({ host: '127.0.0.1', port: gw.port })
  const store = new GatewayStore({ urls: proxy.url.replace('http', 'ws'), replicaId: 'a', backoffMs: { initial: 20, max: 200 } })
  await store.openRun(run, runMeta())
  const first = await store.acquire({ run, stream: 'main', slot: 0 }, 'a', 5000)
  expect(first.state).toBe('held')
  proxy.cut()
  proxy.restore()
  const second = await store.acquire({ run, stream: 'main', slot: 1 }, 'a', 5000)
  expect(second.state).toBe('held')
  await (first as { lock: HeldLock }).lock.release()
  const lock = (second as { lock: HeldLock }).lock
  await lock.markStarted(marker('a', run, 1))
  expect(lock.signal.aborted).toBe(false)
  expect((await client.get(lockKey(run, 1)).exec()).kvs).toHaveLength(1)
  await lock.release()
  await store.close()
  await proxy.close()
})

/** A locked call on `a` that blocks until `release` opens; counts its runs. */
function blockingCall(rep: Replica, ttlMs: number) {
  const started = gate()
  const release = gate()
  const aborted = gate()
  const state = { runs: 0, aborted: false }
  const call = rep.distributedLocked(async (signal: AbortSignal) => {
    state.runs++
    signal.addEventListener('abort', () => aborted.open(), { once: true })
    started.open()
    await release.promise
    state.aborted = signal.aborted
    return 'side effect done'
  }, { name: 'effect', ttlMs })
  return { call, started: started.promise, aborted: aborted.promise, release: () => release.open(), state }
}

/**
 * Replica a (through `aUrl`) holds slot 0's lock and runs its call while `fault` cuts it off from its
 * gateway and `heal` lets it back; replica b asks for the same call meanwhile. a must re-attach: both
 * get a's outcome, the call ran once, unaborted, and nothing but the record is left in etcd.
 */
async function expectRideOut(run: string, aUrl: string, ttlMs: number, fault: () => Promise<unknown>, heal: () => Promise<unknown>) {
  const a = await connect({ run, gateway: aUrl, program: 'once' })
  const b = await connect({ run, gateway: gw.url, program: 'once' })
  const held = blockingCall(a, ttlMs)
  const callA = held.call()
  await held.started
  const back = reconnected(a)
  await fault()
  const callB = b.distributedLocked(() => 'ran on b', { name: 'effect', ttlMs })()
  const outcomes = Promise.allSettled([callA, callB])
  await heal()
  await back
  held.release()
  expect(await outcomes).toEqual([
    { status: 'fulfilled', value: 'side effect done' },
    { status: 'fulfilled', value: 'side effect done' },
  ])
  expect(held.state).toEqual({ runs: 1, aborted: false })
  expect((await keysOf(run)).sort()).toEqual([`/repjs/v1/${run}/meta`, `/repjs/v1/${run}/s/main/000000000000`])
  await a.close()
  await b.close()
}

test('2.7: a holder whose connection is cut mid-call re-attaches and records its outcome once', async () => {
  const proxy = await startProxy({ host: '127.0.0.1', port: gw.port })
  // A TTL far longer than the reconnect takes, even on a loaded machine.
  await expectRideOut(uniqueRun('cut-once'), proxy.url.replace('http', 'ws'), 30_000, async () => proxy.cut(), async () => proxy.restore())
  await proxy.close()
})

test('2.7: a holder re-attaches through a restarted gateway process and records its outcome once', async () => {
  let g = await spawnGateway(etcd.endpoint)
  // A TTL far longer than starting a gateway process takes, even on a loaded machine.
  await expectRideOut(uniqueRun('restart-once'), g.url, 60_000, () => g.kill('SIGKILL'), async () => (g = await spawnGateway(etcd.endpoint, { port: g.port })))
  await g.kill('SIGTERM')
})

test('2.7: a holder cut off for longer than its TTL loses the lock: the others see REPJS_IN_DOUBT, its late result is fenced', async () => {
  const run = uniqueRun('gone-once')
  const proxy = await startProxy({ host: '127.0.0.1', port: gw.port })
  const a = await connect({ run, gateway: proxy.url.replace('http', 'ws'), program: 'once' })
  const b = await connect({ run, gateway: gw.url, program: 'once' })
  const held = blockingCall(a, 1000)
  const callA = held.call()
  await held.started
  proxy.cut()
  // b waits on the lock until a's lease expires, then finds a's started marker.
  await expect(b.distributedLocked(() => 'ran on b', { name: 'effect', ttlMs: 1000 })()).rejects.toMatchObject({ code: 'REPJS_IN_DOUBT' })
  proxy.restore()
  // a learns it lost the lock (its re-attach is refused, or its TTL passed while away) before it returns.
  await held.aborted
  held.release()
  await expect(callA).rejects.toMatchObject({ code: 'REPJS_IN_DOUBT' })
  expect(held.state.runs).toBe(1)
  expect(held.state.aborted).toBe(true)
  await a.close()
  await b.close()
  await proxy.close()
})

/**
 * Sockets whose incoming frames pass `filter` first: delivered, dropped with the connection ('cut'),
 * or held back that many ms. `last` is the newest socket (a test may cut it).
 */
function filteredSockets(filter: (m: Message) => 'deliver' | 'cut' | number) {
  const state: { last?: WebSocket } = {}
  const socket = (url: string, protocols: string[]): SocketLike => {
    const ws = new WebSocket(url, protocols)
    state.last = ws
    ws.binaryType = 'arraybuffer'
    const s: SocketLike = {
      binaryType: 'arraybuffer',
      get protocol() {
        return ws.protocol
      },
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
      send: (d) => ws.send(d),
      close: (code, reason) => ws.close(code, reason),
    }
    ws.on('open', () => s.onopen?.({}))
    ws.on('message', (data: ArrayBuffer) => {
      const verdict = filter(decodeMessage(new Uint8Array(data)))
      if (verdict === 'cut') return ws.terminate()
      if (verdict === 'deliver') return s.onmessage?.({ data })
      setTimeout(() => ws.readyState === ws.OPEN && s.onmessage?.({ data }), verdict)
    })
    ws.on('close', (code, reason) => s.onclose?.({ code, reason: reason.toString() }))
    ws.on('error', (err) => s.onerror?.(err))
    return s
  }
  return { socket, state }
}

/** Sockets that drop the connection instead of delivering the first frame of type `lost`. */
function dropFirst(lost: Message['type']) {
  const state = { dropped: false }
  const { socket } = filteredSockets((m) => {
    if (state.dropped || m.type !== lost) return 'deliver'
    state.dropped = true
    return 'cut'
  })
  return { socket, state }
}

/**
 * A locked call on a replica whose connection drops instead of delivering the first `lost` frame,
 * and comes back after `backoffMs` (reconnect delays are drawn from [backoff/2, 3 backoff/2)).
 */
async function expectOnceDespiteLost(lost: Message['type'], opts: { ttlMs: number; backoffMs: number } = { ttlMs: 30_000, backoffMs: 20 }) {
  const run = uniqueRun(`lost-${lost}`)
  const { socket, state } = dropFirst(lost)
  const store = new GatewayStore({ urls: gw.url, replicaId: 'a', backoffMs: { initial: opts.backoffMs, max: opts.backoffMs }, socket })
  const a = await createReplica({ store, format: createCborFormat(), run, program: 'once', replicaId: 'a' })
  const b = await connect({ run, gateway: gw.url, program: 'once' })
  let runs = 0
  expect(await a.distributedLocked(() => ++runs, { name: 'effect', ttlMs: opts.ttlMs })()).toBe(1)
  expect(await b.distributedLocked(() => 'ran on b', { name: 'effect', ttlMs: opts.ttlMs })()).toBe(1)
  expect(state.dropped).toBe(true)
  expect(runs).toBe(1)
  expect((await keysOf(run)).sort()).toEqual([`/repjs/v1/${run}/meta`, `/repjs/v1/${run}/s/main/000000000000`])
  await a.close()
  await b.close()
}

test('2.7: a MARK_STARTED whose answer is lost is re-sent after the reconnect: the call runs once, not in doubt', async () => {
  // The gateway wrote the marker; the client never heard so.
  await expectOnceDespiteLost('ok')
})

test('2.7: a DECIDE_LOCKED whose answer is lost: the re-attach finds the slot decided, the outcome is recorded once', async () => {
  await expectOnceDespiteLost('decided')
})

test('2.7: a MARK_STARTED whose answer is lost, with the lock lost too: the holder finds its own marker and runs the call once', async () => {
  // The reconnect (after 2 s at least) comes after the 1 s lock is given up: the holder re-acquires
  // the slot, finds the marker of this very call (which never ran) and runs it, rather than IN_DOUBT.
  await expectOnceDespiteLost('ok', { ttlMs: 1000, backoffMs: 4000 })
})

test('2.7: a holder whose re-attach is answered after it gave the lock up releases it: the others are not kept waiting', async () => {
  const run = uniqueRun('late-attach')
  let acquired = 0
  // The second ACQUIRED (the re-attach's answer) arrives 2.5 s late, after the 1 s lock was given up.
  const { socket, state } = filteredSockets((m) => (m.type === 'acquired' && acquired++ === 1 ? 2500 : 'deliver'))
  const store = new GatewayStore({ urls: gw.url, replicaId: 'a', backoffMs: { initial: 20, max: 200 }, socket })
  const a = await createReplica({ store, format: createCborFormat(), run, program: 'once', replicaId: 'a' })
  const b = await connect({ run, gateway: gw.url, program: 'once' })
  const held = blockingCall(a, 1000)
  const callA = held.call()
  await held.started
  state.last!.terminate()
  await held.aborted
  // The gateway attached the lock for a; a must release it when the late answer comes, so b gets the
  // lock (and a's marker: the call is in doubt) instead of waiting while a's connection lasts.
  await expect(b.distributedLocked(() => 'ran on b', { name: 'effect', ttlMs: 1000 })()).rejects.toMatchObject({ code: 'REPJS_IN_DOUBT' })
  held.release()
  await expect(callA).rejects.toMatchObject({ code: 'REPJS_IN_DOUBT' })
  expect(held.state.runs).toBe(1)
  await a.close()
  await b.close()
})
