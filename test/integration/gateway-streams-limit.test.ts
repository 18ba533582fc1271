// Each named stream a replica uses through a gateway is one subscription, and the gateway caps them
// per connection (1,024 by default, 8 here). The stream over the cap fails its calls with a clear
// REPJS_LIMIT; the replica and its other streams go on (it used to halt the whole replica).
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect } from '../../node-gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'

const MAX = 8
let etcd: Cluster
let gw: Gateway
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }), limits: { maxSubscriptions: MAX } })
})
afterAll(async () => {
  await gw?.close()
  await etcd?.stop()
})

test('a named stream over the gateway subscription cap gets REPJS_LIMIT at its calls; the replica goes on', async () => {
  const run = uniqueRun('streams')
  const rep = await connect({ run, gateway: gw.url, program: 'streams' })
  // 'main' is one subscription: MAX - 1 named streams fit.
  for (let i = 0; i < MAX - 1; i++) expect(await rep.stream(`s${i}`).random()).toBeTypeOf('number')
  const over = rep.stream('one-too-many')
  const err = await over.random().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toMatchObject({ code: ErrorCodes.LIMIT, details: { stream: 'one-too-many' } })
  expect((err as Error).message).toMatch(/stream 'one-too-many'.*subscriptions.*fewer named streams/s)
  // Every later call on that stream says the same; the replica and the other streams are fine.
  await expect(over.now()).rejects.toMatchObject({ code: ErrorCodes.LIMIT })
  expect(rep.status.state).toBe('live')
  expect(await rep.random()).toBeTypeOf('number')
  expect(await rep.stream('s0').random()).toBeTypeOf('number')
  await rep.close()
})
