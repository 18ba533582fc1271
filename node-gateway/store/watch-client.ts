/**
 * A lean etcd watch over `node:http2`: one bidirectional-streaming gRPC call
 * `/etcdserverpb.Watch/Watch` per watcher, on the `KvClient`'s sessions (grpc/session.ts), with
 * hand-written protobuf (grpc/watch-codec.ts). etcd3's grpc-js watch costs a leader ~10% of its CPU
 * decoding its own writes coming back; this decodes a response with a fraction of that.
 *
 * Unlike etcd3's watcher, this one never resumes by itself: when the stream ends, the session dies,
 * the server cancels the watch (compaction: `WatchCompactedError`) or the member loses its leader
 * (the stream is opened with `hasleader`, so etcd ends it with "no leader"), `error` is called once
 * and nothing more is delivered. The caller re-reads what it missed and watches again (see
 * `EtcdStore.follow`). Events keep etcd3's shapes (IKeyValue: bytes as Buffer, int64 as strings).
 *
 * While a watch is quiet, its session is pinged every `keepaliveMs`: a member that stopped
 * answering (frozen, half-open connection) is dropped, which ends the watch with an error.
 *
 * Sessions never keep the process alive. An open watch does, like etcd3's watch stream and like
 * Node's own handles, until it ends or `unref()`: a replica waiting on its log for another
 * replica's decision must not exit under its caller.
 */
import http2 from 'node:http2'
import { encodeFrame, FrameReader, MAX_MESSAGE_BYTES, requestHeaders, ResponseStatus } from './grpc/frames.js'
import { keepalive, type SessionUse } from './grpc/session.js'
import { ConnectFailed, grpcError, statusError, unavailable } from './grpc/status.js'
import { decodeWatchResponse, encodeWatchCreate } from './grpc/watch-codec.js'
import type { KvClient } from './kv-client.js'
import { WatchCompactedError, type Watcher, type WatchEvent, type WatchHandlers, type WatchOptions, type WatchRequest, type WatchResponse } from './transport.js'

export { FrameReader } from './grpc/frames.js'
export { WatchCompactedError } from './transport.js'
export type { Watcher as LeanWatcher, WatchEvent, WatchHandlers, WatchOptions, WatchRequest, WatchResponse } from './transport.js'

const { NGHTTP2_CANCEL } = http2.constants
const PATH = '/etcdserverpb.Watch/Watch'

/** Watch a key or range through `kv`'s sessions; see the module comment. */
export function watch(kv: KvClient, req: WatchRequest, h: WatchHandlers, opts: WatchOptions = {}): Watcher {
  return new Watch(kv, req, h, opts)
}

/** A watch's stream, once open, on one endpoint's session. */
interface Opened extends SessionUse {
  stream: http2.ClientHttp2Stream
}

class Watch implements Watcher {
  closed = false
  private opened: Opened | undefined
  /** The keepalive tick; also what keeps the process alive while the watch is open and ref'd. */
  private readonly timer: NodeJS.Timeout
  private lastData = Date.now()
  private readonly onClosed = (err: Error) => this.fail(err)

  constructor(
    private readonly kv: KvClient,
    req: WatchRequest,
    private readonly h: WatchHandlers,
    private readonly opts: WatchOptions,
  ) {
    const frame = encodeFrame(encodeWatchCreate(req))
    const every = opts.keepaliveMs ?? 10_000
    this.timer = every > 0 ? setInterval(() => this.keepalive(every), every) : setInterval(() => {}, 0x7fffffff)
    this.open().then(
      (opened) => {
        if (this.closed) {
          this.kv.sessions.untrack(this.onClosed)
          opened.stream.close(NGHTTP2_CANCEL)
          return
        }
        this.opened = opened
        this.attach(opened, frame)
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
   * Open the stream on the sessions the calls use, with no deadline on the stream itself. A session
   * that cannot be opened moves on to the next endpoint, within the call timeout. While the stream
   * is open, closing the client fails the watch with ClientClosedError.
   */
  private open(): Promise<Opened> {
    const sessions = this.kv.sessions
    return sessions.run(
      Date.now() + sessions.timeoutMs,
      async (u) => {
        let stream: http2.ClientHttp2Stream
        try {
          // etcd ends a watch stream opened with `hasleader` when its member has no leader (no quorum).
          stream = u.session.request(requestHeaders(PATH, { hasleader: 'true' }))
        } catch (err) {
          u.session.destroy()
          throw new ConnectFailed(`${u.endpoint.authority}: ${(err as Error).message}`)
        }
        sessions.track(this.onClosed)
        return { ...u, stream }
      },
      () => true,
    )
  }

  private attach(o: Opened, frame: Buffer): void {
    const { stream } = o
    const where = `${o.endpoint.authority}${PATH}`
    const reader = new FrameReader(this.opts.maxResponseBytes ?? MAX_MESSAGE_BYTES, (msg) => this.message(msg))
    const status = new ResponseStatus()
    // Any status ends the watch: it is a failure even when OK, as we never asked for the end.
    const ended = () => {
      if (this.closed) return
      if (status.code !== undefined && status.code !== 0) return this.fail(statusError(status.code, status.message), true)
      const why = status.code === 0 ? 'ended by the server' : status.noStatus(stream)
      this.fail(unavailable(`${where}: watch stream ${why}`), true)
    }
    stream.on('response', (headers) => {
      status.onHeaders(headers)
      if (status.code !== undefined) ended() // Trailers-Only
    })
    stream.on('trailers', (headers) => {
      status.onTrailers(headers)
      ended()
    })
    stream.on('data', (chunk: Buffer) => {
      if (this.closed) return
      this.lastData = Date.now()
      try {
        reader.push(chunk)
      } catch (err) {
        this.fail(err as Error)
      }
    })
    // Trailers come before the end; a stream that ends or is reset without them is seen at 'close'.
    stream.on('close', ended)
    stream.on('error', (err: Error) => {
      if (!this.closed) this.fail(unavailable(`${where}: ${err.message}`), true)
    })
    stream.write(frame)
  }

  /** No data for a while: the session must answer a ping (one for all its watches), or it is dropped, ending them. */
  private keepalive(every: number): void {
    const o = this.opened
    if (!o || this.closed || Date.now() - this.lastData < every) return
    const ok = keepalive(o.session, every, this.opts.pingTimeoutMs ?? 5000)
    if (ok !== undefined) this.lastData = ok
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
    if (!o.stream.closed && !o.stream.destroyed) o.stream.close(NGHTTP2_CANCEL)
  }
}
