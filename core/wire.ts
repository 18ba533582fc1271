/**
 * Base encodings of the gateway protocol, paired: every `writeX` has its `readX`.
 *   varUint   unsigned LEB128, at most 2^53 - 1 (8 bytes)
 *   varBytes  varUint length • bytes
 *   varString varBytes of UTF-8
 *   bool      one byte, 0 or 1
 * Readers throw `WireError` on truncation, overlong or out-of-range values; `Reader.end()`
 * checks that the whole frame was consumed.
 */
import { ErrorCodes, RepJSError } from './errors.js'

export class WireError extends RepJSError {
  constructor(message: string) {
    super(ErrorCodes.PROTOCOL, message)
    this.name = 'WireError'
  }
}

const utf8 = new TextEncoder()
// ignoreBOM: a leading U+FEFF is part of the string, not a byte-order mark to strip.
const utf8d = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export class Writer {
  private buf: Uint8Array
  private pos = 0

  /** `size`: the bytes expected (a frame's fields summed), so most frames never grow the buffer. */
  constructor(size = 64) {
    this.buf = new Uint8Array(size)
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  varUint(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varUint out of range: ${n}`)
    this.room(8)
    while (n > 0x7f) {
      this.buf[this.pos++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buf[this.pos++] = n
    return this
  }

  bytes(b: Uint8Array): this {
    this.varUint(b.length)
    this.room(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
    return this
  }

  string(s: string): this {
    // Short ASCII strings (ids, stream names) are written in place: their length fits one byte.
    const n = s.length
    if (n < 0x80) {
      this.room(1 + n)
      const at = this.pos + 1
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        this.buf[at + i] = c
      }
      if (i === n) {
        this.buf[this.pos] = n
        this.pos = at + n
        return this
      }
    }
    return this.bytes(utf8.encode(s))
  }

  bool(v: boolean): this {
    this.room(1)
    this.buf[this.pos++] = v ? 1 : 0
    return this
  }

  /** The bytes written so far, as a view (no copy): later writes only append, so it never changes. */
  finish(): Uint8Array {
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos)
  }
}

export class Reader {
  private pos = 0
  constructor(private readonly buf: Uint8Array) {}

  varUint(): number {
    let n = 0
    let mul = 1
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) throw new WireError('truncated varUint')
      const b = this.buf[this.pos++]!
      n += (b & 0x7f) * mul
      if (b < 0x80) {
        if (i > 0 && b === 0) throw new WireError('overlong varUint')
        if (!Number.isSafeInteger(n)) throw new WireError('varUint beyond 2^53')
        return n
      }
      mul *= 0x80
    }
    throw new WireError('varUint longer than 8 bytes')
  }

  bytes(max = Infinity): Uint8Array {
    const len = this.varUint()
    if (len > max) throw new WireError(`field of ${len} bytes exceeds ${max}`)
    if (this.pos + len > this.buf.length) throw new WireError('truncated bytes')
    const out = this.buf.slice(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  string(max = 4096): string {
    const len = this.varUint()
    if (len > max) throw new WireError(`field of ${len} bytes exceeds ${max}`)
    if (this.pos + len > this.buf.length) throw new WireError('truncated bytes')
    const start = this.pos
    this.pos += len
    // Short ASCII (ids, stream names) without a call into the decoder; the rest is checked UTF-8.
    if (len <= 32) {
      let out = ''
      for (let i = start; i < start + len; i++) {
        const b = this.buf[i]!
        if (b >= 0x80) return this.utf8(start, len)
        out += String.fromCharCode(b)
      }
      return out
    }
    return this.utf8(start, len)
  }

  private utf8(start: number, len: number): string {
    try {
      return utf8d.decode(this.buf.subarray(start, start + len))
    } catch {
      throw new WireError('invalid UTF-8')
    }
  }

  bool(): boolean {
    if (this.pos >= this.buf.length) throw new WireError('truncated bool')
    const b = this.buf[this.pos++]
    if (b !== 0 && b !== 1) throw new WireError('bool must be 0 or 1')
    return b === 1
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new WireError(`${this.buf.length - this.pos} trailing bytes`)
  }
}
