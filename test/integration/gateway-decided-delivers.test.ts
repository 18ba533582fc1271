// repjs.v2 (PROTOCOL.md, "DECIDED delivers"): a DECIDED answering a PROPOSE delivers its slot to the
// connection's subscriptions standing at it, and the gateway does not push that slot to them again;
// other connections, and repjs.v1 connections, get every slot pushed as before. The reference
// client offers repjs.v2 and works against a gateway that speaks only repjs.v1.
import WebSocket from 'ws'
import { expect, test } from 'vitest'
import { GatewayStore, type SocketLike } from '../../core/gateway-store.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { decodeMessage, SUBPROTOCOL, SUBPROTOCOL_V2, SUBPROTOCOLS, type Message, type Messages } from '../../core/protocol.js'
import { createReplica } from '../../core/replica.js'
import { uniqueRun } from '../helpers/etcd.js'
import { useEtcdAndGateway } from '../helpers/etcd-gateway.js'
import { helloFrame, openRaw, rawRecord, until, type RawClient } from '../helpers/raw-gateway.js'

const env = useEtcdAndGateway()

async function hello(protocols: string[], run: string, replica: string): Promise<RawClient> {
  const c = await openRaw(env.gw.url, { protocols })
  expect(c.ws.protocol).toBe(protocols[0])
  c.sendRaw(helloFrame(run, '', replica))
  await c.next((m) => m.type === 'welcome')
  return c
}

/** A connection subscribed (sub 1) to stream main of `run` from slot 0, its (empty) history delivered. */
async function subscribed(protocols: string[], run: string, replica: string): Promise<RawClient> {
  const c = await hello(protocols, run, replica)
  c.send({ type: 'subscribe', sub: 1, stream: 'main', from: 0 })
  await c.next((m) => m.type === 'caughtUp')
  return c
}

/** The slots a client was pushed on subscription `sub`, in order. */
const pushed = (c: RawClient, sub: number) =>
  c.frames.flatMap((m) => (m?.type === 'slots' && m.sub === sub ? m.records.map((_, i) => m.first + i) : []))

test('repjs.v2: the proposer is not pushed the slot its DECIDED delivered; a repjs.v1 connection is', async () => {
  const run = uniqueRun('v2-push')
  const v2 = await subscribed([SUBPROTOCOL_V2, SUBPROTOCOL], run, 'a')
  const v1 = await subscribed([SUBPROTOCOL], run, 'b')
  const at = (slot: number) => ({ run, stream: 'main', slot })
  for (const slot of [0, 1]) {
    v2.send({ type: 'propose', id: 10 + slot, stream: 'main', slot, clearVotes: false, record: rawRecord(at(slot), slot, 'a') })
    expect((await v2.next<Messages['decided']>((m) => m.type === 'decided' && m.id === 10 + slot)).won).toBe(true)
  }
  // Slot 2 is decided by the other connection: pushed to both. SLOTS come in slot order on a
  // connection, so once v2 has slot 2 it would have had 0 and 1 before it.
  v1.send({ type: 'propose', id: 20, stream: 'main', slot: 2, clearVotes: false, record: rawRecord(at(2), 2, 'b') })
  await v2.next((m) => m.type === 'slots' && m.first + m.records.length > 2)
  await v1.next((m) => m.type === 'slots' && m.first + m.records.length > 2)
  expect(pushed(v2, 1)).toEqual([2])
  expect(pushed(v1, 1)).toEqual([0, 1, 2])
  // A proposal for slot 2 loses; its DECIDED (the winner's record) comes after slot 2's push: nothing changes.
  v2.send({ type: 'propose', id: 30, stream: 'main', slot: 2, clearVotes: false, record: rawRecord(at(2), 'late', 'a') })
  expect((await v2.next<Messages['decided']>((m) => m.type === 'decided' && m.id === 30)).won).toBe(false)
  v1.send({ type: 'propose', id: 40, stream: 'main', slot: 3, clearVotes: false, record: rawRecord(at(3), 3, 'b') })
  await v2.next((m) => m.type === 'slots' && m.first + m.records.length > 3)
  expect(pushed(v2, 1)).toEqual([2, 3])
  v2.close()
  v1.close()
})

