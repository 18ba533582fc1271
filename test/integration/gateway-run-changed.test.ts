// A replica through a gateway compares the run record of every WELCOME after a reconnect with the
// first one: a run deleted, or deleted and created again (another program or incarnation), while the
// replica was away stops it instead of letting it write into another run: REPJS_RUN_GONE when the
// run is gone (its tombstone says so), REPJS_RUN_CHANGED when it was created again meanwhile.
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect, createEtcdStore } from '../../node-gateway/index.js'
import { runPrefix } from '../../node-gateway/store/keys.js'
import type { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { runMeta, until } from '../helpers/raw-gateway.js'
import { startProxy } from '../helpers/tcp-proxy.js'

let etcd: Cluster
let gw: Gateway
let admin: EtcdStore
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }) })
  admin = createEtcdStore({ endpoints: etcd.endpoint })
})
afterAll(async () => {
  await admin?.close()
  await gw?.close()
  await etcd?.stop()
})

const cases = [
  { what: 'deleted', recreate: false, code: ErrorCodes.RUN_GONE, reason: /run .* was deleted/i },
  { what: 'deleted and created again by another program', recreate: true, code: ErrorCodes.RUN_CHANGED, reason: /run .* changed/i },
]

/** A replica through a proxy to the gateway that has made one call, and its connection cut. */
async function cutAfterOneCall(run: string) {
  const proxy = await startProxy({ host: '127.0.0.1', port: gw.port })
  const rep = await connect({ run, gateway: proxy.url.replace('http', 'ws'), program: 'changed' })
  const f = rep.distributed((i: number) => i * 2, { name: 'f' })
  expect(await f(1)).toBe(2)
  proxy.cut()
  return { proxy, rep, f }
}

test.each(cases)('a run $what while the replica was disconnected stops it with $code', async ({ recreate, code, reason }) => {
  const run = uniqueRun('changed')
  const { proxy, rep, f } = await cutAfterOneCall(run)
  await admin.client.delete().prefix(runPrefix(run))
  if (recreate) await admin.openRun(run, runMeta('someone-else'), { newRun: true })
  proxy.restore()
  await until(() => rep.status.state === 'closed', 15_000, 'the replica to stop')
  const err = await f(2).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toMatchObject({ code })
  expect(rep.status.reason).toMatch(reason)
  await rep.close()
  await proxy.close()
}, 30_000)

test('a reconnect to the same run goes on', async () => {
  const { proxy, rep, f } = await cutAfterOneCall(uniqueRun('same'))
  const states: string[] = []
  rep.on('status', (s) => states.push(s.state))
  proxy.restore()
  expect(await f(2)).toBe(4)
  expect(states).toContain('reconnecting')
  expect(rep.status.state).toBe('live')
  await rep.close()
  await proxy.close()
}, 30_000)
