import { expect, test } from 'vitest'
import { connect } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const etcd = useEtcd()

test('two replicas in one process agree on distributed values, time and random', async () => {
  const run = uniqueRun()
  const a = await connect({ run, etcd: etcd.endpoint, program: 'smoke' })
  const b = await connect({ run, etcd: etcd.endpoint, program: 'smoke' })
  let calls = 0
  const fa = a.distributed(() => ++calls * 100, { name: 'f' })
  const fb = b.distributed(() => ++calls * 1000, { name: 'f' })
  const va = await fa()
  const vb = await fb()
  expect(vb).toBe(va)
  expect(calls).toBe(2)
  const [t1, t2] = [await a.now(), await b.now()]
  expect(t1).toBe(t2)
  const [r1, r2] = [await a.random(), await b.random()]
  expect(r1).toBe(r2)
  expect(r1).toBeGreaterThanOrEqual(0)
  expect(r1).toBeLessThan(1)
  await a.close()
  await b.close()
})
