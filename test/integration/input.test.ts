// Replicated input: a line typed on any replica is returned on all; a line that loses the race is
// kept for the next call; end of input is explicit; waiting costs no etcd requests.
import { afterAll, expect, test } from 'vitest'
import type { Engine } from '../../core/engine.js'
import { decodeRecord, encodeRecord, type SlotRecord } from '../../core/record.js'
import { connect, ErrorCodes, RepJSError, type InputLine, type Replica, type Store } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const etcd = useEtcd()
const open: Replica[] = []
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()))
})

async function replicas(names: string[]): Promise<Replica[]> {
  const run = uniqueRun('input')
  const out: Replica[] = []
  for (const name of names) out.push(await connect({ run, etcd: etcd.endpoint, program: 'input', name }))
  open.push(...out)
  return out
}

/** Count the store requests a replica sends from now on (propose, vote, acquire). */
function countRequests(rep: Replica): { readonly calls: number } {
  const store = (rep as unknown as { engine: { store: Store } }).engine.store
  const counter = { calls: 0 }
  for (const m of ['propose', 'vote', 'acquire'] as const) {
    const orig = store[m].bind(store) as (...args: unknown[]) => Promise<unknown>
    ;(store as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => (counter.calls++, orig(...args))
  }
  return counter
}

/** The first `n` decided records of a stream, read from the store. */
function records(rep: Replica, stream: string, n: number): Promise<SlotRecord[]> {
  const engine = (rep as unknown as { engine: Engine }).engine
  return new Promise((resolve, reject) => {
    const got: SlotRecord[] = []
    const stop = engine.store.follow(rep.info.run, stream, 0, {
      slot(slot, bytes) {
        if (slot < n) got[slot] = decodeRecord(engine.codec, bytes, { run: rep.info.run, stream, slot })
        if (got.filter(Boolean).length < n) return
        queueMicrotask(() => stop())
        resolve(got)
      },
      caughtUp() {},
      error: reject,
    })
  })
}

test('a line typed on one replica is the next input on every replica, marked with who typed it', async () => {
  const [a, b] = await replicas(['tab-a', 'term-b'])
  const pa = a!.inputLine()
  const pb = b!.inputLine()
  a!.typeLine('set altitude 3000')
  const [la, lb] = await Promise.all([pa, pb])
  expect(la.line).toBe('set altitude 3000')
  expect(lb.line).toBe('set altitude 3000')
  expect(la.local).toBe(true)
  expect(lb.local).toBe(false)
  expect(lb.who).toBe('tab-a')
  expect(lb.slot).toBe(0)
})

test('a line that loses the race is kept, in order, for the next input call', async () => {
  const [a, b] = await replicas(['a', 'b'])
  a!.typeLine('a1')
  a!.typeLine('a2')
  b!.typeLine('b1')
  const seenA: string[] = []
  const seenB: string[] = []
  for (let i = 0; i < 3; i++) {
    const [x, y] = await Promise.all([a!.input(), b!.input()])
    seenA.push(x!)
    seenB.push(y!)
  }
  expect(seenB).toEqual(seenA)
  expect([...seenA].sort()).toEqual(['a1', 'a2', 'b1'])
  expect(seenA.indexOf('a1')).toBeLessThan(seenA.indexOf('a2'))
  expect(a!.pendingInput()).toEqual([])
  expect(b!.pendingInput()).toEqual([])
})

test('end of input is agreed and explicit; lines still queued are reported as not sent', async () => {
  const [a, b] = await replicas(['a', 'b'])
  a!.endInput()
  expect(await a!.input()).toBeNull()
  b!.typeLine('too late')
  expect(await b!.input()).toBeNull()
  expect(b!.pendingInput()).toEqual(['too late'])
})

test('waiting for input uses the watch: no etcd requests while idle', async () => {
  const [a, b] = await replicas(['a', 'b'])
  const requests = countRequests(b!)
  const pending = b!.input()
  await new Promise((r) => setTimeout(r, 500))
  expect(requests.calls).toBe(0)
  // a line typed on a waits in a's queue until a asks for input too
  a!.typeLine('wake up')
  await new Promise((r) => setTimeout(r, 100))
  expect(requests.calls).toBe(0)
  const [la, lb] = await Promise.all([a!.input(), pending])
  expect(la).toBe('wake up')
  expect(lb).toBe('wake up')
  expect(requests.calls).toBe(0)
})

test('a replica id reused by a new incarnation (a reloaded tab) does not lose the line it types', async () => {
  const run = uniqueRun('input-reuse')
  const first = await connect({ run, etcd: etcd.endpoint, program: 'input', replicaId: 'tab-1' })
  const other = await connect({ run, etcd: etcd.endpoint, program: 'input', replicaId: 'term-2' })
  open.push(other)
  const before = first.typeLine('before reload')
  expect((await first.inputLine()).id).toBe(before)
  await first.close()
  const again = await connect({ run, etcd: etcd.endpoint, program: 'input', replicaId: 'tab-1' })
  open.push(again)
  const after = again.typeLine('after reload')
  // replaying the previous incarnation's line (same replica id, first line) must not take this one
  expect(await again.input()).toBe('before reload')
  expect(again.pendingInput()).toEqual(['after reload'])
  expect(await other.input()).toBe('before reload')
  const [mine, theirs] = await Promise.all([again.inputLine(), other.inputLine()])
  expect([mine.line, mine.id, mine.local]).toEqual(['after reload', after, true])
  expect(theirs.line).toBe('after reload')
  expect(theirs.slot).toBe(1)
  expect(again.pendingInput()).toEqual([])
})

test('a record with a forged `by` cannot take another replica\'s queued line out of its queue', async () => {
  const [a, b] = await replicas(['a', 'b'])
  // b writes slots 0 and 1 of the input stream as if a had typed them (a's replica id, a's first
  // line): once as records were before line ids, once with a made-up id
  const engine = (b as unknown as { engine: Engine }).engine
  const values = [{ line: 'forged', seq: 0, who: 'a', at: 0 }, { line: 'forged too', id: 'made-up', who: 'a', at: 0 }]
  for (const [slot, value] of values.entries()) {
    const forged = encodeRecord(engine.codec, { run: a!.info.run, stream: 'input', slot }, { kind: 'input', name: 'input', argsHash: '-', site: '', by: a!.info.replicaId, ok: true, value })
    expect((await engine.store.propose({ run: a!.info.run, stream: 'input', slot }, forged)).won).toBe(true)
  }
  a!.typeLine('real')
  expect(await a!.inputLine()).toMatchObject({ line: 'forged', id: undefined, local: true })
  expect(a!.pendingInput()).toEqual(['real'])
  expect(await a!.input()).toBe('forged too')
  expect(a!.pendingInput()).toEqual(['real'])
  expect([await b!.input(), await b!.input()]).toEqual(['forged', 'forged too'])
  const [la, lb] = await Promise.all([a!.inputLine(), b!.inputLine()])
  expect([la.line, lb.line, la.slot]).toEqual(['real', 'real', 2])
})

test('two concurrent input() calls with one line typed: one gets it, the other waits for the next line', async () => {
  const [a, b] = await replicas(['a', 'b'])
  a!.typeLine('only')
  const first = a!.input()
  const second = a!.withCallSite('script.js:7:1', () => a!.input())
  expect(await first).toBe('only')
  a!.typeLine('next')
  expect(await second).toBe('next')
  expect(a!.pendingInput()).toEqual([])
  // the log holds each line once, in order; the call that waited for its turn kept its call site
  expect([await b!.input(), await b!.input()]).toEqual(['only', 'next'])
  expect((await records(b!, 'input', 2))[1]!.site).toBe('script.js:7:1')
})

test('end of input is agreed once: several replicas ending make one end slot, and input() after it proposes nothing', async () => {
  const [a, b, c] = await replicas(['a', 'b', 'c'])
  a!.endInput()
  b!.endInput()
  expect(await Promise.all([a!.input(), b!.input()])).toEqual([null, null])
  const counts = [countRequests(a!), countRequests(b!)]
  expect(await Promise.all([a!.input(), b!.input(), a!.input(), b!.input()])).toEqual([null, null, null, null])
  expect(counts.map((c) => c.calls)).toEqual([0, 0])
  // each replica's own end request is fulfilled by the agreed end, whoever's won
  expect([a!.pendingInput(), b!.pendingInput()]).toEqual([[], []])
  a!.endInput()
  expect(a!.pendingInput()).toEqual([])
  // a replica joining later sees one end, at slot 0
  const end = await c!.inputLine()
  expect([end.line, end.slot]).toEqual([null, 0])
  expect((await c!.inputLine()).slot).toBe(0)
})

test('an acknowledged line is in the log once when the answer to its proposal is lost and the proposal resent', async () => {
  const [a, b] = await replicas(['a', 'b'])
  const store = (a as unknown as { engine: { store: Store } }).engine.store
  const propose = store.propose.bind(store)
  let lost = 0
  store.propose = async (ref, record, clearVotes) => {
    const res = await propose(ref, record, clearVotes)
    if (lost++ > 0) return res
    // written, but the answer never arrives: the engine retries the same slot
    throw new RepJSError(ErrorCodes.UNAVAILABLE, 'answer lost (test)', { retryable: true, retryAs: 'reconnecting' })
  }
  const id = a!.typeLine('once')
  const line = await a!.inputLine()
  expect([line.line, line.id, line.slot, lost]).toEqual(['once', id, 0, 2])
  expect(a!.pendingInput()).toEqual([])
  a!.typeLine('then')
  expect(await a!.input()).toBe('then')
  expect([await b!.input(), await b!.input()]).toEqual(['once', 'then'])
})

test('a replica restarted many times with one id: each acknowledged line is in the log exactly once, no line twice', async () => {
  const run = uniqueRun('input-restarts')
  const join = async (replicaId: string) => {
    const rep = await connect({ run, etcd: etcd.endpoint, program: 'input', replicaId })
    open.push(rep)
    return rep
  }
  const steady = await join('steady')
  const log: InputLine[] = []
  const reading = (async () => {
    for (let l = await steady.inputLine(); log.push(l) && l.line !== null; l = await steady.inputLine());
  })()
  const acked: string[] = []
  const restarts = 10
  const SENT = Symbol('sent')
  for (let i = 0; i < restarts; i++) {
    const rep = await join('restarting')
    const id = rep.typeLine(`restart ${i}`)
    steady.typeLine(`steady ${i}`)
    while ((await rep.inputLine()).id !== id); // replays what earlier incarnations saw, then its own line
    acked.push(id)
    // one more line, its proposal sent but not answered when this incarnation stops: not acknowledged
    const store = (rep as unknown as { engine: { store: Store } }).engine.store
    const propose = store.propose.bind(store)
    const sent = new Promise<typeof SENT>((resolve) => (store.propose = (...a) => (resolve(SENT), propose(...a))))
    rep.typeLine(`unacknowledged ${i}`)
    const next = () => rep.input().catch(() => undefined)
    while ((await Promise.race([sent, next()])) !== SENT); // steady's lines may take the slots first
    await rep.close()
  }
  const last = await join('restarting')
  last.endInput()
  while ((await last.input()) !== null);
  await reading
  const ids = log.map((l) => l.id)
  expect(new Set(ids).size).toBe(ids.length)
  expect(acked.filter((id) => ids.includes(id))).toEqual(acked)
  // every line typed on the steady replica is agreed once or still queued when input ended
  const steadyLines = [...log.filter((l) => l.replica === 'steady').map((l) => l.line), ...steady.pendingInput()]
  expect(steadyLines.sort()).toEqual(Array.from({ length: restarts }, (_, i) => `steady ${i}`).sort())
  console.log(`restarts: ${restarts}, agreed lines ${log.length - 1}, acknowledged ${acked.length}, ` +
    `unacknowledged agreed ${log.filter((l) => l.line?.startsWith('unacknowledged')).length}, duplicates 0`)
})
