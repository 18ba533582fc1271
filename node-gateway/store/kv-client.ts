/**
 * A lean gRPC client for etcd's two hot unary calls, `etcdserverpb.KV/Txn` and `KV/Range`, over
 * `node:http2` with protobufjs messages. etcd3's grpc-js client costs ~300 µs of CPU per call; this
 * one does the same round trip with a fraction of that. Leases and locks stay on etcd3.
 *
 * Requests and responses keep etcd3's shapes (snake_case fields, string enums, int64 as strings,
 * bytes as Buffer) so callers can switch between the two. Failures are etcd3's error classes
 * (GRPCUnavailableError, GRPCDeadlineExceededError, EtcdError, ...), so `storeError` classifies
 * them the same way.
 *
 * Plaintext (http://) endpoints only. One persistent HTTP/2 session per endpoint, opened on first
 * use and again after it closes; calls stick to one endpoint and move to the next one on a
 * retryable failure (a connection that cannot be opened is skipped within the same call, since
 * nothing was sent). Sessions are unref'd: an idle client does not keep the process alive.
 * `openStream` lends a session to long-lived streams: the lean watch (`watch-client.ts`).
 */
import http2 from 'node:http2'
import protobuf from 'protobufjs'
import {
  ClientClosedError, EtcdError, GRPCAbortedError, GRPCAlreadyExistsError, GRPCCancelledError, GRPCDataLossError,
  GRPCDeadlineExceededError, GRPCFailedPreconditionError, GRPCGenericError, GRPCInternalError, GRPCInvalidArgumentError,
  GRPCNotFoundError, GRPCNotImplementedError, GRPCOutOfRangeError, GRPCResourceExhastedError, GRPCUnauthenticatedError,
  GRPCUnavailableError, GRPCUnknownError, EtcdPermissionDeniedError,
  type IRangeRequest, type IRangeResponse, type ITxnRequest, type ITxnResponse,
} from 'etcd3'
import { QUORUM_MESSAGES } from './etcd-errors.js'

/** Only the messages Txn and Range need; field numbers as in etcd's rpc.proto and kv.proto. */
const PROTO = `
syntax = "proto3";
package etcdserverpb;
message ResponseHeader { uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4; }
message KeyValue { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3; int64 version = 4; bytes value = 5; int64 lease = 6; }
message RangeRequest {
  enum SortOrder { None = 0; Ascend = 1; Descend = 2; }
  enum SortTarget { Key = 0; Version = 1; Create = 2; Mod = 3; Value = 4; }
  bytes key = 1; bytes range_end = 2; int64 limit = 3; int64 revision = 4;
  SortOrder sort_order = 5; SortTarget sort_target = 6; bool serializable = 7; bool keys_only = 8; bool count_only = 9;
  int64 min_mod_revision = 10; int64 max_mod_revision = 11; int64 min_create_revision = 12; int64 max_create_revision = 13;
}
message RangeResponse { ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; int64 count = 4; }
message PutRequest { bytes key = 1; bytes value = 2; int64 lease = 3; bool prev_kv = 4; bool ignore_value = 5; bool ignore_lease = 6; }
message PutResponse { ResponseHeader header = 1; KeyValue prev_kv = 2; }
message DeleteRangeRequest { bytes key = 1; bytes range_end = 2; bool prev_kv = 3; }
message DeleteRangeResponse { ResponseHeader header = 1; int64 deleted = 2; repeated KeyValue prev_kvs = 3; }
message RequestOp {
  oneof request { RangeRequest request_range = 1; PutRequest request_put = 2; DeleteRangeRequest request_delete_range = 3; TxnRequest request_txn = 4; }
}
message ResponseOp {
  oneof response { RangeResponse response_range = 1; PutResponse response_put = 2; DeleteRangeResponse response_delete_range = 3; TxnResponse response_txn = 4; }
}
message Compare {
  enum CompareResult { Equal = 0; Greater = 1; Less = 2; NotEqual = 3; }
  enum CompareTarget { Version = 0; Create = 1; Mod = 2; Value = 3; Lease = 4; }
  CompareResult result = 1; CompareTarget target = 2; bytes key = 3;
  oneof target_union { int64 version = 4; int64 create_revision = 5; int64 mod_revision = 6; bytes value = 7; int64 lease = 8; }
  bytes range_end = 64;
}
message TxnRequest { repeated Compare compare = 1; repeated RequestOp success = 2; repeated RequestOp failure = 3; }
message TxnResponse { ResponseHeader header = 1; bool succeeded = 2; repeated ResponseOp responses = 3; }
`

