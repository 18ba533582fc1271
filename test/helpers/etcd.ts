/** Real etcd for tests (see node-gateway/etcd/local-etcd.ts) and run ids unique to a test process. */
export { startCluster, freePort, type Cluster, type Member } from '../../node-gateway/etcd/local-etcd.js'

let counter = 0
/** A run id unique to this test process. */
export function uniqueRun(prefix = 'run'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`
}
