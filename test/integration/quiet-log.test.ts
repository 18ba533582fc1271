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
import { StreamLog } from '../../core/stream-log.js'
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

/** The store with its follow wrapped: counts the slots the log delivered and the reads started. */
function counted(store: Store): { store: Store; delivered: () => number; reads: () => number } {
  let delivered = 0
  let reads = 0
  const follow = store.follow.bind(store)
  store.follow = (run: string, stream: string, from: number, h: FollowHandlers) => {
    reads++
    return follow(run, stream, from, { ...h, slot: (slot, record) => (delivered++, h.slot(slot, record)) })
  }
  return { store, delivered: () => delivered, reads: () => reads }
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

for (const kind of ['direct', 'gateway'] as const) {
  test(`${kind}: a replica deciding every slot itself stops reading its log; another replica's slot wakes it, and both agree`, async () => {
    const run = uniqueRun(`quiet-${kind}`)
    const a = await replica(kind, run, 'a')
    const who = (r: Replica, me: string) => r.distributed(() => me, { name: 'who' })
    const callA = who(a.rep, 'a')
    for (let i = 0; i < 200; i++) expect(await callA()).toBe('a')
    // Without quiet, each of the 200 slots comes back through the log (an echo of a's own write).
    expect(a.delivered()).toBeLessThan(60)
    const readsQuiet = a.reads()

    // b joins: it replays a's 200 slots from the log, then decides the next ones itself.
    const b = await replica(kind, run, 'b')
    const callB = who(b.rep, 'b')
    for (let i = 0; i < 200; i++) expect(await callB()).toBe('a')
    for (let i = 0; i < 5; i++) expect(await callB()).toBe('b')
    // a's next call finds b's record (its proposal lost): a reads its log again and follows b.
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
}

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
    log.quiet()
    expect(log.isQuiet).toBe(true)
    const reads = reader.reads()
    await writer.propose({ run, stream: 'main', slot: 0 }, new TextEncoder().encode('typed elsewhere'))
    const got = await new Promise<Uint8Array | undefined>((resolve) => log.onDecided(0, () => resolve(log.peek(0))))
    expect(new TextDecoder().decode(got)).toBe('typed elsewhere')
    expect(log.isQuiet).toBe(false)
    expect(reader.reads()).toBe(reads + 1)
    log.close()
  } finally {
    await writer.close()
    await reader.store.close()
  }
})
