/** A 3-member etcd cluster for the lean client's tests, a reference etcd3 client, and cleanup. */
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll } from 'vitest'
import type { KvClient } from '../../node-gateway/store/kv-client.js'
import { startCluster, type Cluster } from './etcd.js'

/**
 * Start the cluster before the file's tests and hand it over through `ready`; after them, run
 * `beforeStop`, close the clients pushed on the returned list, resume paused members and stop.
 */
export function useKvCluster(ready: (etcd: Cluster, ref: Etcd3) => void, beforeStop: () => void = () => {}): KvClient[] {
  const clients: KvClient[] = []
  let etcd: Cluster | undefined
  let ref: Etcd3 | undefined
  beforeAll(async () => {
    etcd = await startCluster(3)
    ref = new Etcd3({ hosts: etcd.endpoints })
    ready(etcd, ref)
  })
  afterAll(async () => {
    beforeStop()
    for (const c of clients) c.close()
    ref?.close()
    for (const m of etcd?.members ?? []) m.proc?.kill('SIGCONT')
    await etcd?.stop()
  })
  return clients
}

/** Retry fn until it resolves (a 3-member cluster may be electing a leader), up to ms. */
export async function eventually<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > until) throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}
