/**
 * The transport over etcd3's grpc-js client: every call, watch and lease through it. It serves
 * https endpoints (and `hotPath: 'etcd3'`). etcd3 resumes a lost watch stream by itself, so an
 * 'error' here is a cancel (compaction).
 */
import type { Etcd3, IRangeRequest } from 'etcd3'
import { keepLease, type LeaseRenewer } from './lease-keeper.js'
import { WatchCompactedError, type Transport, type Watcher, type WatchHandlers, type WatchRequest } from './transport.js'

type KeepAliveStream = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>

/**
 * Keep-alives of lease `id` on one etcd3 LeaseKeepAlive stream, opened on first use and again after
 * it breaks; each keep-alive is answered by the stream's next response, within `timeoutMs` (the
 * store's call deadline): else it fails and the stream is cancelled (etcd3 then drops that host's
 * connection), so the next keep-alive opens a new one instead of waiting on a stuck stream for ever.
 */
export function etcd3Renewer(client: Etcd3, id: string, timeoutMs: number): LeaseRenewer {
  let stream: Promise<KeepAliveStream> | undefined
  let closed = false
  const waiting: Array<{ resolve(ttl: number): void; reject(err: Error): void }> = []
  const broken = (s: Promise<KeepAliveStream>, err: Error) => {
    if (stream !== s) return
    stream = undefined
    for (const w of waiting.splice(0)) w.reject(err)
  }
  const open = () => {
    const s: Promise<KeepAliveStream> = client.leaseClient.leaseKeepAlive().then((ka) => {
      ka.on('data', (res: { TTL: string }) => stream === s && waiting.shift()?.resolve(Number(res.TTL)))
      ka.on('error', (err: Error) => broken(s, err))
      ka.on('end', () => broken(s, new Error('the keep-alive stream ended')))
      return ka
    })
    s.catch((err: Error) => broken(s, err))
    return s
  }
  return {
    async keepAlive() {
      if (closed) throw new Error('lease keeper closed')
      const s = (stream ??= open())
      const ka = await s
      if (stream !== s) throw new Error('the keep-alive stream broke')
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          broken(s, new Error(`no keep-alive answer within ${timeoutMs} ms`))
          ka.cancel()
        }, timeoutMs)
        const settle = <T>(f: (v: T) => void) => (v: T) => (clearTimeout(timer), f(v))
        waiting.push({ resolve: settle(resolve), reject: settle(reject) })
        ka.write({ ID: id })
      })
    },
    revoke: async () => void (await client.leaseClient.leaseRevoke({ ID: id })),
    close() {
      closed = true
      const s = stream
      stream = undefined
      void s?.then((ka) => ka.end(), () => {})
      for (const w of waiting.splice(0)) w.reject(new Error('lease keeper closed'))
    },
  }
}

/** The lease calls of a Transport, through etcd3's LeaseClient. */
function etcd3Leases(client: Etcd3, timeoutMs: number): Pick<Transport, 'leaseGrant' | 'leaseRevoke' | 'leaseTimeToLive' | 'keepLease'> {
  return {
    leaseGrant: async (ttlSec) => (await client.leaseClient.leaseGrant({ TTL: ttlSec })).ID,
    leaseRevoke: async (id) => void (await client.leaseClient.leaseRevoke({ ID: id })),
    leaseTimeToLive: async (id) => {
      const res = await client.leaseClient.leaseTimeToLive({ ID: id })
      return { ttlSec: Number(res.TTL), grantedSec: Number(res.grantedTTL) }
    },
    keepLease: (id, ttlSec, granted) => keepLease(etcd3Renewer(client, id, timeoutMs), id, ttlSec, granted),
  }
}

/** etcd3's watcher behind the Transport's Watcher: created asynchronously, its events and its cancel passed on. */
function watchThrough(client: Etcd3, req: WatchRequest, h: WatchHandlers): Watcher {
  let closed = false
  let w: Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>> | undefined
  const fail = (err: Error) => {
    if (closed) return
    closed = true
    void w?.cancel().catch(() => {})
    h.error(err)
  }
  const builder = client.watch()
  if (req.range_end !== undefined) builder.inRange({ start: req.key, end: req.range_end })
  else builder.key(req.key)
  if (req.start_revision !== undefined) builder.startRevision(String(req.start_revision))
  if (req.prev_kv) builder.withPreviousKV()
  builder.create().then(
    (created) => {
      w = created
      if (closed) return void created.cancel().catch(() => {})
      created.on('put', (kv, prev) => !closed && h.event?.({ type: 'Put', kv, ...(prev ? { prev_kv: prev } : {}) }))
      created.on('delete', (kv, prev) => !closed && h.event?.({ type: 'Delete', kv, ...(prev ? { prev_kv: prev } : {}) }))
      // A cancel response carries no gRPC status, only its reason: "mvcc: required revision has been compacted".
      created.on('error', (err: Error) => fail(/compacted/.test(err.message) ? new WatchCompactedError('0', err.message) : err))
    },
    (err: Error) => fail(err),
  )
  const watcher: Watcher = {
    get closed() {
      return closed
    },
    cancel() {
      if (closed) return
      closed = true
      void w?.cancel().catch(() => {})
    },
    unref: () => watcher,
    ref: () => watcher,
  }
  return watcher
}

/** `timeoutMs`: the deadline of each lease keep-alive (etcd3's unary calls have the client's own). */
export function etcd3Transport(client: Etcd3, timeoutMs: number): Transport {
  return {
    kind: 'etcd3',
    txn: (req) => client.kv.txn(req),
    range: (req) => client.kv.range(req),
    rangePage: async (req: IRangeRequest) => {
      const res = await client.kv.range(req)
      return { revision: res.header.revision, more: res.more, kvs: res.kvs }
    },
    watch: (req, h) => watchThrough(client, req, h),
    ...etcd3Leases(client, timeoutMs),
    close: () => {}, // the client is the store's; it closes it
  }
}
