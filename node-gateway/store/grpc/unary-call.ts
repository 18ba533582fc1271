/**
 * One unary gRPC call on the lean HTTP/2 connection (h2-connection.ts; what every stream keeps is
 * in h2-stream.ts): its request frames with the grpc-timeout left, the response message, and how
 * the call ends, with the same errors node:http2's streams gave (kv-client.ts before the lean
 * connection): a status other than OK is `statusError`, an end without a status UNAVAILABLE, an OK
 * without a message INTERNAL.
 *
 * Hand-written with the connection (see there for the measurement): a call is one plain object,
 * not a Duplex stream with listeners.
 */
import { FrameReader } from './frames.js'
import { DATA, END_HEADERS, END_STREAM, HEADERS, writeFrameHeader } from './h2-frames.js'
import { TIMEOUT_FIELD_MAX, writeTimeout } from './hpack.js'
import { H2Stream, type Outcome } from './h2-stream.js'
import { statusError } from './status.js'

export class UnaryCall extends H2Stream {
  private response: Buffer | undefined = undefined
  private received = 0
  private reader: FrameReader | undefined = undefined

  constructor(
    where: string,
    path: string,
    payload: Uint8Array,
    readonly deadline: number,
    readonly timeoutMs: number,
    private readonly maxBytes: number,
    private readonly resolve: (msg: Buffer) => void,
    private readonly reject: (err: Error) => void,
  ) {
    super(where, path, payload)
  }

  get endsStream(): boolean {
    return true
  }

  get extra(): undefined {
    return undefined
  }

  /**
   * The call's first bytes on stream `id`: its HEADERS frame (`block` and the grpc-timeout left)
   * and, if `whole`, the DATA frame with the whole message; otherwise `body` holds the message
   * frame for the connection to send as the windows allow.
   */
  frames(block: Buffer, whole: boolean): Buffer {
    const { id, payload } = this
    const bodyLen = 5 + payload.length
    const out = Buffer.allocUnsafe(9 + block.length + TIMEOUT_FIELD_MAX + (whole ? 9 + bodyLen : 0))
    let off = 9 + block.copy(out, 9)
    off = writeTimeout(out, off, Math.min(Math.max(1, Math.ceil(this.deadline - performance.now())), this.timeoutMs))
    writeFrameHeader(out, 0, off - 9, HEADERS, END_HEADERS, id)
    if (whole) writeFrameHeader(out, off, bodyLen, DATA, END_STREAM, id)
    const body = whole ? out.subarray(off + 9, off + 9 + bodyLen) : (this.body = Buffer.allocUnsafe(bodyLen))
    body[0] = 0
    body.writeUInt32BE(payload.length, 1)
    body.set(payload, 5)
    return out.subarray(0, whole ? off + 9 + bodyLen : off)
  }

  /** A DATA frame's payload; answers an error if the response cannot be read (too large, compressed). */
  data(chunk: Buffer): Error | undefined {
    this.received += chunk.length
    // The common case, one DATA frame holding exactly one whole message, needs no reader.
    if (this.reader === undefined && this.response === undefined && chunk.length >= 5 && chunk[0] === 0) {
      const len = chunk.readUInt32BE(1)
      if (len === chunk.length - 5 && len <= this.maxBytes) {
        this.response = chunk.subarray(5)
        return undefined
      }
    }
    this.reader ??= new FrameReader(this.maxBytes, (msg) => (this.response ??= msg))
    return this.reader.tryPush(chunk)
  }

  /** The server ended the stream (or reset it after its status): the call's outcome. */
  outcome(): Outcome {
    const bad = this.statusOutcome()
    if (bad) return bad
    if (!this.response) return { err: statusError(13, `${this.where}: truncated response (${this.received} bytes)`) }
    return { value: this.response }
  }

  /** Settle the promise (once). */
  settle(err: Error | undefined, value?: Buffer): void {
    if (this.done) return
    this.done = true
    if (err) this.reject(err)
    else this.resolve(value!)
  }
}
