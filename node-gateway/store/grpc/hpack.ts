/**
 * HPACK (RFC 7541) for the lean HTTP/2 client: a decoder for response header blocks (section 6:
 * indexed fields, literals with/without/never indexing, dynamic table size updates; section 4: the
 * dynamic table and its eviction; section 5: integers and strings, Huffman via hpack-huffman.ts),
 * and the encoder's one trick: request blocks made of static-table indices and literals without
 * indexing (section 6.2.2), so no encoder state is ever needed.
 *
 * Hand-written because no HPACK package is installed and node:http2's per-request path (request(),
 * header objects, Http2Stream) costs ~150-200 µs of CPU per call cold; a whole request block here is
 * one precomputed Buffer plus its grpc-timeout.
 */
import { huffmanDecode } from './hpack-huffman.js'

// prettier-ignore
/** RFC 7541 Appendix A: the static table, index 1..61. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''],
  ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''],
  ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
]

/** A header block that cannot be decoded: a connection error (COMPRESSION_ERROR) in HTTP/2. */
export class HpackError extends Error {}

/** Where decoded headers go. */
export interface HeaderSink {
  field(name: string, value: string): void
}

/** Entry overhead in the dynamic table's size (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32

export class HpackDecoder {
  /** The dynamic table, oldest first: dynamic index 1 is the last entry. */
  private readonly names: string[] = []
  private readonly values: string[] = []
  private size = 0
  private max: number
  private off = 0

  /** `limit`: the SETTINGS_HEADER_TABLE_SIZE we sent (the encoder may lower the table below it). */
  constructor(private readonly limit = 4096) {
    this.max = limit
  }

  /** Bytes the dynamic table holds by RFC 7541's measure (for tests). */
  get tableSize(): number {
    return this.size
  }

  /** The dynamic table, newest first (for tests). */
  entries(): [string, string][] {
    return this.names.map((n, i) => [n, this.values[i]!] as [string, string]).reverse()
  }

  /** Decode one complete header block; `sink.field` is called for each header, in order. */
  decode(block: Uint8Array, sink: HeaderSink): void {
    this.off = 0
    const end = block.length
    let first = true
    while (this.off < end) {
      const b = block[this.off]!
      if (b & 0x80) {
        const i = this.int(block, 7)
        if (i === 0) throw new HpackError('HPACK: index 0')
        sink.field(this.nameAt(i), this.valueAt(i))
      } else if (b & 0x40) {
        const i = this.int(block, 6)
        const name = i === 0 ? this.str(block) : this.nameAt(i)
        const value = this.str(block)
        this.add(name, value)
        sink.field(name, value)
      } else if (b & 0x20) {
        // Dynamic table size update: only at the start of a block (section 4.2).
        if (!first) throw new HpackError('HPACK: table size update after a field')
        const size = this.int(block, 5)
        if (size > this.limit) throw new HpackError(`HPACK: table size ${size} over ${this.limit}`)
        this.max = size
        this.evict(0)
        continue
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const i = this.int(block, 4)
        const name = i === 0 ? this.str(block) : this.nameAt(i)
        sink.field(name, this.str(block))
      }
      first = false
    }
  }

  private nameAt(i: number): string {
    if (i <= 61) return STATIC[i - 1]![0]
    const d = this.names.length - (i - 61)
    if (d < 0) throw new HpackError(`HPACK: index ${i} past the table`)
    return this.names[d]!
  }

  private valueAt(i: number): string {
    if (i <= 61) return STATIC[i - 1]![1]
    return this.values[this.names.length - (i - 61)]!
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD
    // An entry larger than the table empties it and is not added (section 4.4).
    this.evict(size)
    if (size > this.max) return
    this.names.push(name)
    this.values.push(value)
    this.size += size
  }

  /** Evict the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    let n = 0
    while (this.size + room > this.max && n < this.names.length) {
      this.size -= this.names[n]!.length + this.values[n]!.length + ENTRY_OVERHEAD
      n++
    }
    if (n > 0) {
      this.names.splice(0, n)
      this.values.splice(0, n)
    }
  }

  /** An integer with an N-bit prefix (section 5.1), at this.off. */
  private int(buf: Uint8Array, bits: number): number {
    const mask = (1 << bits) - 1
    let v = buf[this.off++]! & mask
    if (v < mask) return v
    let shift = 0
    for (;;) {
      if (this.off >= buf.length) throw new HpackError('HPACK: truncated integer')
      const b = buf[this.off++]!
      v += (b & 0x7f) * 2 ** shift
      shift += 7
      if (!(b & 0x80)) return v
      if (shift > 28) throw new HpackError('HPACK: integer too large')
    }
  }

  /** A string literal (section 5.2): latin1, one char per byte, as node:http2 reads header values. */
  private str(buf: Uint8Array): string {
    if (this.off >= buf.length) throw new HpackError('HPACK: truncated string')
    const huffman = (buf[this.off]! & 0x80) !== 0
    const len = this.int(buf, 7)
    const start = this.off
    if (start + len > buf.length) throw new HpackError('HPACK: truncated string')
    this.off += len
    if (!huffman) return Buffer.prototype.latin1Slice.call(buf, start, start + len) as string
    try {
      return huffmanDecode(buf, start, len)
    } catch (err) {
      throw new HpackError((err as Error).message)
    }
  }
}

