/**
 * RepJS for Node: `connect()` joins a run through etcd directly.
 *
 *   import { connect } from 'repjs'
 *   const rep = await connect({ run: 'orders-7', etcd: 'http://127.0.0.1:2379' })
 */
import { dirname } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createReplica, type Replica, type ReplicaOptions } from '../core/replica.js'
import { badArgument } from '../core/errors.js'
import { createCborFormat } from './codec/cbor-format.js'
import { defaultProgramId } from './program-id.js'
import { createEtcdStore, type EtcdStoreOptions } from './store/etcd-store.js'

export * from '../core/index.js'
export { createEtcdStore, EtcdStore } from './store/etcd-store.js'
export type { EtcdStoreOptions } from './store/etcd-store.js'
export { createCborFormat } from './codec/cbor-format.js'

export interface ConnectOptions extends Omit<ReplicaOptions, 'store' | 'format' | 'program'> {
  /** etcd endpoint(s), e.g. 'http://127.0.0.1:2379' or a list. Default: $REPJS_ETCD or http://127.0.0.1:2379. */
  etcd?: string | string[]
  /** Program id recorded with the run; default: a hash of the entry script's contents. */
  program?: string
  /** Advanced etcd client settings. */
  etcdOptions?: Omit<EtcdStoreOptions, 'endpoints'>
}

export async function connect(opts: ConnectOptions): Promise<Replica> {
  if (!opts || typeof opts !== 'object') throw badArgument("connect() needs options: { run: 'my-run', etcd: 'http://127.0.0.1:2379' }")
  const etcd = opts.etcd ?? process.env.REPJS_ETCD?.split(',') ?? 'http://127.0.0.1:2379'
  const store = createEtcdStore({ endpoints: etcd, ...opts.etcdOptions })
  const entry = process.argv[1]
  return createReplica({
    ...opts,
    store,
    format: createCborFormat(),
    program: opts.program ?? defaultProgramId(entry),
    siteBase: opts.siteBase ?? (entry ? pathToFileURL(dirname(entry)).href + '/' : undefined),
  })
}
