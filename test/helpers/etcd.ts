/** Real etcd for tests (see node-gateway/etcd/local-etcd.ts) and run ids unique to a test process. */
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
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

/**
 * SIGSTOP a process and wait until every one of its threads is stopped (state T in /proc). The
 * signal does not stop a multi-threaded process at once: the thread chosen to take it starts the
 * group stop when it next runs, and on a loaded machine etcd's other threads can meanwhile serve a
 * request sent right after kill() returned (the kv-client test saw a Txn answered that way).
 */
export async function freeze(proc: ChildProcess, ms = 5000): Promise<void> {
  proc.kill('SIGSTOP')
  const until = Date.now() + ms
  const stopped = () => {
    const dir = `/proc/${proc.pid}/task`
    return readdirSync(dir).every((t) => {
      const stat = readFileSync(`${dir}/${t}/stat`, 'utf8')
      return 'Tt'.includes(stat[stat.lastIndexOf(')') + 2]!)
    })
  }
  while (!stopped()) {
    if (Date.now() > until) throw new Error(`process ${proc.pid} did not stop within ${ms} ms of SIGSTOP`)
    await new Promise((r) => setTimeout(r, 1))
  }
}
