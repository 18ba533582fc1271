/**
 * The lean connection's read buffers, for net.Socket's `onread` (the socket fills a buffer we give
 * it and calls us back: no Readable stream, no 'data' event per read). Ownership: a read's bytes
 * are never overwritten. Each read fills the unused tail of a slab, the next read starts after it,
 * and a full slab is left to whatever still holds views into it (frames split across reads, a call's
 * response until its trailers, decoded keys and values: all views, no copies) and a fresh one is
 * allocated. A slab is freed once nothing refers to it, as a per-read buffer would be; a view kept
 * long holds its whole slab (SLAB bytes) alive, so the slab stays small.
 *
 * Why hand-written: 'data' events cost the Readable machinery (push, addChunk, emit) on every read
 * of every call. Measured with bench/watch-cpu.mjs (both builds paired, 6 rounds, fsync on, loaded
 * 2-core VM): replica 627 -> 604 µs of CPU per now() (lower in 6 of 6 rounds), follower 239 -> 194
 * µs per slot.
 */
import type { OnReadOpts } from 'node:net'

/** A slab's size: 64 KiB, Node's own read size. */
const SLAB = 64 << 10
/** A tail shorter than this is not offered: a new slab instead (a read fills at most what it is given). */
const MIN_READ = 16 << 10

/** net.connect's `onread` option handing each read's bytes (theirs for good) to `read`. */
export function slabReads(read: (chunk: Buffer) => void): OnReadOpts {
  const slab = new ReadSlab()
  return {
    buffer: slab.next,
    callback: (n, buf) => {
      read(slab.take(n, buf as Buffer))
      return true
    },
  }
}

export class ReadSlab {
  private slab = Buffer.allocUnsafe(SLAB)
  private used = 0

  /** The buffer the next read fills (onread's `buffer`): the slab's unused tail, or a new slab. */
  readonly next = (): Buffer => {
    if (SLAB - this.used < MIN_READ) {
      this.slab = Buffer.allocUnsafe(SLAB)
      this.used = 0
    }
    return this.slab.subarray(this.used)
  }

  /** The `n` bytes a read put at the start of `buf` (the last `next()`), theirs for good. */
  take(n: number, buf: Buffer): Buffer {
    this.used += n
    return buf.subarray(0, n)
  }
}
