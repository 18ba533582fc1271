// Keeping leases alive: the etcd3 (https) transport's keep-alives have a deadline (one that etcd
// does not answer, on a half-open link: the proxy's silence(), fails within it, and the next one
// opens a new stream and connection instead of waiting on the stuck one for ever); a lease the
// caller has just granted is kept without a keep-alive round trip first (both transports).
import { expect, test } from 'vitest'
import { etcd3 } from '../../node-gateway/store/etcd3-load.js'
import { etcd3Renewer } from '../../node-gateway/store/etcd3-transport.js'
import { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { useEtcd } from '../helpers/etcd.js'
import { startProxy } from '../helpers/tcp-proxy.js'

const etcd = useEtcd()

test('a keep-alive not answered within the deadline fails, and the next one is answered on a new connection', async () => {
  const { hostname, port } = new URL(etcd.endpoint)
  const proxy = await startProxy({ host: hostname, port: Number(port) })
  const { Etcd3 } = etcd3()
  const client = new Etcd3({ hosts: proxy.url })
  try {
    const id = (await client.leaseClient.leaseGrant({ TTL: 30 })).ID
    const renewer = etcd3Renewer(client, id, 400)
    expect(await renewer.keepAlive()).toBeGreaterThan(0)
    proxy.silence()
    const t0 = Date.now()
    await expect(renewer.keepAlive()).rejects.toThrow(/no keep-alive answer within 400 ms/)
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(await renewer.keepAlive()).toBeGreaterThan(0)
    renewer.close()
  } finally {
    client.close()
    await proxy.close()
  }
})

test.each(['http2', 'etcd3'] as const)('%s: a lease just granted is ready at once (no keep-alive round trip first), then kept alive past its TTL', async (hotPath) => {
  const { hostname, port } = new URL(etcd.endpoint)
  const proxy = await startProxy({ host: hostname, port: Number(port) })
  const store = new EtcdStore({ endpoints: proxy.url, hotPath })
  try {
    const t = store.transport
    const id = await t.leaseGrant(2)
    // Nothing gets through now: a keeper that needed an answer first would not be ready.
    proxy.blackHole()
    await t.keepLease(id, 2, true).ready
    proxy.restore()
    const kept = t.keepLease(await t.leaseGrant(1), 1, true)
    await new Promise((r) => setTimeout(r, 2500))
    expect(kept.signal.aborted).toBe(false)
    expect((await t.leaseTimeToLive(kept.id)).ttlSec).toBeGreaterThanOrEqual(0)
    await kept.revoke()
  } finally {
    await store.close()
    await proxy.close()
  }
})
