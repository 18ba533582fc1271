/**
 * A protobuf reader for the few responses the lean transport decodes (txn-codec.ts,
 * lease-codec.ts, watch-codec.ts, range-page.ts). Hand-written because protobufjs's
 * decode + toObject (int64 via Long, defaults filled by reflection) cost ~100 µs per Txn response
 * in a fresh process; this reads only the fields callers use and skips the rest (unknown fields
 * included, as protobuf requires).
 *
 *   const r = new PbReader(bytes)
 *   while (r.more()) { const tag = r.tag(); if (tag === 10) key = r.bytes(); else r.skip(tag) }
 */

const EMPTY: Buffer = Buffer.alloc(0)

/**
 * Values beyond 2^53 need BigInt to print: in etcd's responses these are the cluster and member
 * ids (uint64, random), in every header, the same few over and over. The last few are remembered
 * (profiled: BigInt printing was a third of decoding a Txn response).
 */
const SEEN = 8
const seenLo = new Uint32Array(SEEN)
const seenHi = new Uint32Array(SEEN)
const seenSigned = new Uint8Array(SEEN)
const seenText: string[] = new Array<string>(SEEN).fill('')
let seenNext = 0

function big(lo: number, hi: number, signed: boolean): string {
  const s = signed ? 1 : 0
  for (let i = 0; i < SEEN; i++) if (seenLo[i] === lo && seenHi[i] === hi && seenSigned[i] === s && seenText[i] !== '') return seenText[i]!
  const u = (BigInt(hi) << 32n) | BigInt(lo)
  const text = (signed ? BigInt.asIntN(64, u) : u).toString()
  seenLo[seenNext] = lo
  seenHi[seenNext] = hi
  seenSigned[seenNext] = s
  seenText[seenNext] = text
  seenNext = (seenNext + 1) % SEEN
  return text
}

export class PbReader {
  pos: number
  readonly end: number
  private readonly buf: Buffer

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.pos = start
    this.end = end
  }

  more(): boolean {
    return this.pos < this.end
  }

  /** A varint of up to 32 bits (tags, lengths, enums, bools); longer ones keep their low 32 bits. */
  uint32(): number {
    const b = this.buf
    let v = 0
    let shift = 0
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('protobuf: truncated varint')
      const c = b[this.pos++]!
      if (shift < 32) v |= (c & 127) << shift
      if (c < 128) return v >>> 0
      shift += 7
      if (shift > 63) throw new RangeError('protobuf: varint too long')
    }
  }

  tag(): number {
    return this.uint32()
  }

  bool(): boolean {
    return this.uint32() !== 0
  }

  /** An int64 (`signed`) or uint64 varint as a decimal string (etcd3's shape). */
  int64(signed = true): string {
    const b = this.buf
    let lo = 0
    let hi = 0
    let shift = 0
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('protobuf: truncated varint')
      const c = b[this.pos++]!
      if (shift < 28) lo |= (c & 127) << shift
      else if (shift === 28) {
        lo |= (c & 15) << 28
        hi |= (c & 127) >>> 4
      } else if (shift < 64) hi |= (c & 127) << (shift - 32)
      if (c < 128) break
      shift += 7
      if (shift > 63) throw new RangeError('protobuf: varint too long')
    }
    lo >>>= 0
    hi >>>= 0
    if (hi === 0) return String(lo)
    if (hi < 0x200000) return String(hi * 4294967296 + lo)
    return big(lo, hi, signed)
  }

  /** A length-delimited field's bytes: a view into the response, not a copy (as protobufjs's). */
  bytes(): Buffer {
    const len = this.uint32()
    const start = this.pos
    if (start + len > this.end) throw new RangeError('protobuf: truncated field')
    this.pos = start + len
    return len === 0 ? EMPTY : this.buf.subarray(start, start + len)
  }

  string(): string {
    const len = this.uint32()
    const start = this.pos
    if (start + len > this.end) throw new RangeError('protobuf: truncated field')
    this.pos = start + len
    return this.buf.toString('utf8', start, start + len)
  }

  /** A nested message: a reader over its bytes (this one moves past it). */
  nested(): PbReader {
    const len = this.uint32()
    const start = this.pos
    if (start + len > this.end) throw new RangeError('protobuf: truncated message')
    this.pos = start + len
    return new PbReader(this.buf, start, start + len)
  }

  /** Skip a field of wire type `tag & 7` (unknown fields, fields nobody reads). */
  skip(tag: number): void {
    switch (tag & 7) {
      case 0:
        while (this.pos < this.end && this.buf[this.pos++]! >= 128);
        return
      case 1:
        this.pos += 8
        break
      case 2: {
        const len = this.uint32()
        this.pos += len
        break
      }
      case 5:
        this.pos += 4
        break
      case 3: // group: skip until its end tag
        for (;;) {
          const t = this.uint32()
          if ((t & 7) === 4) break
          this.skip(t)
        }
        break
      default:
        throw new RangeError(`protobuf: invalid wire type ${tag & 7}`)
    }
    if (this.pos > this.end) throw new RangeError('protobuf: truncated field')
  }
}
