// Replicas through gateways: the same engine over another store.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { connect } from '../../node-gateway/index.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { pino } from 'pino'

let etcd: Cluster
let g1: Gateway
let g2: Gateway
const quiet = pino({ level: 'silent' })
beforeAll(async () => {
  etcd = await startCluster(1)
  g1 = await startGateway({ etcd: etcd.endpoint, logger: quiet })
  g2 = await startGateway({ etcd: etcd.endpoint, logger: quiet })
})
afterAll(async () => {
  await g1?.close()
  await g2?.close()
  await etcd?.stop()
})

test('one replica direct and two through two gateways agree on every value', async () => {
  const run = uniqueRun('gw')
  const d = await connect({ run, etcd: etcd.endpoint, program: 'gw' })
  const a = await connect({ run, gateway: g1.url, program: 'gw' })
  const b = await connect({ run, gateway: g2.url, program: 'gw' })
  const script = async (rep: typeof d) => {
    const out: unknown[] = []
    for (let i = 0; i < 10; i++) {
      out.push(await rep.now(), await rep.random(), await rep.distributed(() => Math.random(), { name: 'x' })())
    }
    out.push(await rep.distributedLocked(() => `once ${Math.random()}`, { name: 'once' })())
    out.push(await rep.vote(rep === d ? 1 : rep === a ? 2 : 3, { quorum: 2, reduce: 'max' }))
    return out
  }
  const [td, ta, tb] = await Promise.all([script(d), script(a), script(b)])
  expect(ta).toEqual(td)
  expect(tb).toEqual(td)
  await Promise.all([d.close(), a.close(), b.close()])
})
