/**
 * `connect()` for browser tabs (and Electron renderers): the same Replica as in Node, reaching
 * etcd through a RepJS gateway (WebSocket, repjs.v1), with the run's decided slots kept in
 * IndexedDB so a reloaded tab restores its log at once and fetches only the tail.
 *
 *   import { connect } from 'repjs/browser'
 *   const rep = await connect({ gateway: 'ws://127.0.0.1:7420', run: 'kiosk-1', program: 'kiosk@1' })
 */
import { GatewayStore, type GatewayTimeouts, type TokenSource } from '../core/gateway-store.js'
import { badArgument } from '../core/errors.js'
import { createReplica, type Replica, type ReplicaOptions } from '../core/replica.js'
import { createCborFormat } from '../core/cbor-format.js'
import { idbCache, repjsStore } from './cache.js'
import { claimReplicaId } from './replica-id.js'

export interface BrowserConnectOptions extends Omit<ReplicaOptions, 'store' | 'format' | 'cache' | 'program'> {
  /** Gateway URL(s), e.g. 'ws://127.0.0.1:7420' or a list to fail over between. Required. */
  gateway: string | string[]
  /**
   * The run token for the gateway (`repjs token --run R`), if it requires tokens; or a function
   * (sync or async) returning a fresh one, called before every connection, so a replica outlives
   * its tokens: the gateway closes a connection whose token expired and the replica reconnects.
   */
  token?: TokenSource
  /** Gateway liveness: ping interval and request deadline (defaults 15 s and 30 s). */
  gatewayTimeouts?: GatewayTimeouts
  /**
   * Program id recorded with the run; replicas of another program get REPJS_VERSION_MISMATCH.
   * Required in the browser (there is no entry script to hash): use your app's name and version.
   */
  program: string
  /** Keep decided slots in IndexedDB so a reload fetches only the tail (default true). */
  cache?: boolean
}

function isUrlList(x: unknown): x is string | string[] {
  if (typeof x === 'string') return x.length > 0
  return Array.isArray(x) && x.length > 0 && x.every((u) => typeof u === 'string' && u.length > 0)
}

/**
 * Join (or create) a run through a gateway. The replica id is kept per run and per tab in
 * IndexedDB, so a reload keeps it; two open tabs never share one (Web Locks).
 */
export async function connect(opts: BrowserConnectOptions): Promise<Replica> {
  if (!opts || typeof opts !== 'object') {
    throw badArgument("connect() needs options: { gateway: 'ws://127.0.0.1:7420', run: 'my-run', program: 'my-app@1' }")
  }
  if (!isUrlList(opts.gateway)) {
    throw badArgument(`connect() in the browser needs gateway: a ws:// or wss:// URL of a RepJS gateway (or a list), got ${JSON.stringify(opts.gateway)}`)
  }
  if (typeof opts.program !== 'string' || opts.program.length === 0) {
    throw badArgument(
      "connect() in the browser needs program: an id of your app's code, e.g. 'kiosk@1.4.0' (there is no entry script to hash as in Node). " +
        'Every replica of a run must pass the same one.',
    )
  }
  if (typeof opts.run !== 'string') throw badArgument(`run must be 1-128 of [A-Za-z0-9._-], got '${String(opts.run)}'`)
  const useCache = opts.cache !== false
  const claim = opts.replicaId ? { id: opts.replicaId, release: () => {} } : await claimReplicaId(opts.run, useCache ? repjsStore() : undefined)
  const cache = useCache ? idbCache({ run: opts.run }) : undefined
  const store = new GatewayStore({ ...opts.gatewayTimeouts, urls: opts.gateway, token: opts.token, replicaId: claim.id })
  const siteBase = opts.siteBase ?? (typeof location !== 'undefined' ? location.origin + '/' : undefined)
  let rep: Replica
  try {
    rep = await createReplica({ ...opts, runtime: opts.runtime ?? 'browser', replicaId: claim.id, store, format: createCborFormat(), cache, siteBase })
  } catch (err) {
    claim.release()
    throw err
  }
  // Closing writes out the last saves and frees the replica id for this tab's next load.
  const close = rep.close.bind(rep)
  rep.close = async () => {
    try {
      await close()
    } finally {
      await cache?.flush()
      claim.release()
    }
  }
  return rep
}
