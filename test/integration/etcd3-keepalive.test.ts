// The etcd3 (https) transport's lease keep-alives have a deadline: one that etcd does not answer
// (a half-open link: the proxy's silence()) fails within it, and the next one opens a new stream
// and connection (later connections through the proxy work) instead of waiting on the stuck one for ever.
import { expect, test } from 'vitest'
import { etcd3 } from '../../node-gateway/store/etcd3-load.js'
import { etcd3Renewer } from '../../node-gateway/store/etcd3-transport.js'
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
