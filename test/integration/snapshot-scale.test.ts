// A late replica joins a long run in seconds through restore(): the run's log (100,000 slots in
// `npm test`, 1,000,000 under REPJS_LONG) is written straight into etcd as valid records, one
// replica replays it and snapshots and collects it, then a late replica restores and goes on.
import { Etcd3 } from 'etcd3'
import { expect, test } from 'vitest'
import { connect, createEtcdStore, type Replica } from '../../node-gateway/index.js'
import { createCodec } from '../../core/codec.js'
import { encodeRecord } from '../../core/record.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { slotKey, slotPrefix } from '../../node-gateway/store/keys.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

/** Records per setup Txn (etcd's --max-txn-ops is raised for it; its default is 128). */
const PER_TXN = 1000
const etcd = useEtcd(1, { extraArgs: [`--max-txn-ops=${PER_TXN}`] })
const SLOTS = process.env.REPJS_LONG ? 1_000_000 : 100_000
const PARALLEL = 4
const JOIN_BOUND_MS = 5000

const valueAt = (slot: number) => slot % 1000
const step = (rep: Replica) => rep.distributed(() => -1, { name: 'step' })() as Promise<number>

/** Write records for slots [0, n) of the run's main stream in batched Txns, as replicas calling `step` would have. */
async function writeLog(run: string, n: number): Promise<void> {
  const codec = createCodec(createCborFormat())
  // A generous deadline: big Txns on a machine shared with other work.
  const store = createEtcdStore({ endpoints: etcd.endpoint, callTimeoutMs: 30_000 })
  const kv = store.transport
  let next = 0
  let written = 0
  let shown = 0
  const t0 = performance.now()
  const worker = async () => {
    while (next < n) {
      const from = next
      next = Math.min(n, next + PER_TXN)
      const success = []
      for (let slot = from; slot < next; slot++) {
        const at = { run, stream: 'main', slot }
        const record = encodeRecord(codec, at, { kind: 'call', name: 'step', argsHash: '-', site: '', by: 'setup', ok: true, value: valueAt(slot) })
        success.push({ request_put: { key: Buffer.from(slotKey(run, 'main', slot)), value: Buffer.from(record) } })
      }
      const res = await kv.txn({ compare: [], success, failure: [] })
      expect(res.succeeded).toBe(true)
      written += success.length
      if (written - shown >= n / 10) {
        shown = written
        console.log(`setup: ${written.toLocaleString('en')} of ${n.toLocaleString('en')} slots written (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
      }
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker))
  await store.close()
}

test(`a late replica joins a ${SLOTS.toLocaleString('en')}-slot run in seconds via restore()`, async () => {
  const run = uniqueRun('scale')
  const first = await connect({ run, etcd: etcd.endpoint, program: 'scale' })
  await writeLog(run, SLOTS)
  // The first replica replays the whole log (that is what restore() spares a late one), then
  // snapshots its state and collects the slots below.
  let t = performance.now()
  let sum = 0
  for (let i = 0; i < SLOTS; i++) {
    sum += await step(first)
    if (i % (SLOTS / 5) === SLOTS / 5 - 1) console.log(`replay: ${(i + 1).toLocaleString('en')} slots (${((performance.now() - t) / 1000).toFixed(1)} s)`)
  }
  let want = 0
  for (let i = 0; i < SLOTS; i++) want += valueAt(i)
  expect(sum).toBe(want)
  const replayMs = performance.now() - t
  expect(await first.snapshot({ sum, steps: SLOTS })).toBe(SLOTS)
  t = performance.now()
  const collected = await first.collect()
  const collectMs = performance.now() - t
  // (`deleted` counts what answered transactions deleted; a retried one's is not counted: check etcd.)
  expect(collected.below).toBe(SLOTS)
  const client = new Etcd3({ hosts: etcd.endpoint })
  const left = Number(await client.getAll().prefix(slotPrefix(run, 'main')).count())
  expect(left).toBe(1)
  const rev = (await client.get('x').exec()).header.revision
  await client.kv.compact({ revision: rev, physical: true })
  client.close()

  // The late replica: connect, restore, first call.
  t = performance.now()
  const late = await connect({ run, etcd: etcd.endpoint, program: 'scale' })
  const state = await late.restore<{ sum: number; steps: number }>()
  const firstValue = Promise.all([step(first), step(late)])
  const [a, b] = await firstValue
  const joinMs = performance.now() - t
  console.log(
    `${SLOTS.toLocaleString('en')} slots: replay ${(replayMs / 1000).toFixed(1)} s, collect ${(collectMs / 1000).toFixed(1)} s (${collected.deleted} counted); ` +
      `late replica joined (connect + restore + first call) in ${joinMs.toFixed(0)} ms`,
  )
  expect(state).toEqual({ sum, steps: SLOTS })
  expect(b).toBe(a)
  expect(joinMs).toBeLessThan(JOIN_BOUND_MS)
  // Both go on in agreement.
  for (let i = 0; i < 20; i++) {
    const [x, y] = await Promise.all([first.random(), late.random()])
    expect(y).toBe(x)
  }
  await Promise.all([first.close(), late.close()])
}, process.env.REPJS_LONG ? 900_000 : 120_000)
