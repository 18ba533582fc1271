// A replica that decides every slot of a stream itself stops reading that stream's log (the watch
// would only echo its own writes back: an event per call to decode, one per call for etcd to send),
// and reads it again as soon as another replica decides a slot or a call waits on the log. Real etcd,
// directly and through a gateway; the store's follow is wrapped to count what the log delivers.
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createCborFormat } from '../../core/cbor-format.js'
import { GatewayStore } from '../../core/gateway-store.js'
import { createReplica, type Replica } from '../../core/replica.js'
import type { FollowHandlers, Store } from '../../core/store.js'
import { QUIET_AFTER, StreamLog } from '../../core/stream-log.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { createEtcdStore } from '../../node-gateway/store/etcd-store.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { runMeta } from '../helpers/raw-gateway.js'

let etcd: Cluster
let gw: Gateway
const open: Replica[] = []
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }) })
})
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()))
  await gw?.close()
  await etcd?.stop()
})

/** The store with its follow wrapped: counts the slots the log delivered, the reads started, and the reads open now per stream. */
function counted(store: Store): { store: Store; delivered: () => number; reads: () => number; open: (stream?: string) => number } {
  let delivered = 0
  let reads = 0
  const open = new Map<string, number>()
  const follow = store.follow.bind(store)
  store.follow = (run: string, stream: string, from: number, h: FollowHandlers) => {
    reads++
    open.set(stream, (open.get(stream) ?? 0) + 1)
    const stop = follow(run, stream, from, { ...h, slot: (slot, record) => (delivered++, h.slot(slot, record)) })
    let stopped = false
    return () => {
      if (!stopped) open.set(stream, open.get(stream)! - 1)
      stopped = true
      stop()
    }
  }
  return { store, delivered: () => delivered, reads: () => reads, open: (stream = 'main') => open.get(stream) ?? 0 }
}

function storeFor(kind: 'direct' | 'gateway', replicaId: string): Store {
  return kind === 'direct' ? createEtcdStore({ endpoints: etcd.endpoint }) : new GatewayStore({ urls: gw.url, replicaId })
}

async function replica(kind: 'direct' | 'gateway', run: string, replicaId: string) {
  const c = counted(storeFor(kind, replicaId))
  const rep = await createReplica({ store: c.store, format: createCborFormat(), run, program: 'quiet', replicaId })
  open.push(rep)
  return { rep, ...c }
}

test('direct: a replica deciding every slot itself stops reading its log; another replica\'s slot wakes it, and both agree', async () => {
  const run = uniqueRun('quiet-direct')
  const a = await replica('direct', run, 'a')
  const who = (r: Replica, me: string) => r.distributed(() => me, { name: 'who' })
  const callA = who(a.rep, 'a')
  for (let i = 0; i < 200; i++) expect(await callA()).toBe('a')
  // Without quiet, each of the 200 slots comes back through the log (an echo of a's own write).
  expect(a.delivered()).toBeLessThan(60)
  const readsQuiet = a.reads()

  // b joins: it replays a's 200 slots from the log, then decides the next ones itself.
  const b = await replica('direct', run, 'b')
  const callB = who(b.rep, 'b')
  for (let i = 0; i < 200; i++) expect(await callB()).toBe('a')
  for (let i = 0; i < 5; i++) expect(await callB()).toBe('b')
  // a's next call finds b's record (its proposal lost, or its idle log read again): a reads its log again and follows b.
  for (let i = 0; i < 5; i++) expect(await callA()).toBe('b')
  expect(a.reads()).toBeGreaterThan(readsQuiet)
  // From here a follows: b's next slots reach a through the log, a proposes nothing.
  const before = a.delivered()
  for (let i = 0; i < 10; i++) {
    expect(await callB()).toBe('b')
    expect(await callA()).toBe('b')
  }
  expect(a.delivered() - before).toBeGreaterThanOrEqual(9)
})

test('direct: an idle replica whose log went quiet reads it again and learns the head others moved', async () => {
  const run = uniqueRun('quiet-idle')
  const a = await replica('direct', run, 'a')
  for (let i = 0; i < 40; i++) await a.rep.now()
  const readsQuiet = a.reads()
  const b = await replica('direct', run, 'b')
  for (let i = 0; i < 45; i++) await b.rep.now()
  // a makes no call: its idle check reads the log again within QUIET_IDLE_MS or so.
  const t0 = Date.now()
  while (a.rep.status.head < 44 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20))
  expect(a.rep.status.head).toBe(44)
  expect(a.rep.status.state).toBe('catching-up')
  expect(a.reads()).toBe(readsQuiet + 1)
})

