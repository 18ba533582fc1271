/** Real etcd for tests (see node-gateway/etcd/local-etcd.ts) and run ids unique to a test process. */
import { afterAll, beforeAll } from 'vitest'
import { startCluster, type Cluster, type ClusterOptions } from '../../node-gateway/etcd/local-etcd.js'
export { startCluster, freePort, type Cluster, type Member } from '../../node-gateway/etcd/local-etcd.js'

let counter = 0
/** A run id unique to this test process. */
export function uniqueRun(prefix = 'run'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`
}

/**
 * A real etcd for one test file: started before its tests, stopped after them.
 *   const etcd = useEtcd()        // etcd.endpoint, etcd.endpoints, etcd.members
 */
export function useEtcd(size = 1, opts?: ClusterOptions): Pick<Cluster, 'endpoint' | 'endpoints' | 'members'> {
  let cluster: Cluster | undefined
  beforeAll(async () => {
    cluster = await startCluster(size, opts)
  })
  afterAll(async () => {
    await cluster?.stop()
  })
  const get = () => {
    if (!cluster) throw new Error('useEtcd(): etcd is started in beforeAll; use it inside tests')
    return cluster
  }
  return {
    get endpoint() {
      return get().endpoint
    },
    get endpoints() {
      return get().endpoints
    },
    get members() {
      return get().members
    },
  }
}
