/**
 * The Node runtime adapter: `connect()` joins a run through etcd directly, or through gateways
 * (the browser's twin is browser/connect.ts). Exported by node-gateway/index.ts.
 */
import { dirname } from 'node:path'
import { pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import { createReplica, type Replica, type ReplicaOptions } from '../core/replica.js'
import { badArgument } from '../core/errors.js'
import { GatewayStore, type GatewayTimeouts, type TokenSource } from '../core/gateway-store.js'
import type { Store } from '../core/store.js'
import { createCborFormat } from '../core/cbor-format.js'
import { defaultProgramId } from './program-id.js'
import { createEtcdStore, type EtcdStoreOptions } from './store/etcd-store.js'
import { setTextMapped } from '../core/site.js'

/** Node before process.sourceMapsEnabled (20.7): --enable-source-maps on the command line or in NODE_OPTIONS. */
const sourceMapsFlag = process.execArgv.includes('--enable-source-maps') || (process.env.NODE_OPTIONS ?? '').includes('--enable-source-maps')
// Call sites (core/site.ts) are read from the stack's text where Node source-maps it, else from V8's frames.
setTextMapped(() => (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled ?? sourceMapsFlag)

export interface ConnectOptions extends Omit<ReplicaOptions, 'store' | 'format' | 'program'> {
  /** etcd endpoint(s), e.g. 'http://127.0.0.1:2379' or a list. Default: $REPJS_ETCD or http://127.0.0.1:2379. */
  etcd?: string | string[]
  /** Instead of etcd: gateway URL(s), e.g. 'ws://127.0.0.1:7420' or a list to fail over between. */
  gateway?: string | string[]
  /**
   * The run token for the gateway (`repjs token --run R`), if it requires tokens; or a function
   * (sync or async) returning a fresh one, called before every connection, so a replica outlives
   * its tokens: the gateway closes a connection whose token expired and the replica reconnects.
   */
  token?: TokenSource
  /** Gateway liveness: ping interval and request deadline (defaults 15 s and 30 s). */
  gatewayTimeouts?: GatewayTimeouts
  /** Program id recorded with the run; default: a hash of the entry script's contents. */
  program?: string
  /** Advanced etcd client settings. */
  etcdOptions?: Omit<EtcdStoreOptions, 'endpoints'>
}

export async function connect(opts: ConnectOptions): Promise<Replica> {
  if (!opts || typeof opts !== 'object') throw badArgument("connect() needs options: { run: 'my-run', etcd: 'http://127.0.0.1:2379' }")
  if (opts.gateway && opts.etcd) throw badArgument('connect() takes either etcd or gateway, not both')
  const replicaId = opts.replicaId ?? randomBytes(6).toString('hex')
  let store: Store
  if (opts.gateway) {
    store = new GatewayStore({ ...opts.gatewayTimeouts, urls: opts.gateway, token: opts.token, replicaId })
  } else {
    const etcd = opts.etcd ?? process.env.REPJS_ETCD?.split(',') ?? 'http://127.0.0.1:2379'
    store = createEtcdStore({ endpoints: etcd, ...opts.etcdOptions })
  }
  const entry = process.argv[1]
  return createReplica({
    ...opts,
    replicaId,
    runtime: opts.runtime ?? 'node',
    store,
    format: createCborFormat(),
    program: opts.program ?? defaultProgramId(entry),
    siteBase: opts.siteBase ?? (entry ? pathToFileURL(dirname(entry)).href + '/' : undefined),
  })
}
