/**
 * What the lean HTTP/2 connection (h2-connection.ts) keeps of each of its streams, whichever kind
 * of gRPC call it carries (unary-call.ts, stream-call.ts): its id and flow-control windows, the
 * request bytes still waiting for window, the status the response gave (`:status`, `grpc-status`,
 * `grpc-message` from the headers, the trailers or a Trailers-Only response), and how a reset ends
 * it, with the errors node:http2's streams gave.
 */
import type { HeaderSink } from './hpack.js'
import { ConnectFailed, statusError } from './status.js'

/** An outcome: an error, or (a unary call) the response message. */
export interface Outcome {
  err?: Error
  value?: Buffer
}

export abstract class H2Stream implements HeaderSink {
  /** HTTP/2 stream id, 0 until the HEADERS frame is sent. */
  id = 0
  /** Request bytes (gRPC message frames) not yet sent for want of window, and how much of them is sent. */
  body: Buffer | undefined = undefined
  sent = 0
  /** Bytes we may still send on this stream, and received bytes not yet given back by WINDOW_UPDATE. */
  sendWindow = 0
  recvUnacked = 0
  http: number | undefined = undefined
  code: number | undefined = undefined
  message = ''
  /** The server ended its side (END_STREAM or RST_STREAM). */
  remoteDone = false
  done = false

  constructor(
    /** Endpoint and path, for error messages. */
    readonly where: string,
    readonly path: string,
    /** The first request message. */
    readonly payload: Uint8Array,
  ) {}

  /** Whether the last request byte ends our side of the stream (END_STREAM). */
  abstract readonly endsStream: boolean
  /** Extra request headers (besides the gRPC ones), or undefined. */
  abstract readonly extra: Record<string, string> | undefined

  /**
   * The call's first bytes on stream `id`: its HEADERS frame (`block`) and, if `whole`, the DATA
   * frame with the first message; otherwise `body` holds what is left to send as the windows allow.
   */
  abstract frames(block: Buffer, whole: boolean): Buffer

  /** A DATA frame's payload; answers an error if the response cannot be read (too large, compressed). */
  abstract data(chunk: Buffer): Error | undefined

  /** The server ended the stream (or reset it after its status). */
  abstract outcome(): Outcome

  /** Over (once): `err`, or the outcome's value. */
  abstract settle(err: Error | undefined, value?: Buffer): void

  /** A response header or trailer (HpackDecoder's sink). */
  field(name: string, value: string): void {
    if (name === 'grpc-status') this.code = Number(value)
    else if (name === 'grpc-message') this.message = percentDecoded(value)
    else if (name === ':status') this.http = Number(value)
  }

  /** Reset by the server with `code`: before any status that is UNAVAILABLE. */
  resetOutcome(code: number): Outcome {
    // REFUSED_STREAM: the server did not process it (RFC 9113 8.7), so it may go to another endpoint.
    if (this.code === undefined && code === REFUSED_STREAM) return { err: new ConnectFailed(`${this.where}: stream refused by the server`) }
    if (this.code === undefined) return { err: statusError(14, `${this.where}: Stream closed with error code ${rstName(code)}`) }
    return this.outcome()
  }

  /** The end of a stream that carried no gRPC status: UNAVAILABLE (or the status's own error). */
  protected statusOutcome(): Outcome | undefined {
    if (this.code === undefined) return { err: statusError(14, `${this.where}: stream ${this.noStatus()}`) }
    if (this.code !== 0) return { err: statusError(this.code, this.message) }
    return undefined
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
