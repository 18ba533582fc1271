/**
 * One streaming gRPC call on the lean HTTP/2 connection (h2-connection.ts; what every stream keeps
 * is in h2-stream.ts), for etcd's Watch: the request headers (no grpc-timeout: a stream has no
 * deadline, the connection's pings find a dead peer), messages sent as DATA frames that never end
 * our side, each received message handed to `onMessage` as it is whole (split across DATA frames or
 * many in one), and one `onEnd`: the status in the trailers (a Trailers-Only response, an OK with
 * no error), a reset, a connection lost or closed. `H2Connection.cancel` resets it (CANCEL) and
 * calls nothing more. Handlers are isolated from the shared connection: a throw from `message` ends
 * this stream with that error (reset with CANCEL); a throw from `end` (or from `message` once the
 * stream is over) is re-thrown asynchronously, never into the connection's reading or closing.
 *
 * Hand-written with the connection for the watch's sake: on node:http2 a replica's own write came
 * back through its watch via Http2Stream objects, header objects and onStreamRead, among the largest
 * costs per agreed call left (see h2-connection.ts for the unary measurement).
 */
import { encodeFrame, FrameReader } from './frames.js'
import { DATA, END_HEADERS, HEADERS, writeFrameHeader } from './h2-frames.js'
import { H2Stream, type Outcome } from './h2-stream.js'

export interface StreamHandlers {
  /** Each whole response message (a view valid during the call). */
  message(msg: Buffer): void
  /**
   * The stream is over: `err` is why (a status other than OK, a reset, the connection lost or closed,
   * an unreadable message), undefined if the server ended it with OK.
   */
  end(err: Error | undefined): void
}

export class StreamCall extends H2Stream {
  /** Messages sent before the stream started (the connection's max concurrent streams). */
  private later: Buffer[] = []
  private canceled = false
  private readonly reader: FrameReader

  constructor(
    where: string,
    path: string,
    first: Uint8Array,
    readonly extra: Record<string, string> | undefined,
    maxBytes: number,
    private readonly h: StreamHandlers,
  ) {
    super(where, path, first)
    this.reader = new FrameReader(maxBytes, (msg) => this.deliver(msg))
  }

  /** A handler's throw ends the stream (the reader stops, the connection ends it with the error). */
  private deliver(msg: Buffer): void {
    if (this.done) return
    try {
      this.h.message(msg)
    } catch (err) {
      if (this.done) return rethrow(err) // over already (canceled from inside): nothing to end
      throw err instanceof Error ? err : new Error(String(err))
    }
  }

  get endsStream(): boolean {
    return false
  }

  frames(block: Buffer, whole: boolean): Buffer {
    const { id, payload } = this
    const bodyLen = 5 + payload.length
    const head = 9 + block.length
    const out = Buffer.allocUnsafe(head + (whole ? 9 + bodyLen : 0))
    block.copy(out, 9)
    writeFrameHeader(out, 0, block.length, HEADERS, END_HEADERS, id)
    if (whole) {
      writeFrameHeader(out, head, bodyLen, DATA, 0, id)
      out[head + 9] = 0
      out.writeUInt32BE(payload.length, head + 10)
      out.set(payload, head + 14)
    }
    const rest = whole ? this.later : [encodeFrame(payload), ...this.later]
    this.later = []
    if (rest.length > 0) this.body = Buffer.concat(rest)
    return out
  }

  /**
   * Queue `message` (framed) behind what is not yet sent; answers false when it must wait for the
   * stream to start (the connection sends it with the first frames).
   */
  queue(frame: Buffer): boolean {
    if (this.id === 0) {
      this.later.push(frame)
      return false
    }
    this.body = this.body === undefined ? frame : Buffer.concat([this.body.subarray(this.sent), frame])
    this.sent = 0
    return true
  }

  data(chunk: Buffer): Error | undefined {
    return this.reader.tryPush(chunk)
  }

  /** Ended by the server: its status's error, or nothing for OK. */
  outcome(): Outcome {
    return this.statusOutcome() ?? {}
  }

  /** Canceled by us: over, without a call to `end`. */
  cancel(): void {
    this.canceled = true
  }

  settle(err: Error | undefined): void {
    if (this.done) return
    this.done = true
    if (this.canceled) return
    try {
      this.h.end(err)
    } catch (thrown) {
      rethrow(thrown)
    }
  }
}

/** Re-throw a handler's exception outside the connection (it is the application's, not a protocol error). */
function rethrow(err: unknown): void {
  queueMicrotask(() => {
    throw err
  })
}
