// Caught-up reading: a replica that was cut off while the others went on (and etcd compacted the
// revisions its watch would resume from) falls back to range reads and answers from memory.
import { Etcd3 } from 'etcd3'
import { expect, test } from 'vitest'
import { connect, createEtcdStore, type Store } from '../../node-gateway/index.js'
import { MAX_SLOT, slotKey } from '../../node-gateway/store/keys.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { startProxy } from '../helpers/tcp-proxy.js'

const etcd = useEtcd()

function countProposals(rep: object): () => number {
  const store = (rep as { engine: { store: Store } }).engine.store
  let n = 0
  const propose = store.propose.bind(store)
  store.propose = (...args) => (n++, propose(...args))
  return () => n
}

test('after a cut during which the log grew and etcd compacted, the replica catches up by range reads', async () => {
  const run = uniqueRun('compact')
  const port = Number(new URL(etcd.endpoint).port)
  const proxy = await startProxy({ host: '127.0.0.1', port })
  const late = await connect({ run, etcd: proxy.url, program: 'compact' })
  const leader = await connect({ run, etcd: etcd.endpoint, program: 'compact' })
  const proposals = countProposals(late)
  const first = await leader.now()
  await new Promise((r) => setTimeout(r, 200))
  proxy.cut()
  const values = [first]
  for (let i = 0; i < 50; i++) values.push(await leader.random())
  const client = new Etcd3({ hosts: etcd.endpoint })
  const rev = (await client.get('x').exec()).header.revision
  await client.kv.compact({ revision: rev, physical: true })
  client.close()
  proxy.restore()
  // The watch resumes from a compacted revision, is refused, and the replica reads the range.
  const deadline = Date.now() + 15_000
  while (late.status.head < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  expect(late.status.head).toBe(50)
  const got = [await late.now()]
  for (let i = 0; i < 50; i++) got.push(await late.random())
  expect(got).toEqual(values)
  expect(proposals()).toBe(0)
  await late.close()
  await leader.close()
  await proxy.close()
})

test('the catch-up read pages by windows of slot numbers and still delivers slots past a gap and past the last full window', async () => {
  const run = uniqueRun('windows')
  const client = new Etcd3({ hosts: etcd.endpoint })
  const slots = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 20, 21, 40]
  for (const s of slots) await client.put(slotKey(run, 'main', s)).value(`r${s}`)
  client.close()
  for (const [hotPath, pageSize] of [['http2', 3], ['http2', 4], ['etcd3', 3], ['http2', 1]] as const) {
    const store = createEtcdStore({ endpoints: etcd.endpoint, hotPath, pageSize })
    try {
      for (const from of [0, 2, 8, 12]) {
        const got: Array<[number, string]> = []
        await new Promise<void>((resolve, reject) => {
          const stop = store.follow(run, 'main', from, {
            slot: (slot, rec) => got.push([slot, Buffer.from(rec).toString()]),
            caughtUp: () => (stop(), resolve()),
            error: reject,
          })
        })
        const want = slots.filter((s) => s >= from)
        expect(got, `${hotPath}, pageSize ${pageSize}, from ${from}`).toEqual(want.map((s) => [s, `r${s}`]))
      }
    } finally {
      await store.close()
    }
  }
})

test('the catch-up read ends at the last storable slot (windows do not run past it)', async () => {
  const run = uniqueRun('lastslots')
  const client = new Etcd3({ hosts: etcd.endpoint })
  const slots = [MAX_SLOT - 4, MAX_SLOT - 3, MAX_SLOT - 1, MAX_SLOT]
  for (const s of slots) await client.put(slotKey(run, 'main', s)).value(`r${s}`)
  client.close()
  const store = createEtcdStore({ endpoints: etcd.endpoint, pageSize: 2 })
  try {
    const got: number[] = []
    await new Promise<void>((resolve, reject) => {
      const stop = store.follow(run, 'main', MAX_SLOT - 3, { slot: (slot) => got.push(slot), caughtUp: () => (stop(), resolve()), error: reject })
    })
    expect(got).toEqual(slots.slice(1))
  } finally {
    await store.close()
  }
}, 20_000)