const root = protobuf.parse(PROTO, { keepCase: true }).root
const TxnRequest = root.lookupType('etcdserverpb.TxnRequest')
const TxnResponse = root.lookupType('etcdserverpb.TxnResponse')
const RangeRequest = root.lookupType('etcdserverpb.RangeRequest')
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse')
/** etcd3 (grpc proto-loader) decodes with these: int64 as strings, enums as names, defaults filled in. */
const AS_ETCD3: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true }

/** One page of a range read with only what the log's catch-up read needs: keys, values, the revision, `more`. */
export interface RangePage {
  revision: string
  more: boolean
  kvs: Array<{ key: Buffer; value: Buffer }>
}
const EMPTY: Buffer = Buffer.alloc(0)

/**
 * A RangeResponse read field by field into a RangePage: each KeyValue's key and value, the header's
 * revision and `more`; the int64 fields of every KeyValue are skipped, not converted (converting
 * them to strings was the largest cost of replaying a long log).
 */
export function decodeRangePage(buf: Uint8Array): RangePage {
  const r = protobuf.Reader.create(buf)
  const page: RangePage = { revision: '0', more: false, kvs: [] }
  while (r.pos < r.len) {
    const tag = r.uint32()
    const field = tag >>> 3
    if (field === 1 || field === 2) {
      const end = r.uint32() + r.pos
      let key = EMPTY
      let value = EMPTY
      while (r.pos < end) {
        const t = r.uint32()
        const f = t >>> 3
        if (field === 1 && f === 3) page.revision = r.int64().toString()
        else if (field === 2 && f === 1) key = r.bytes() as Buffer
        else if (field === 2 && f === 5) value = r.bytes() as Buffer
        else r.skipType(t & 7)
      }
      if (field === 2) page.kvs.push({ key, value })
    } else if (field === 3) page.more = r.bool()
    else r.skipType(tag & 7)
  }
  return page
}

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE, HTTP2_HEADER_STATUS, NGHTTP2_CANCEL } = http2.constants

export interface KvClientOptions {
  /** Plaintext endpoints, e.g. 'http://127.0.0.1:2379' (a bare host:port is taken as http://). */
  endpoints: string | string[]
  /** Deadline of each call in ms, connecting included (default 3000). */
  callTimeoutMs?: number
  /** Largest response message accepted (default 4 MiB, as grpc-js); a larger one is RESOURCE_EXHAUSTED. */
  maxResponseBytes?: number
}

/** A long-lived stream opened by `KvClient.openStream`. */
export interface OpenedStream {
  stream: http2.ClientHttp2Stream
  session: http2.ClientHttp2Session
  authority: string
  /** This endpoint failed: later calls and streams go to the next one. */
  failover(): void
  /** The stream is over: the client stops tracking it. */
  release(): void
}

export interface CallOptions {
  /** This call's deadline in ms (default: the client's callTimeoutMs). */
  timeoutMs?: number
}

