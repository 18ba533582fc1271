// Replicated input: a line typed on any replica is returned on all; a line that loses the race is
// kept for the next call; end of input is explicit; waiting costs no etcd requests.
import { afterAll, expect, test } from 'vitest'
import { connect, type Replica, type Store } from '../../node-gateway/index.js'
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
  const store = (b as unknown as { engine: { store: Store } }).engine.store
  let calls = 0
  for (const m of ['propose', 'vote', 'acquire'] as const) {
    const orig = store[m].bind(store) as (...args: unknown[]) => Promise<unknown>
    ;(store as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => (calls++, orig(...args))
  }
  const pending = b!.input()
  await new Promise((r) => setTimeout(r, 500))
  expect(calls).toBe(0)
  // a line typed on a waits in a's queue until a asks for input too
  a!.typeLine('wake up')
  await new Promise((r) => setTimeout(r, 100))
  expect(calls).toBe(0)
  const [la, lb] = await Promise.all([a!.input(), pending])
  expect(la).toBe('wake up')
  expect(lb).toBe('wake up')
  expect(calls).toBe(0)
})
