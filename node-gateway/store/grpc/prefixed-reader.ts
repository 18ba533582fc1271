/**
 * What the lean client's two length-prefixed readers share (HTTP/2 frames in the socket's bytes,
 * h2-frames.ts; gRPC messages in a stream's DATA, frames.ts): the units whole within one chunk are
 * views into it (no copy); one spanning chunks is joined once, when its last byte arrives.
 */
export abstract class PrefixedReader {
  private parts: Buffer[] = []
  private buffered = 0
  /** Bytes needed before the next unit can be cut: its header, then header + body. */
  private need: number

  constructor(private readonly headerBytes: number) {
    this.need = headerBytes
  }

  /** The body length a whole header at `off` gives. */
  protected abstract bodyLength(chunk: Buffer, off: number): number

  /** Hand on every whole unit of `chunk`; returns where the first unfinished one starts. */
  protected abstract cut(chunk: Buffer): number

  /** Feed a chunk (throws what `cut` throws). */
  push(chunk: Buffer): void {
    if (this.buffered > 0) {
      this.parts.push(chunk)
      this.buffered += chunk.length
      if (this.buffered < this.need) return
      chunk = Buffer.concat(this.parts, this.buffered)
      this.parts = []
      this.buffered = 0
    }
    const off = this.cut(chunk)
    const h = this.headerBytes
    if (off < chunk.length) {
      const rest = chunk.subarray(off)
      this.parts.push(rest)
      this.buffered = rest.length
      this.need = rest.length >= h ? h + this.bodyLength(rest, 0) : h
    } else this.need = h
  }

  /** Bytes of an unfinished unit held. */
  get pending(): number {
    return this.buffered
  }
}
