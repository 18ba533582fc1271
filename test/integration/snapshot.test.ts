// Snapshots: rep.snapshot(state) records a stream's state at an agreed slot; a late replica's
// rep.restore() starts from it instead of replaying from slot 0; rep.collect() deletes the slots
// below it, after which a replica that did not restore fails with REPJS_COLLECTED. Direct and
// through a gateway.
import { Etcd3 } from 'etcd3'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { connect, ErrorCodes, type Replica, type Store } from '../../node-gateway/index.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { slotPrefix, snapKey } from '../../node-gateway/store/keys.js'
import { createCodec } from '../../core/codec.js'
import { decodeSnapshot, encodeSnapshot } from '../../core/snapshot.js'
import { encodeRecord } from '../../core/record.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'

const quiet = pino({ level: 'silent' })
const codec = createCodec(createCborFormat())
let etcd: Cluster
let gw: Gateway
let client: Etcd3
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: quiet })
  client = new Etcd3({ hosts: etcd.endpoint })
})
afterAll(async () => {
  client?.close()
  await gw?.close()
  await etcd?.stop()
})

interface State {
  sum: number
  values: number[]
  at: number
}

/** The replicated program: n agreed values folded into the state (and an agreed time). */
async function steps(rep: Replica, state: State, n: number): Promise<State> {
  for (let i = 0; i < n; i++) {
    const v = await rep.distributed(() => Math.floor(Math.random() * 1000), { name: 'roll' })()
    state.values.push(v)
    state.sum += v
    state.at = await rep.now()
  }
  return state
}

const fresh = (): State => ({ sum: 0, values: [], at: 0 })
/** Counts the slot records this replica reads or proposes below `slot` (a restored replica reads none). */
/**
 * Slots below `below` delivered by reads that started at `below` or later (the restored stream's).
 * The main stream's first read, from 0, may start before restore() and is stopped by it.
 */
function countBelow(rep: Replica, below: number): () => number {
  const store = (rep as unknown as { engine: { store: Store } }).engine.store
  let n = 0
  const follow = store.follow.bind(store)
  store.follow = (run, stream, from, h) =>
    follow(run, stream, from, from < below ? h : { ...h, slot: (slot, rec) => (slot < below && n++, h.slot(slot, rec)) })
  return () => n
}

async function storedSnapshot(run: string, stream = 'main') {
  const v = await client.get(snapKey(run, stream)).buffer()
  return v && decodeSnapshot(codec, new Uint8Array(v), run, stream)
}

async function slotKeys(run: string, stream = 'main'): Promise<number> {
  return Number(await client.getAll().prefix(slotPrefix(run, stream)).count())
}