/** True if every endpoint is plaintext (http:// or no scheme), i.e. usable by KvClient. */
export function allPlaintext(endpoints: string | string[]): boolean {
  const list = typeof endpoints === 'string' ? [endpoints] : endpoints
  return list.length > 0 && list.every((e) => /^http:\/\//i.test(e) || !e.includes('://'))
}

const STATUS_ERRORS: Record<number, new (message: string) => Error> = {
  1: GRPCCancelledError, 2: GRPCUnknownError, 3: GRPCInvalidArgumentError, 4: GRPCDeadlineExceededError,
  5: GRPCNotFoundError, 6: GRPCAlreadyExistsError, 7: EtcdPermissionDeniedError, 8: GRPCResourceExhastedError,
  9: GRPCFailedPreconditionError, 10: GRPCAbortedError, 11: GRPCOutOfRangeError, 12: GRPCNotImplementedError,
  13: GRPCInternalError, 14: GRPCUnavailableError, 15: GRPCDataLossError, 16: GRPCUnauthenticatedError,
}

/**
 * The error for a non-OK grpc-status. etcd reports "no leader", "request timed out", "leader
 * changed", "too many requests" (the last as RESOURCE_EXHAUSTED) with an "etcdserver:" message:
 * those become EtcdError so they read as no-quorum, not as unreachable or too large. When the
 * grpc-timeout we send runs out on the server first, etcd answers UNKNOWN "context deadline
 * exceeded" (or "context canceled"): that is our deadline, not an unknown failure.
 */
export function statusError(code: number, message: string): Error {
  if (message.includes('etcdserver:') && QUORUM_MESSAGES.test(message)) return new EtcdError(message)
  if (/context deadline exceeded/i.test(message)) return new GRPCDeadlineExceededError(message)
  if (/context canceled/i.test(message)) return new GRPCCancelledError(message)
  const Ctor = STATUS_ERRORS[code] ?? (message.includes('etcdserver:') ? EtcdError : GRPCGenericError)
  return new Ctor(message || `grpc-status ${code}`)
}

/** Thrown inside the client when a session cannot be opened: nothing was sent, so try the next endpoint. */
class ConnectFailed extends GRPCUnavailableError {}

function decodeMessage(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/** HTTP/2 flow-control windows: large, so a multi-MiB range page needs no WINDOW_UPDATE round trips. */
const WINDOW = 16 << 20

class Endpoint {
  readonly authority: string
  private session: http2.ClientHttp2Session | undefined
  private ready: Promise<http2.ClientHttp2Session> | undefined

  constructor(url: string, private readonly dialTimeoutMs: number) {
    this.authority = url.includes('://') ? url : `http://${url}`
  }

  /** The connected session, or undefined if it must be (re)opened with connect(). */
  current(): http2.ClientHttp2Session | undefined {
    const s = this.session
    return s && !s.connecting && !s.closed && !s.destroyed ? s : undefined
  }

  connect(): Promise<http2.ClientHttp2Session> {
    const s = this.current()
    if (s) return Promise.resolve(s)
    if (this.ready) return this.ready
    const session = http2.connect(this.authority, { settings: { enablePush: false, initialWindowSize: WINDOW } })
    session.unref()
    this.session = session
    const forget = () => {
      if (this.session === session) {
        this.session = undefined
        this.ready = undefined
      }
    }
    // Later errors surface on the streams; keep the session from throwing an unhandled 'error'.
    session.on('error', forget)
    session.on('close', forget)
    session.on('goaway', forget)
    const ready = new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer)
        forget()
        session.destroy()
        reject(new ConnectFailed(`connect to ${this.authority} failed: ${why}`))
      }
      const timer = setTimeout(() => fail(`no connection within ${this.dialTimeoutMs} ms`), this.dialTimeoutMs)
      timer.unref()
      session.once('connect', () => {
        clearTimeout(timer)
        session.removeListener('error', onError)
        session.removeListener('close', onClose)
        try {
          session.setLocalWindowSize(WINDOW)
        } catch {
          /* only a throughput hint */
        }
        if (this.ready === ready) this.ready = undefined
        resolve(session)
      })
      const onError = (err: Error) => fail(err.message)
      const onClose = () => fail('closed while connecting')
      session.once('error', onError)
      session.once('close', onClose)
    })
    this.ready = ready
    // A rejected connect nobody awaits any more (its caller timed out) must not be unhandled.
    ready.catch(() => {})
    return ready
  }

  /** After a deadline: if the session does not answer a ping promptly, it is dead (e.g. half-open); drop it. */
  probe(session: http2.ClientHttp2Session): void {
    if (session.closed || session.destroyed) return
    const timer = setTimeout(() => session.destroy(), 1000)
    timer.unref()
    try {
      session.ping((err) => {
        clearTimeout(timer)
        if (err) session.destroy()
      })
    } catch {
      clearTimeout(timer)
      session.destroy()
    }
  }

  close(): void {
    const s = this.session
    this.session = undefined
    this.ready = undefined
    s?.destroy()
  }
}

export class KvClient {
  private readonly endpoints: Endpoint[]
  private readonly timeoutMs: number
  private readonly maxResponseBytes: number
  /** Index of the endpoint calls go to; advanced on a retryable failure. */
  private cur = 0
  private closed = false
  private readonly pending = new Set<(err: Error) => void>()

  constructor(opts: KvClientOptions) {
    const list = typeof opts.endpoints === 'string' ? [opts.endpoints] : [...opts.endpoints]
    if (list.length === 0) throw new Error('KvClient needs at least one endpoint')
    if (!allPlaintext(list)) throw new Error(`KvClient speaks plaintext only (http://): ${list.join(', ')}`)
    this.timeoutMs = opts.callTimeoutMs ?? 3000
    this.maxResponseBytes = opts.maxResponseBytes ?? 4 << 20
    if (!(this.timeoutMs > 0)) throw new RangeError(`callTimeoutMs must be a positive number of ms, not ${this.timeoutMs}`)
    this.endpoints = list.map((u) => new Endpoint(u, Math.min(this.timeoutMs, 0x7fffffff)))
  }

