/**
 * gRPC over HTTP/2, the wire parts: request headers, length-prefixed messages (1 byte compressed
 * flag, 4 bytes big-endian length, the message) both ways, and the status a response ends with
 * (`grpc-status` / `grpc-message`, in the trailers or, Trailers-Only, in the headers).
 */
import http2 from 'node:http2'
import { internal, resourceExhausted } from './status.js'
import { PrefixedReader } from './prefixed-reader.js'

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE, HTTP2_HEADER_STATUS } = http2.constants

/** Largest response message accepted by default (4 MiB, as grpc-js). */
export const MAX_MESSAGE_BYTES = 4 << 20

/** The headers of a gRPC call to `path` (plus `extra`, e.g. etcd's `hasleader`). */
export function requestHeaders(path: string, extra?: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
  return {
    ...extra,
    [HTTP2_HEADER_METHOD]: 'POST',
    [HTTP2_HEADER_PATH]: path,
    [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    [HTTP2_HEADER_TE]: 'trailers',
  }
}

/** One message as a gRPC frame (uncompressed). */
export function encodeFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length)
  frame[0] = 0
  frame.writeUInt32BE(message.length, 1)
  frame.set(message, 5)
  return frame
}

/**
 * Splits a byte stream into gRPC messages. A message may span DATA chunks, and a chunk may hold
 * several messages.
 */
export class FrameReader extends PrefixedReader {
  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (msg: Buffer) => void,
  ) {
    super(5)
  }

  protected bodyLength(chunk: Buffer, off: number): number {
    return chunk.readUInt32BE(off + 1)
  }

  /** Throws (INTERNAL, RESOURCE_EXHAUSTED) on a message that cannot be read. */
  protected cut(chunk: Buffer): number {
    let off = 0
    const end = chunk.length
    while (end - off >= 5) {
      if (chunk[off] !== 0) throw internal('compressed response (not requested)')
      const len = chunk.readUInt32BE(off + 1)
      if (len > this.maxBytes) throw resourceExhausted(`Received message larger than max (${len} vs ${this.maxBytes})`)
      if (end - off - 5 < len) break
      this.onMessage(chunk.subarray(off + 5, off + 5 + len))
      off += 5 + len
    }
    return off
  }
}

/** What a response said about how it ended: the HTTP status, and the gRPC status once seen. */
export class ResponseStatus {
  http: number | undefined
  /** grpc-status, undefined until the trailers (or a Trailers-Only response) carried it. */
  code: number | undefined
  message = ''

  /** The response headers (a Trailers-Only response carries the status here too). */
  onHeaders(headers: http2.IncomingHttpHeaders): void {
    this.http = Number(headers[HTTP2_HEADER_STATUS])
    this.onTrailers(headers)
  }

  onTrailers(headers: http2.IncomingHttpHeaders): void {
    const s = headers['grpc-status']
    if (s === undefined) return
    this.code = Number(s)
    const m = headers['grpc-message']
    if (m !== undefined) this.message = percentDecoded(String(m))
  }

  /** Why a stream ended without a gRPC status (for an UNAVAILABLE error's message). */
  noStatus(stream: http2.ClientHttp2Stream): string {
    return this.http !== undefined && this.http !== 200 ? `HTTP status ${this.http}` : `closed without a status (code ${stream.rstCode ?? '?'})`
  }
}

/** grpc-message is percent-encoded; a malformed one is shown as sent. */
function percentDecoded(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}