test('repjs.v2: a DECIDED for a slot the subscription does not stand at delivers nothing; that slot is pushed in order', async () => {
  const run = uniqueRun('v2-ahead')
  const c = await subscribed(SUBPROTOCOLS, run, 'a')
  const at = (slot: number) => ({ run, stream: 'main', slot })
  // Slot 1 before slot 0: its DECIDED delivers nothing (the subscription stands at 0) ...
  c.send({ type: 'propose', id: 11, stream: 'main', slot: 1, clearVotes: false, record: rawRecord(at(1), 1, 'a') })
  await c.next((m) => m.type === 'decided' && m.id === 11)
  // ... slot 0's does, whether the gateway sees slot 0's watch event before its answer or after
  // (the push is held until the answer is sent); slot 1 is then pushed, once, after that DECIDED.
  c.send({ type: 'propose', id: 10, stream: 'main', slot: 0, clearVotes: false, record: rawRecord(at(0), 0, 'a') })
  await c.next((m) => m.type === 'slots' && m.first + m.records.length > 1)
  expect(pushed(c, 1)).toEqual([1])
  const decided0 = c.frames.findIndex((m) => m?.type === 'decided' && m.id === 10)
  const slots1 = c.frames.findIndex((m) => m?.type === 'slots' && m.first === 1)
  expect(decided0).toBeGreaterThan(0)
  expect(slots1).toBeGreaterThan(decided0)
  c.close()
})

test('repjs.v2: a proposal answered by an ERROR delivers nothing: the slot, decided by another connection, is pushed', async () => {
  const run = uniqueRun('v2-error')
  const c = await subscribed(SUBPROTOCOLS, run, 'a')
  // A record for another slot is refused: no DECIDED, nothing written.
  c.send({ type: 'propose', id: 10, stream: 'main', slot: 0, clearVotes: false, record: rawRecord({ run, stream: 'main', slot: 5 }, 0, 'a') })
  expect((await c.next<Messages['error']>((m) => m.type === 'error' && m.id === 10)).code).toBe('REPJS_BAD_ARGUMENT')
  const other = await hello([SUBPROTOCOL], run, 'b')
  other.send({ type: 'propose', id: 20, stream: 'main', slot: 0, clearVotes: false, record: rawRecord({ run, stream: 'main', slot: 0 }, 0, 'b') })
  await c.next((m) => m.type === 'slots' && m.first === 0)
  expect(pushed(c, 1)).toEqual([0])
  c.close()
  other.close()
})

/** A socket factory that offers only `protocols` and keeps the slots pushed to its client. */
function counting(protocols?: string[]) {
  const got = { slots: [] as number[] }
  const socket = (url: string, offered: string[]) => {
    const ws = new WebSocket(url, protocols ?? offered)
    ws.on('message', (data: ArrayBuffer) => {
      const m: Message = decodeMessage(new Uint8Array(data))
      if (m.type === 'slots') m.records.forEach((_, i) => got.slots.push(m.first + i))
    })
    return ws as unknown as SocketLike
  }
  return { socket, got }
}

test('the reference client agrees through repjs.v2 without SLOTS for its own slots, and through a repjs.v1-only gateway as before', async () => {
  const run = uniqueRun('v2-client')
  const results: unknown[][] = []
  for (const only of [undefined, [SUBPROTOCOL]]) {
    const { socket, got } = counting(only)
    const store = new GatewayStore({ urls: env.gw.url, replicaId: only ? 'v1' : 'v2', socket })
    const rep = await createReplica({ store, format: createCborFormat(), run, program: 'v2', replicaId: only ? 'v1' : 'v2' })
    const x = rep.distributed(() => Math.random(), { name: 'x' })
    const values: unknown[] = []
    for (let i = 0; i < (only ? 40 : 30); i++) values.push(await x())
    results.push(values)
    // repjs.v1: the second replica replays the first replica's 30 slots and decides 10 more, each
    // pushed to it as well as answered (its client skips the pushes its DECIDEDs delivered).
    if (only) await until(() => got.slots.includes(39), 10_000, 'the push of slot 39')
    await rep.close()
    if (only) expect(got.slots).toEqual(Array.from({ length: 40 }, (_, i) => i))
    // repjs.v2: the first replica decides 30 slots, each delivered by its DECIDED only.
    else expect(got.slots).toEqual([])
  }
  expect(results[1]!.slice(0, 30)).toEqual(results[0])
  expect(new Set(results[1]).size).toBe(40)
})