/** `v` with an N-bit prefix whose high bits are `flags` (section 5.1). */
function writeInt(out: number[], flags: number, bits: number, v: number): void {
  const mask = (1 << bits) - 1
  if (v < mask) return void out.push(flags | v)
  out.push(flags | mask)
  v -= mask
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
}

/** A literal without indexing (section 6.2.2), name by static index or (0) literal; plain strings. */
function literal(out: number[], nameIndex: number, name: string, value: string): void {
  writeInt(out, 0, 4, nameIndex)
  if (nameIndex === 0) {
    writeInt(out, 0, 7, name.length)
    for (let i = 0; i < name.length; i++) out.push(name.charCodeAt(i))
  }
  writeInt(out, 0, 7, value.length)
  for (let i = 0; i < value.length; i++) out.push(value.charCodeAt(i) & 0xff)
}

/** The :authority of `host` (an IPv6 literal in brackets, RFC 3986 section 3.2.2) and `port`. */
export function authorityOf(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * The header block of a gRPC call to `path` on `authority`, without its grpc-timeout: :method POST
 * and :scheme http by static index, the rest literals without indexing, plus `extra` headers.
 */
export function requestBlock(path: string, authority: string, extra: Record<string, string> = {}): Buffer {
  const out = [0x83, 0x86] // :method POST, :scheme http
  literal(out, 4, ':path', path)
  literal(out, 1, ':authority', authority)
  literal(out, 31, 'content-type', 'application/grpc')
  literal(out, 0, 'te', 'trailers')
  for (const [k, v] of Object.entries(extra)) literal(out, 0, k, v)
  return Buffer.from(out)
}

/** The grpc-timeout field's name part: a literal without indexing with a literal name. */
const TIMEOUT_NAME = Buffer.from([0x00, 12, ...Buffer.from('grpc-timeout')])
/** Most bytes `writeTimeout` writes. */
export const TIMEOUT_FIELD_MAX = TIMEOUT_NAME.length + 1 + 9

/**
 * Write the grpc-timeout field for `ms` into `out` at `off` (a literal without indexing); answers
 * the offset after it. gRPC allows at most 8 digits: longer deadlines are sent in seconds.
 */
export function writeTimeout(out: Buffer, off: number, ms: number): number {
  const value = ms < 1e8 ? `${ms}m` : `${Math.min(Math.ceil(ms / 1000), 99_999_999)}S`
  off += TIMEOUT_NAME.copy(out, off)
  out[off++] = value.length
  return off + out.write(value, off, 'latin1')
}
