/**
 * gRPC over HTTP/2, the message parts: length-prefixed messages (1 byte compressed flag, 4 bytes
 * big-endian length, the message) both ways. (Request headers: hpack.ts's `requestBlock`; the
 * status a response ends with: h2-stream.ts.)
 */
import { internal, resourceExhausted } from './status.js'
import { PrefixedReader } from './prefixed-reader.js'

/** Largest response message accepted by default (4 MiB, as grpc-js). */
export const MAX_MESSAGE_BYTES = 4 << 20

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

  /** `push`, answering the error it throws (a call ends with it) instead. */
  tryPush(chunk: Buffer): Error | undefined {
    try {
      this.push(chunk)
    } catch (err) {
      return err as Error
    }
    return undefined
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
