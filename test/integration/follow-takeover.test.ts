// A replica that follows another (learns each slot from the watch instead of proposing) takes the
// lead when that replica stops: its next call waits at most the follow wait, then proposes and
// wins; its later calls propose at once. Measured: how long the first call after the stop takes.
import { afterAll, expect, test } from 'vitest'
import { connect, type Replica } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const etcd = useEtcd()
const open: Replica[] = []
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()))
})

test('a follower takes over promptly when the replica it follows stops', async () => {
  const run = uniqueRun('takeover')
  const a = await connect({ run, etcd: etcd.endpoint, program: 'takeover' })
  const b = await connect({ run, etcd: etcd.endpoint, program: 'takeover' })
  open.push(a, b)
  const callA = a.distributed(() => 'a', { name: 'who' })
  const callB = b.distributed(() => 'b', { name: 'who' })
  // a leads: b makes each call after a's was decided, and gets a's outcome (b follows a).
  for (let i = 0; i < 30; i++) {
    expect(await callA()).toBe('a')
    expect(await callB()).toBe('a')
  }
  await a.close()
  const t0 = performance.now()
  expect(await callB()).toBe('b')
  const takeoverMs = performance.now() - t0
  const t1 = performance.now()
  for (let i = 0; i < 5; i++) expect(await callB()).toBe('b')
  const leadingMs = (performance.now() - t1) / 5
  console.log(`takeover: first call after the leader stopped ${takeoverMs.toFixed(1)} ms, then ${leadingMs.toFixed(1)} ms per call`)
  // The follow wait is at most 50 ms; the rest is one proposal (generous for a loaded machine).
  expect(takeoverMs).toBeLessThan(1500)
})
