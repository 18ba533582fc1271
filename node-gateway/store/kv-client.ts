/**
 * A lean gRPC client for etcd's two hot unary calls, `etcdserverpb.KV/Txn` and `KV/Range` (and the
 * lease calls, lean-leases.ts), over a hand-written HTTP/2 connection per endpoint (grpc/h2-connection.ts, failover in grpc/session.ts)
 * with hand-written protobuf (grpc/txn-codec.ts). etcd3's grpc-js client costs ~300 µs of CPU per
 * call; this one does the same round trip with a fraction of that.
 *
 * Requests and responses keep etcd3's shapes (snake_case fields, string enums, int64 as strings,
 * bytes as Buffer) so the two transports answer alike. Failures are grpc/status.ts's errors (by
 * gRPC code, read by the same table as etcd3's). Plaintext (http://) endpoints only. After a call's deadline,
 * its connection must answer a ping promptly or it is dropped (e.g. a half-open connection).
 */
import type { IRangeRequest, IRangeResponse, ITxnRequest, ITxnResponse } from 'etcd3'
import { MAX_MESSAGE_BYTES } from './grpc/frames.js'
import type { H2Connection } from './grpc/h2-connection.js'
import { decodeRangePage, type RangePage } from './grpc/range-page.js'
import { decodeRangeResponse, decodeTxnResponse, encodeRangeRequest, encodeTxnRequest } from './grpc/txn-codec.js'
import { Sessions } from './grpc/session.js'

export { allPlaintext } from './grpc/session.js'
export type { RangePage } from './grpc/range-page.js'

export interface KvClientOptions {
  /** Plaintext endpoints, e.g. 'http://127.0.0.1:2379' (a bare host:port is taken as http://). */
  endpoints: string | string[]
  /** Deadline of each call in ms, connecting included (default 3000). */
  callTimeoutMs?: number
  /** Largest response message accepted (default 4 MiB, as grpc-js); a larger one is RESOURCE_EXHAUSTED. */
  maxResponseBytes?: number
}

export interface CallOptions {
  /** This call's deadline in ms (default: the client's callTimeoutMs). */
  timeoutMs?: number
}

export class KvClient {
  /** The connections per endpoint, shared with the lean watches (watch-client.ts). */
  readonly sessions: Sessions
  private readonly maxResponseBytes: number

  constructor(opts: KvClientOptions) {
    this.sessions = new Sessions(opts.endpoints, opts.callTimeoutMs ?? 3000)
    this.maxResponseBytes = opts.maxResponseBytes ?? MAX_MESSAGE_BYTES
  }

  async txn(req: ITxnRequest, opts?: CallOptions): Promise<ITxnResponse> {
    return decodeTxnResponse(await this.txnBytes(encodeTxnRequest(req), opts))
  }

  /** A Txn already encoded (a TxnRequest's bytes): the TxnResponse's bytes (the proposal's own encoding, grpc/propose-txn.ts). */
  txnBytes(request: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return this.call('/etcdserverpb.KV/Txn', request, opts?.timeoutMs)
  }

  async range(req: IRangeRequest, opts?: CallOptions): Promise<IRangeResponse> {
    return decodeRangeResponse(await this.call('/etcdserverpb.KV/Range', encodeRangeRequest(req), opts?.timeoutMs))
  }

  /** Range, decoded to keys and values only (see `decodeRangePage`). */
  async rangePage(req: IRangeRequest, opts?: CallOptions): Promise<RangePage> {
    return decodeRangePage(await this.call('/etcdserverpb.KV/Range', encodeRangeRequest(req), opts?.timeoutMs))
  }

  /** Any other unary call (the lease calls, lean-leases.ts): one message's bytes in, the response's out. */
  unary(path: string, message: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return this.call(path, message, opts?.timeoutMs)
  }

  /** Close every session; calls in flight fail with ClientClosedError. */
  close(): void {
    this.sessions.close()
  }

  /** One unary call: the response message bytes, or an error made by grpc/status.ts. */
  private call(path: string, message: Uint8Array, timeoutMs = this.sessions.timeoutMs): Promise<Uint8Array> {
    if (!(timeoutMs > 0)) return Promise.reject(new RangeError(`call timeout must be a positive number of ms, not ${timeoutMs}`))
    // setTimeout's range.
    const ms = Math.min(Math.ceil(timeoutMs), 0x7fffffff)
    const deadline = performance.now() + ms
    return this.sessions.unary(deadline, (conn) => this.exchange(conn, path, message, deadline))
  }

  /** The call on one endpoint's connection, with what is left of its deadline. */
  private exchange(conn: H2Connection, path: string, message: Uint8Array, deadline: number): Promise<Uint8Array> {
    const left = Math.min(Math.max(1, Math.ceil(deadline - performance.now())), 0x7fffffff)
    return conn.unary(path, message, deadline, left, this.maxResponseBytes)
  }
}