describe.each([
  ['direct', () => ({ etcd: etcd.endpoint })],
  ['through a gateway', () => ({ gateway: gw.url })],
])('%s', (_how, via) => {
  test('snapshot, restore and continue: the restored replica agrees with the others on every later value', async () => {
    const run = uniqueRun('snap')
    const a = await connect({ run, program: 'snap', ...via() })
    const b = await connect({ run, program: 'snap', ...via() })
    const [sa, sb] = await Promise.all([steps(a, fresh(), 20), steps(b, fresh(), 20)])
    expect(sb).toEqual(sa)
    // Both snapshot at the same point: one slot, one recorded snapshot.
    const [slotA, slotB] = await Promise.all([a.snapshot(sa), b.snapshot(sb)])
    expect(slotA).toBe(40)
    expect(slotB).toBe(40)
    const stored = await storedSnapshot(run)
    expect(stored).toEqual({ slot: 40, state: sa })
    await Promise.all([steps(a, sa, 5), steps(b, sb, 5)])
    // A late replica: restores the snapshot, replays only the slots after it, and goes on with the others.
    const c = await connect({ run, program: 'snap', ...via() })
    const below = countBelow(c, 40)
    const sc = (await c.restore<State>())!
    expect(sc).toEqual(stored!.state)
    expect(c.status.slot).toBe(41)
    const [ea, eb, ec] = await Promise.all([steps(a, sa, 10), steps(b, sb, 10), steps(c, sc, 15)])
    expect(eb).toEqual(ea)
    expect(ec).toEqual(ea)
    expect(below()).toBe(0)
    // restore() only before the stream's first call.
    await expect(c.restore()).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT })
    await Promise.all([a.close(), b.close(), c.close()])
  })

  test('snapshot race: replicas with different states at the same slot: one snapshot is recorded, the other replica diverges', async () => {
    const run = uniqueRun('snaprace')
    const a = await connect({ run, program: 'snap', ...via() })
    const b = await connect({ run, program: 'snap', ...via() })
    await Promise.all([steps(a, fresh(), 3), steps(b, fresh(), 3)])
    const res = await Promise.allSettled([a.snapshot({ who: 'a' }), b.snapshot({ who: 'b' })])
    const won = res.filter((r) => r.status === 'fulfilled')
    const lost = res.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    expect(lost[0]!.reason).toMatchObject({ code: ErrorCodes.DIVERGED })
    const winner = res[0]!.status === 'fulfilled' ? 'a' : 'b'
    expect(await storedSnapshot(run)).toEqual({ slot: 6, state: { who: winner } })
    // An earlier snapshot never replaces a later one: the store answers the one it keeps.
    const store = ((winner === 'a' ? a : b) as unknown as { engine: { store: Store } }).engine.store
    const earlier = encodeSnapshot(codec, { run, stream: 'main', slot: 4 }, { who: 'old' })
    const kept = await store.writeSnapshot({ run, stream: 'main', slot: 4 }, earlier)
    expect(decodeSnapshot(codec, kept, run, 'main')).toEqual({ slot: 6, state: { who: winner } })
    expect(await storedSnapshot(run)).toEqual({ slot: 6, state: { who: winner } })
    await Promise.all([a.close(), b.close()])
  })

  test('collect: slots below the snapshot are deleted; a late replica that does not restore gets REPJS_COLLECTED, one that does goes on', async () => {
    const run = uniqueRun('collect')
    const a = await connect({ run, program: 'snap', ...via() })
    const sa = await steps(a, fresh(), 30)
    expect(await a.snapshot(sa)).toBe(60)
    await steps(a, sa, 2)
    expect(await slotKeys(run)).toBe(65)
    expect(await a.collect()).toEqual({ below: 60, deleted: 60 })
    expect(await slotKeys(run)).toBe(5)
    // Collecting again deletes nothing more.
    expect(await a.collect()).toEqual({ below: 60, deleted: 0 })
    const late = await connect({ run, program: 'snap', ...via() })
    const err = await steps(late, fresh(), 1).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: ErrorCodes.COLLECTED, details: { slot: 0, snapshot: 60 } })
    expect((err as Error).message).toMatch(/slots < 60 .* call rep\.restore\(\)/)
    // Nothing was written at the collected slot; the store itself refuses a proposal there, in its Txn.
    expect(await slotKeys(run)).toBe(5)
    const at = { run, stream: 'main', slot: 3 }
    const rec = encodeRecord(codec, at, { kind: 'call', name: 'roll', argsHash: '-', site: '', by: late.info.replicaId, ok: true, value: 1 })
    const lateStore = (late as unknown as { engine: { store: Store } }).engine.store
    await expect(lateStore.propose(at, rec)).rejects.toMatchObject({ code: ErrorCodes.COLLECTED, message: expect.stringMatching(/^slots < 60 .* needs slot 3/) })
    expect(await slotKeys(run)).toBe(5)
    const c = await connect({ run, program: 'snap', ...via() })
    const sc = (await c.restore<State>())!
    const [ea, ec] = await Promise.all([steps(a, sa, 5), steps(c, sc, 7)])
    expect(ec).toEqual(ea)
    // A second snapshot later on: stored, the first replaced; collect deletes up to it.
    const [s2a, s2c] = await Promise.all([a.snapshot(ea), c.snapshot(ec)])
    expect(s2a).toBe(s2c)
    expect((await storedSnapshot(run))!.slot).toBe(s2a)
    expect((await c.collect()).below).toBe(s2a)
    await Promise.all([a.close(), c.close(), late.close()])
  })
})

test('the gateway refuses a snapshot that names another slot, and collecting above the latest snapshot', async () => {
  const run = uniqueRun('snapcheck')
  const a = await connect({ run, program: 'snap', gateway: gw.url })
  await steps(a, fresh(), 2)
  const store = (a as unknown as { engine: { store: Store } }).engine.store
  const bytes = codec.format.encode([1, run, 'main', 3, 'x'])
  await expect(store.writeSnapshot({ run, stream: 'main', slot: 2 }, bytes)).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT })
  await expect(store.writeSnapshot({ run, stream: 'main', slot: 3 }, codec.format.encode([1, 'other', 'main', 3, 'x']))).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT })
  await expect(store.collect({ run, stream: 'main', slot: 2 })).rejects.toMatchObject({ code: ErrorCodes.BAD_ARGUMENT })
  expect(await storedSnapshot(run)).toBeNull()
  await a.close()
})