  async txn(req: ITxnRequest, opts?: CallOptions): Promise<ITxnResponse> {
    const body = TxnRequest.encode(TxnRequest.fromObject(req)).finish()
    const res = await this.call('/etcdserverpb.KV/Txn', body, opts?.timeoutMs)
    return TxnResponse.toObject(TxnResponse.decode(res), AS_ETCD3) as ITxnResponse
  }

  async range(req: IRangeRequest, opts?: CallOptions): Promise<IRangeResponse> {
    const body = RangeRequest.encode(RangeRequest.fromObject(req)).finish()
    const res = await this.call('/etcdserverpb.KV/Range', body, opts?.timeoutMs)
    return RangeResponse.toObject(RangeResponse.decode(res), AS_ETCD3) as IRangeResponse
  }

  /** Range, decoded to keys and values only (see `decodeRangePage`). */
  async rangePage(req: IRangeRequest, opts?: CallOptions): Promise<RangePage> {
    const body = RangeRequest.encode(RangeRequest.fromObject(req)).finish()
    return decodeRangePage(await this.call('/etcdserverpb.KV/Range', body, opts?.timeoutMs))
  }

  /**
   * Open a long-lived gRPC stream (the watch client's) on the session the calls use, with no
   * deadline. A connection that cannot be opened moves on to the next endpoint, within the call
   * timeout. While the stream is open (until `release()`), closing the client calls `onClosed`
   * with ClientClosedError. `failover()` moves later calls and streams off this endpoint.
   */
  async openStream(path: string, headers: http2.OutgoingHttpHeaders, onClosed: (err: Error) => void): Promise<OpenedStream> {
    if (this.closed) throw new ClientClosedError('KV')
    const deadline = Date.now() + this.timeoutMs
    const n = this.endpoints.length
    let lastConnectError: Error | undefined
    for (let attempt = 0; attempt < n; attempt++) {
      const idx = this.cur
      const ep = this.endpoints[idx]!
      const failover = () => {
        if (this.cur === idx) this.cur = (idx + 1) % n
      }
      try {
        const session = ep.current() ?? (await this.withDeadline(ep.connect(), deadline, ep))
        if (this.closed) throw new ClientClosedError('KV')
        let stream: http2.ClientHttp2Stream
        try {
          stream = session.request({
            ...headers,
            [HTTP2_HEADER_METHOD]: 'POST',
            [HTTP2_HEADER_PATH]: path,
            [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
            [HTTP2_HEADER_TE]: 'trailers',
          })
        } catch (err) {
          session.destroy()
          throw new ConnectFailed(`${ep.authority}: ${(err as Error).message}`)
        }
        this.pending.add(onClosed)
        return { stream, session, authority: ep.authority, failover, release: () => void this.pending.delete(onClosed) }
      } catch (err) {
        if (this.closed) throw new ClientClosedError('KV')
        failover()
        if (!(err instanceof ConnectFailed) || Date.now() >= deadline) throw err
        lastConnectError = err
      }
    }
    throw lastConnectError!
  }

  /** Close every session; calls in flight fail with ClientClosedError. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const reject of [...this.pending]) reject(new ClientClosedError('KV'))
    this.pending.clear()
    for (const ep of this.endpoints) ep.close()
  }

  /** One unary call: the response message bytes, or an etcd3-class error. */
  private async call(path: string, message: Uint8Array, timeoutMs = this.timeoutMs): Promise<Uint8Array> {
    if (this.closed) throw new ClientClosedError('KV')
    if (!(timeoutMs > 0)) throw new RangeError(`call timeout must be a positive number of ms, not ${timeoutMs}`)
    const deadline = Date.now() + timeoutMs
    const frame = Buffer.allocUnsafe(5 + message.length)
    frame[0] = 0
    frame.writeUInt32BE(message.length, 1)
    frame.set(message, 5)
    const n = this.endpoints.length
    let lastConnectError: Error | undefined
    for (let attempt = 0; attempt < n; attempt++) {
      const idx = this.cur
      const ep = this.endpoints[idx]!
      let session = ep.current()
      try {
        if (!session) session = await this.withDeadline(ep.connect(), deadline, ep)
        return await this.exchange(session, ep, path, frame, deadline)
      } catch (err) {
        if (this.closed) throw new ClientClosedError('KV')
        // The next call (or, if nothing was sent, the next attempt) goes to the next endpoint.
        if (isRetryable(err) && this.cur === idx) this.cur = (idx + 1) % n
        if (!(err instanceof ConnectFailed) || Date.now() >= deadline) throw err
        lastConnectError = err
      }
    }
    throw lastConnectError!
  }

  private withDeadline<T>(p: Promise<T>, deadline: number, ep: Endpoint): Promise<T> {
    const left = Math.min(deadline - Date.now(), 0x7fffffff)
    if (left <= 0) return Promise.reject(new ConnectFailed(`connect to ${ep.authority}: deadline exceeded`))
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ConnectFailed(`connect to ${ep.authority}: no connection within the call deadline`)), left)
      p.then(
        (v) => (clearTimeout(timer), resolve(v)),
        (e) => (clearTimeout(timer), reject(e)),
      )
    })
  }

  private exchange(session: http2.ClientHttp2Session, ep: Endpoint, path: string, frame: Buffer, deadline: number): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      // setTimeout's range; grpc-timeout takes at most 8 digits.
      const left = Math.min(Math.max(1, Math.ceil(deadline - Date.now())), 0x7fffffff)
      const headers: http2.OutgoingHttpHeaders = {
        [HTTP2_HEADER_METHOD]: 'POST',
        [HTTP2_HEADER_PATH]: path,
        [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        [HTTP2_HEADER_TE]: 'trailers',
      }
      if (left < 1e8) headers['grpc-timeout'] = `${left}m`
      let stream: http2.ClientHttp2Stream
      try {
        stream = session.request(headers)
      } catch (err) {
        // The session went away (GOAWAY, closed) between our check and the request: nothing was sent.
        session.destroy()
        return reject(new ConnectFailed(`${ep.authority}: ${(err as Error).message}`))
      }
      const chunks: Buffer[] = []
      let received = 0
      let expected = -1
      let httpStatus: number | undefined
      let grpcStatus: number | undefined
      let grpcMessage = ''
      let done = false
      const finish = (err: Error | undefined, value?: Uint8Array) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.pending.delete(abort)
        if (err) {
          if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL)
          reject(err)
        } else resolve(value!)
      }
      const abort = (err: Error) => finish(err)
      this.pending.add(abort)
      const timer = setTimeout(() => {
        finish(new GRPCDeadlineExceededError(`Deadline exceeded after ${Math.round(left)} ms (${ep.authority}${path})`))
        ep.probe(session)
      }, left)
      const status = (headers: http2.IncomingHttpHeaders) => {
        const s = headers['grpc-status']
        if (s !== undefined) {
          grpcStatus = Number(s)
          const m = headers['grpc-message']
          if (m !== undefined) grpcMessage = decodeMessage(String(m))
        }
      }
      stream.on('response', (headers) => {
        httpStatus = Number(headers[HTTP2_HEADER_STATUS])
        status(headers) // a Trailers-Only response carries the status here
      })
      stream.on('trailers', status)
      stream.on('data', (chunk: Buffer) => {
        if (done) return
        chunks.push(chunk)
        received += chunk.length
        if (expected < 0 && received >= 5) {
          const head = chunks.length === 1 ? chunk : Buffer.concat(chunks)
          if (head[0] !== 0) return finish(new GRPCInternalError(`compressed response from ${ep.authority}${path} (not requested)`))
          expected = head.readUInt32BE(1)
          if (expected > this.maxResponseBytes) {
            return finish(new GRPCResourceExhastedError(`Received message larger than max (${expected} vs ${this.maxResponseBytes})`))
          }
        }
      })
      const end = () => {
        if (done) return
        if (grpcStatus === undefined) {
          const why = httpStatus !== undefined && httpStatus !== 200 ? `HTTP status ${httpStatus}` : `stream closed without a status (code ${stream.rstCode ?? '?'})`
          return finish(new GRPCUnavailableError(`${ep.authority}${path}: ${why}`))
        }
        if (grpcStatus !== 0) return finish(statusError(grpcStatus, grpcMessage))
        if (expected < 0 || received < 5 + expected) {
          return finish(new GRPCInternalError(`${ep.authority}${path}: truncated response (${received} bytes)`))
        }
        const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)
        finish(undefined, all.subarray(5, 5 + expected))
      }
      stream.on('end', () => {
        if (grpcStatus !== undefined) end()
      })
      stream.on('close', end)
      stream.on('error', (err: Error) => {
        // Reset by the server, or the connection dropped mid-call.
        if (!done && grpcStatus === undefined) finish(new GRPCUnavailableError(`${ep.authority}${path}: ${err.message}`))
      })
      stream.end(frame)
    })
  }
}

function isRetryable(err: unknown): boolean {
  return (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    err instanceof GRPCCancelledError ||
    (err instanceof EtcdError && QUORUM_MESSAGES.test(err.message))
  )
}
