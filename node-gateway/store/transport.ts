/**
 * The one internal transport EtcdStore talks to etcd through: the unary calls (Txn, Range, a
 * range decoded to keys and values only), watches, and leases. Two implementations, chosen once
 * by `createTransport` (transport-choice.ts): the lean client (`lean-transport.ts`, the
 * hot path, plaintext endpoints) and etcd3's grpc-js client (`etcd3-transport.ts`, which also
 * serves https endpoints). Both answer in etcd3's shapes (snake_case fields, int64 as strings,
 * bytes as Buffer); their errors (the lean one's own, etcd3's) are read by one table (grpc/status.ts).
 */
import type { IKeyValue, IRangeRequest, IRangeResponse, ITxnRequest, ITxnResponse } from 'etcd3'
import type { RangePage } from './grpc/range-page.js'
import type { KeptLease } from './lease-keeper.js'

export type { RangePage } from './grpc/range-page.js'

export interface Transport {
  /** Which implementation this is (for diagnostics and benchmarks; nothing branches on it). */
  readonly kind: 'http2' | 'etcd3'
  txn(req: ITxnRequest): Promise<ITxnResponse>
  /**
   * Optional: a Txn already encoded (a TxnRequest's bytes), answered with the TxnResponse's bytes
   * (the proposal's fast path, grpc/propose-txn.ts). Failures as txn's.
   */
  txnBytes?(request: Uint8Array): Promise<Uint8Array>
  range(req: IRangeRequest): Promise<IRangeResponse>
  /** A range read with keys, values, the revision and `more` only (the log's catch-up reads). */
  rangePage(req: IRangeRequest): Promise<RangePage>
  /**
   * Watch a key or range from a revision. Never resumes by itself as far as the caller can tell:
   * `h.error` is called once when the watch is over for any reason other than `cancel()`
   * (`WatchCompactedError` if its start revision was compacted away); the caller re-reads and
   * watches again.
   */
  watch(req: WatchRequest, h: WatchHandlers): Watcher
  /** Grant a lease of `ttlSec` seconds; its id. */
  leaseGrant(ttlSec: number): Promise<string>
  /** Revoke a lease (deleting the keys attached to it). */
  leaseRevoke(id: string): Promise<void>
  /** Whole seconds left of a lease (-1: gone) and the TTL it was granted with. */
  leaseTimeToLive(id: string): Promise<{ ttlSec: number; grantedSec: number }>
  /** Keep a lease alive by its id, whoever granted it (lease-keeper.ts; `granted`: just granted by the caller, ready without a keep-alive). */
  keepLease(id: string, ttlSec: number, granted?: boolean): KeptLease
  /** Close the connections; calls in flight fail (ClientClosedError). */
  close(): void
}

export interface WatchRequest {
  /** The key watched, or the start of the range. */
  key: Buffer | string
  /** End of the range (exclusive), e.g. `prefixEnd(prefix)`; absent: the key only. */
  range_end?: Buffer | string
  /** First revision delivered (inclusive); absent: from now. */
  start_revision?: string | number | bigint
  /** Ask etcd for periodic empty responses while nothing changes. */
  progress_notify?: boolean
  /** Deliver each event's previous key-value too. */
  prev_kv?: boolean
}

export interface WatchEvent {
  type: 'Put' | 'Delete'
  kv: IKeyValue
  prev_kv?: IKeyValue
}

export interface WatchResponse {
  header: { cluster_id: string; member_id: string; revision: string; raft_term: string }
  watch_id: string
  created: boolean
  canceled: boolean
  compact_revision: string
  cancel_reason: string
  fragment: boolean
  events: WatchEvent[]
}

export interface WatchHandlers {
  /** Each event, in revision order, as its response arrives. */
  event?(ev: WatchEvent): void
  /** Each response (creation, events, progress notifications), after its events went to `event`. */
  response?(res: WatchResponse): void
  /**
   * The watch is over for a reason other than `cancel()`: the stream ended or failed, the session
   * died, etcd canceled it (`WatchCompactedError` if its start revision was compacted away), or a
   * handler threw. Called at most once; nothing is delivered after it.
   */
  error(err: Error): void
}

export interface WatchOptions {
  /** Ping the session after this long without data from it, in ms (default 10000; 0: never). */
  keepaliveMs?: number
  /** How long a ping may take before the session is dropped, in ms (default 5000). */
  pingTimeoutMs?: number
  /** Largest response message accepted (default 4 MiB, as grpc-js). */
  maxResponseBytes?: number
}

export interface Watcher {
  /** End the watch (the stream is reset; etcd drops the watcher). No handler is called after it. */
  cancel(): void
  /** Let the process exit while this watch is open (as Node's `unref()`); `ref()` undoes it. */
  unref(): this
  ref(): this
  /** True once the watch is over (canceled or failed). */
  readonly closed: boolean
}

/** The watch's start revision was compacted away: re-read the range, then watch from a newer revision. */
export class WatchCompactedError extends Error {
  constructor(readonly compactRevision: string, message: string) {
    super(message)
    this.name = 'WatchCompactedError'
  }
}