test('through a gateway the log keeps reading (its subscriptions are capped and rate-limited: not dropped and made again)', async () => {
  const run = uniqueRun('quiet-gateway')
  const a = await replica('gateway', run, 'a')
  const call = a.rep.distributed(() => 'a', { name: 'who' })
  for (let i = 0; i < 200; i++) expect(await call()).toBe('a')
  expect(a.delivered()).toBeGreaterThanOrEqual(190)
  expect(a.reads()).toBe(1)
})

test('a wait on a quiet log (a slot another replica decides, e.g. a typed line) reads the log again', async () => {
  const run = uniqueRun('quiet-wait')
  const writer = createEtcdStore({ endpoints: etcd.endpoint })
  const reader = counted(createEtcdStore({ endpoints: etcd.endpoint }))
  try {
    await writer.openRun(run, runMeta())
    const log = new StreamLog(reader.store, run, 'main', (err) => {
      throw err
    })
    await log.known(0) // caught up (nothing decided yet)
    // This replica settles QUIET_AFTER slots in a row itself: the log stops reading.
    for (let i = 0; i < QUIET_AFTER; i++) {
      const slot = log.take()
      log.settled(slot, true)
      log.release(slot)
    }
    expect(log.isQuiet).toBe(true)
    const reads = reader.reads()
    await writer.propose({ run, stream: 'main', slot: QUIET_AFTER }, new TextEncoder().encode('typed elsewhere'))
    const got = await new Promise<Uint8Array | undefined>((resolve) => log.onDecided(QUIET_AFTER, () => resolve(log.peek(QUIET_AFTER))))
    expect(new TextDecoder().decode(got)).toBe('typed elsewhere')
    expect(log.isQuiet).toBe(false)
    expect(reader.reads()).toBe(reads + 1)
    log.close()
  } finally {
    await writer.close()
    await reader.store.close()
  }
})

/**
 * A whose log of `stream` is quiet (it decided the stream's last QUIET_AFTER+ slots itself, its read
 * is stopped) and B at the same slot (it replayed A's records): calls on the main stream, or typed
 * lines on the input stream. A's idle check (every QUIET_IDLE_MS) may read the log again while B
 * catches up: then A decides more slots itself until it is quiet again.
 */
async function quietPair(name: string, stream: 'main' | 'input' = 'main') {
  const run = uniqueRun(name)
  const a = await replica('direct', run, 'a')
  const b = await replica('direct', run, 'b')
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < QUIET_AFTER + 2; i++) {
      if (stream === 'main') await a.rep.now()
      else {
        a.rep.typeLine(`a ${round} ${i}`)
        expect(await a.rep.input()).toBe(`a ${round} ${i}`)
      }
    }
    for (let i = 0; i < QUIET_AFTER + 2; i++) {
      if (stream === 'main') await b.rep.now()
      else expect(await b.rep.input()).toBe(`a ${round} ${i}`)
    }
    if (a.open(stream) === 0) break
  }
  expect(a.open(stream)).toBe(0)
  return { a, b }
}

/**
 * A's log of `stream` reads again once a wait starts on it. Without the wait's own wake-up nothing
 * would read it while the call waits (the idle check stands aside while a slot is in flight).
 */
async function readsAgain(a: { open: (stream?: string) => number }, stream: 'main' | 'input' = 'main') {
  const t0 = Date.now()
  while (a.open(stream) === 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5))
  expect(a.open(stream)).toBe(1)
}

test('direct: an agreed input line, a vote and a run-once call that wait on a quiet log read it again', async () => {
  // A typed line: a waits for the slot, b (where the line was typed) decides it.
  {
    const { a, b } = await quietPair('quiet-input', 'input')
    const line = a.rep.input()
    await readsAgain(a, 'input')
    b.rep.typeLine('typed on b')
    expect(await b.rep.input()).toBe('typed on b')
    expect(await line).toBe('typed on b')
  }
  // A vote with a quorum of 2: a votes first and waits for b's vote or the decision.
  {
    const { a, b } = await quietPair('quiet-vote')
    const va = a.rep.vote(1, { quorum: 2, reduce: 'max', name: 'v' })
    await readsAgain(a)
    const vb = b.rep.vote(5, { quorum: 2, reduce: 'max', name: 'v' })
    expect(await Promise.all([va, vb])).toEqual([5, 5])
  }
  // Run-once: b holds the lock and runs the effect; a waits for b's outcome instead of running it.
  {
    const { a, b } = await quietPair('quiet-once')
    let finish!: () => void
    const held = new Promise<void>((r) => (finish = r))
    let startedOnB!: () => void
    const started = new Promise<void>((r) => (startedOnB = r))
    const onB = b.rep.distributedLocked(async () => (startedOnB(), await held, 'ran on b'), { name: 'effect' })()
    await started
    const onA = a.rep.distributedLocked(() => 'ran on a', { name: 'effect' })()
    await readsAgain(a)
    finish()
    expect(await onB).toBe('ran on b')
    expect(await onA).toBe('ran on b')
  }
})
