/**
 * gRPC over HTTP/2, the wire parts: request headers, length-prefixed messages (1 byte compressed
 * flag, 4 bytes big-endian length, the message) both ways, and the status a response ends with
 * (`grpc-status` / `grpc-message`, in the trailers or, Trailers-Only, in the headers).
 */
import http2 from 'node:http2'
import { internal, resourceExhausted } from './status.js'

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
export class FrameReader {
  private parts: Buffer[] = []
  private buffered = 0
  /** Bytes needed before the next message can be cut: its header, then header + body. */
  private need = 5

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (msg: Buffer) => void,
  ) {}

  /** Feed a chunk; throws (INTERNAL, RESOURCE_EXHAUSTED) on a frame that cannot be read. */
  push(chunk: Buffer): void {
    if (this.buffered > 0) {
      this.parts.push(chunk)
      this.buffered += chunk.length
      if (this.buffered < this.need) return
      chunk = Buffer.concat(this.parts, this.buffered)
      this.parts = []
      this.buffered = 0
    }
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
    if (off < end) {
      const rest = chunk.subarray(off)
      this.parts.push(rest)
      this.buffered = rest.length
      this.need = rest.length >= 5 ? 5 + rest.readUInt32BE(1) : 5
    } else this.need = 5
  }

  /** Bytes of an unfinished message held. */
  get pending(): number {
    return this.buffered
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
