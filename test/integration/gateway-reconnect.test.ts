// The gateway client rides out a cut connection: requests in flight are re-sent with their ids and
// decided once, subscriptions resume from the next undelivered slot, status says reconnecting.
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { connect, type StatusState } from '../../node-gateway/index.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { startProxy } from '../helpers/tcp-proxy.js'

let etcd: Cluster
let gw: Gateway
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }) })
})
afterAll(async () => {
  await gw?.close()
  await etcd?.stop()
})

test('calls in flight across a cut connection are decided once and agree with a direct replica', async () => {
  const run = uniqueRun('cut')
  const proxy = await startProxy({ host: '127.0.0.1', port: gw.port })
  const viaGw = await connect({ run, gateway: proxy.url.replace('http', 'ws'), program: 'cut' })
  const direct = await connect({ run, etcd: etcd.endpoint, program: 'cut' })
  const states: StatusState[] = []
  viaGw.on('status', (s) => states.push(s.state))
  let localRuns = 0
  const f = viaGw.distributed((i: number) => (localRuns++, `gw-${i}`), { name: 'f' })
  const first = Array.from({ length: 20 }, (_, i) => f(i))
  proxy.cut()
  const during = Array.from({ length: 20 }, (_, i) => f(20 + i))
  await new Promise((r) => setTimeout(r, 300))
  proxy.restore()
  const got = await Promise.all([...first, ...during])
  expect(localRuns).toBe(40)
  const g = direct.distributed((i: number) => `direct-${i}`, { name: 'f' })
  const seen: string[] = []
  for (let i = 0; i < 40; i++) seen.push(await g(i))
  expect(seen).toEqual(got)
  // each slot holds the gateway replica's value (it proposed first), decided exactly once
  expect(got).toEqual(Array.from({ length: 40 }, (_, i) => `gw-${i}`))
  expect(states).toContain('reconnecting')
  expect(viaGw.status.state).toBe('live')
  await viaGw.close()
  await direct.close()
  await proxy.close()
})

test('a subscription resumes after a cut: slots decided meanwhile arrive without a round trip', async () => {
  const run = uniqueRun('resub')
  const proxy = await startProxy({ host: '127.0.0.1', port: gw.port })
  const follower = await connect({ run, gateway: proxy.url.replace('http', 'ws'), program: 'resub' })
  const leader = await connect({ run, etcd: etcd.endpoint, program: 'resub' })
  const values = [await leader.random()]
  expect(await follower.random()).toBe(values[0])
  proxy.cut()
  for (let i = 0; i < 30; i++) values.push(await leader.random())
  proxy.restore()
  const deadline = Date.now() + 10_000
  while (follower.status.head < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  expect(follower.status.head).toBe(30)
  const got = [values[0]]
  for (let i = 0; i < 30; i++) got.push(await follower.random())
  expect(got).toEqual(values)
  await follower.close()
  await leader.close()
  await proxy.close()
})
