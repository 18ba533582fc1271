/**
 * One unary gRPC call on the lean HTTP/2 connection (h2-connection.ts): what the response said so
 * far (`:status`, `grpc-status`, `grpc-message` from the headers, the trailers or a Trailers-Only
 * response), the response message, and how the call ends, with the same errors node:http2's
 * streams gave (kv-client.ts before the lean connection): a status other than OK is `statusError`,
 * an end without a status UNAVAILABLE, an OK without a message INTERNAL.
 *
 * Hand-written with the connection (see there for the measurement): a call is one plain object,
 * not a Duplex stream with listeners.
 */
import { FrameReader } from './frames.js'
import { DATA, END_HEADERS, END_STREAM, HEADERS, writeFrameHeader } from './h2-frames.js'
import { TIMEOUT_FIELD_MAX, writeTimeout } from './hpack.js'
import { ConnectFailed, statusError } from './status.js'

export class UnaryCall {
  /** HTTP/2 stream id, 0 until the HEADERS frame is sent. */
  id = 0
  /** The request's DATA payload (one gRPC message frame) and how much of it is sent. */
  body: Buffer | undefined
  sent = 0
  /** Bytes we may still send on this stream, and received bytes not yet given back by WINDOW_UPDATE. */
  sendWindow = 0
  recvUnacked = 0
  http: number | undefined
  code: number | undefined
  message = ''
  /** The server ended its side (END_STREAM or RST_STREAM). */
  remoteDone = false
  done = false
  private response: Buffer | undefined
  private received = 0
  private reader: FrameReader | undefined

  constructor(
    /** Endpoint and path, for error messages. */
    readonly where: string,
    readonly path: string,
    readonly payload: Uint8Array,
    readonly deadline: number,
    readonly timeoutMs: number,
    private readonly maxBytes: number,
    private readonly resolve: (msg: Buffer) => void,
    private readonly reject: (err: Error) => void,
  ) {}

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
    off = writeTimeout(out, off, Math.min(Math.max(1, Math.ceil(this.deadline - Date.now())), this.timeoutMs))
    writeFrameHeader(out, 0, off - 9, HEADERS, END_HEADERS, id)
    if (whole) writeFrameHeader(out, off, bodyLen, DATA, END_STREAM, id)
    const body = whole ? out.subarray(off + 9, off + 9 + bodyLen) : (this.body = Buffer.allocUnsafe(bodyLen))
    body[0] = 0
    body.writeUInt32BE(payload.length, 1)
    body.set(payload, 5)
    return out.subarray(0, whole ? off + 9 + bodyLen : off)
  }

  /** A response header or trailer (HpackDecoder's sink). */
  field(name: string, value: string): void {
    if (name === 'grpc-status') this.code = Number(value)
    else if (name === 'grpc-message') this.message = percentDecoded(value)
    else if (name === ':status') this.http = Number(value)
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
    try {
      this.reader.push(chunk)
    } catch (err) {
      return err as Error
    }
    return undefined
  }

  /** The server ended the stream (or reset it after its status): the call's outcome. */
  outcome(): { err?: Error; value?: Buffer } {
    const { where } = this
    if (this.code === undefined) return { err: statusError(14, `${where}: stream ${this.noStatus()}`) }
    if (this.code !== 0) return { err: statusError(this.code, this.message) }
    if (!this.response) return { err: statusError(13, `${where}: truncated response (${this.received} bytes)`) }
    return { value: this.response }
  }

  /** Reset by the server with `code`: before any status that is UNAVAILABLE. */
  resetOutcome(code: number): { err?: Error; value?: Buffer } {
    // REFUSED_STREAM: the server did not process it (RFC 9113 8.7), so it may go to another endpoint.
    if (this.code === undefined && code === REFUSED_STREAM) return { err: new ConnectFailed(`${this.where}: stream refused by the server`) }
    if (this.code === undefined) return { err: statusError(14, `${this.where}: Stream closed with error code ${rstName(code)}`) }
    return this.outcome()
  }

  /** Settle the promise (once). */
  settle(err: Error | undefined, value?: Buffer): void {
    if (this.done) return
    this.done = true
    if (err) this.reject(err)
    else this.resolve(value!)
  }

  private noStatus(): string {
    return this.http !== undefined && this.http !== 200 ? `HTTP status ${this.http}` : 'closed without a status'
  }
}

/** RST_STREAM's REFUSED_STREAM code: the stream was not processed. */
const REFUSED_STREAM = 7

const RST_NAMES = ['NGHTTP2_NO_ERROR', 'NGHTTP2_PROTOCOL_ERROR', 'NGHTTP2_INTERNAL_ERROR', 'NGHTTP2_FLOW_CONTROL_ERROR', 'NGHTTP2_SETTINGS_TIMEOUT', 'NGHTTP2_STREAM_CLOSED', 'NGHTTP2_FRAME_SIZE_ERROR', 'NGHTTP2_REFUSED_STREAM', 'NGHTTP2_CANCEL', 'NGHTTP2_COMPRESSION_ERROR', 'NGHTTP2_CONNECT_ERROR', 'NGHTTP2_ENHANCE_YOUR_CALM', 'NGHTTP2_INADEQUATE_SECURITY', 'NGHTTP2_HTTP_1_1_REQUIRED']

/** An RST_STREAM code as node:http2 named it in its errors. */
function rstName(code: number): string {
  return RST_NAMES[code] ?? String(code)
}

/** grpc-message is percent-encoded; a malformed one is shown as sent. */
function percentDecoded(raw: string): string {
  if (!raw.includes('%')) return raw
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}
