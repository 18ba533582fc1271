/**
 * A lean etcd watch: one bidirectional-streaming gRPC call `/etcdserverpb.Watch/Watch` per watcher
 * (grpc/stream-call.ts) on the same hand-written HTTP/2 connection per endpoint as the `KvClient`'s
 * unary calls (grpc/session.ts), with hand-written protobuf (grpc/watch-codec.ts). etcd3's grpc-js
 * watch costs a leader ~10% of its CPU decoding its own writes coming back, and node:http2's
 * per-stream objects and header handling were among the largest costs per agreed call left; on one
 * shared connection a Txn's response and the echo of the same write often come in one socket read.
 *
 * Unlike etcd3's watcher, this one never resumes by itself: when the stream ends, the connection
 * dies, the server cancels the watch (compaction: `WatchCompactedError`) or the member loses its
 * leader (the stream is opened with `hasleader`, so etcd ends it with "no leader"), `error` is
 * called once and nothing more is delivered. The caller re-reads what it missed and watches again
 * (see `EtcdStore.follow`). Events keep etcd3's shapes (IKeyValue: bytes as Buffer, int64 as
 * strings). A GOAWAY lets the stream go on until the connection closes.
 *
 * While a watch is quiet and its connection read nothing for `keepaliveMs`, the connection is
 * pinged: a member that stopped answering (frozen, half-open connection) is dropped, which ends
 * the watch with an error.
 *
 * Connections never keep the process alive. An open watch does, like etcd3's watch stream and like
 * Node's own handles, until it ends or `unref()`: a replica waiting on its log for another
 * replica's decision must not exit under its caller.
 */
import { FrameReader, MAX_MESSAGE_BYTES } from './grpc/frames.js'
import type { SessionUse } from './grpc/session.js'
import type { StreamCall } from './grpc/stream-call.js'
import { grpcError, retryAs, unavailable } from './grpc/status.js'
import { decodeWatchResponse, encodeWatchCreate } from './grpc/watch-codec.js'
import type { KvClient } from './kv-client.js'
import { WatchCompactedError, type Watcher, type WatchHandlers, type WatchOptions, type WatchRequest } from './transport.js'

export { FrameReader }
export { WatchCompactedError } from './transport.js'
export type { Watcher as LeanWatcher, WatchEvent, WatchHandlers, WatchOptions, WatchRequest, WatchResponse } from './transport.js'

const PATH = '/etcdserverpb.Watch/Watch'
/** etcd ends a watch stream opened with `hasleader` when its member has no leader (no quorum). */
const HAS_LEADER = { hasleader: 'true' }

/** Watch a key or range through `kv`'s connections; see the module comment. */
export function watch(kv: KvClient, req: WatchRequest, h: WatchHandlers, opts: WatchOptions = {}): Watcher {
  return new Watch(kv, req, h, opts)
}

/** A watch's stream, once open, on one endpoint's connection. */
interface Opened extends SessionUse {
  call: StreamCall
}

class Watch implements Watcher {
  closed = false
  private opened: Opened | undefined
  /** The keepalive tick; also what keeps the process alive while the watch is open and ref'd. */
  private readonly timer: NodeJS.Timeout
  /** The connection's reads at the last keepalive tick. */
  private reads = -1
  private readonly onClosed = (err: Error) => this.fail(err)

  constructor(
    private readonly kv: KvClient,
    req: WatchRequest,
    private readonly h: WatchHandlers,
    private readonly opts: WatchOptions,
  ) {
    const create = encodeWatchCreate(req)
    const every = opts.keepaliveMs ?? 10_000
    this.timer = every > 0 ? setInterval(() => this.keepalive(), every) : setInterval(() => {}, 0x7fffffff)
    this.open(create).then(
      (opened) => {
        if (!this.closed) return void (this.opened = opened)
        this.kv.sessions.untrack(this.onClosed)
        opened.conn.cancel(opened.call)
      },
      (err: Error) => this.fail(err),
    )
  }

  cancel(): void {
    this.finish()
  }

  unref(): this {
    this.timer.unref()
    return this
  }

  ref(): this {
    if (!this.closed) this.timer.ref()
    return this
  }

  /**
   * Open the stream on the connections the calls use, with no deadline on the stream itself. A
   * connection that cannot be opened moves on to the next endpoint, within the call timeout. While
   * the stream is open, closing the client fails the watch with ClientClosedError.
   */
  private open(create: Uint8Array): Promise<Opened> {
    const sessions = this.kv.sessions
    const maxBytes = this.opts.maxResponseBytes ?? MAX_MESSAGE_BYTES
    return sessions.run(
      performance.now() + sessions.timeoutMs,
      (u) => {
        const where = `${u.endpoint.authority}${PATH}`
        const call = u.conn.stream(PATH, HAS_LEADER, create, maxBytes, {
          message: (msg) => this.message(msg),
          // Any end is a failure, also an OK status: we never asked for the end.
          end: (err) => this.ended(err ?? unavailable(`${where}: watch stream ended by the server`)),
        })
        sessions.track(this.onClosed)
        return { ...u, call }
      },
      () => true,
    )
  }

  /** Each tick: if the connection read nothing since the last one, it must answer a ping (or it is dropped, ending the watch). */
  private keepalive(): void {
    const o = this.opened
    if (!o || this.closed) return
    const reads = o.conn.reads
    if (reads !== this.reads) this.reads = reads
    else o.conn.ping(this.opts.pingTimeoutMs ?? 5000)
  }

  private message(buf: Buffer): void {
    if (this.closed) return
    let m
    try {
      m = decodeWatchResponse(buf)
    } catch (err) {
      return this.fail(grpcError(13, `watch response unreadable: ${(err as Error).message}`))
    }
    if (m.canceled) {
      const compact = m.compact_revision
      if (compact !== '0') {
        return this.fail(new WatchCompactedError(compact, `Watcher canceled: required revision compacted (compact revision ${compact})${m.cancel_reason ? `: ${m.cancel_reason}` : ''}`))
      }
      return this.fail(grpcError(undefined, `Watcher canceled: ${m.cancel_reason || 'by the server'}`))
    }
    const events = m.events
    const onEvent = this.h.event
    try {
      if (onEvent) for (let i = 0; i < events.length && !this.closed; i++) onEvent(events[i]!)
      if (!this.closed) this.h.response?.(m)
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /**
   * The stream ended: later calls and streams go to the next endpoint only if the endpoint failed
   * (connection lost, GOAWAY, the server's own end or retryable status, as for a unary call), not
   * for what this watch could not read (a response over its cap, a compressed one) or a handler's throw.
   */
  private ended(err: Error): void {
    this.fail(err, retryAs(err) !== undefined)
  }

  /** Over with an error; `endpointFailed`: later calls and streams go to the next endpoint. */
  private fail(err: Error, endpointFailed = false): void {
    if (this.closed) return
    if (endpointFailed) this.opened?.failover()
    this.finish()
    this.h.error(err)
  }

  private finish(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    const o = this.opened
    this.opened = undefined
    if (!o) return
    this.kv.sessions.untrack(this.onClosed)
    o.conn.cancel(o.call)
  }
}
