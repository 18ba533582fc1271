// HPACK (store/grpc/hpack.ts, hpack-huffman.ts) and HTTP/2 frame parsing (store/grpc/h2-frames.ts)
// of the lean etcd client: RFC 7541's Appendix C examples byte for byte (Huffman, the dynamic
// table and its evictions), malformed input refused, frames cut from any split of the byte stream.
import { expect, test } from 'vitest'
import * as f from '../../node-gateway/store/grpc/h2-frames.js'
import { HUFFMAN_CODES, huffmanDecode } from '../../node-gateway/store/grpc/hpack-huffman.js'
import { HpackDecoder, HpackError, requestBlock, TIMEOUT_FIELD_MAX, writeTimeout } from '../../node-gateway/store/grpc/hpack.js'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

function decode(d: HpackDecoder, block: Buffer): [string, string][] {
  const out: [string, string][] = []
  d.decode(block, { field: (n, v) => void out.push([n, v]) })
  return out
}

interface Step {
  hex: string
  headers: [string, string][]
  /** The dynamic table after the block, newest first, and its size (RFC 7541 section 4.1). */
  table: [string, string][]
  size: number
}

// prettier-ignore
/** RFC 7541 Appendix C.3-C.6: each a sequence of blocks on one connection. */
const APPENDIX_C: [string, number, Step[]][] = [
  ['C.3 requests without Huffman', 4096, [
    { hex: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      headers: [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
      table: [[":authority", "www.example.com"]], size: 57 },
    { hex: '8286 84be 5808 6e6f 2d63 6163 6865',
      headers: [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]],
      table: [["cache-control", "no-cache"], [":authority", "www.example.com"]], size: 110 },
    { hex: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      headers: [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]],
      table: [["custom-key", "custom-value"], ["cache-control", "no-cache"], [":authority", "www.example.com"]], size: 164 },
  ]],
  ['C.4 requests with Huffman', 4096, [
    { hex: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      headers: [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
      table: [[":authority", "www.example.com"]], size: 57 },
    { hex: '8286 84be 5886 a8eb 1064 9cbf',
      headers: [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]],
      table: [["cache-control", "no-cache"], [":authority", "www.example.com"]], size: 110 },
    { hex: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      headers: [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]],
      table: [["custom-key", "custom-value"], ["cache-control", "no-cache"], [":authority", "www.example.com"]], size: 164 },
  ]],
  ['C.5 responses without Huffman, 256-byte table: evictions', 256, [
    { hex: '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      headers: [[":status", "302"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["location", "https://www.example.com"]],
      table: [["location", "https://www.example.com"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["cache-control", "private"], [":status", "302"]], size: 222 },
    { hex: '4803 3330 37c1 c0bf',
      headers: [[":status", "307"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["location", "https://www.example.com"]],
      table: [[":status", "307"], ["location", "https://www.example.com"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["cache-control", "private"]], size: 222 },
    { hex: '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
      headers: [[":status", "200"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:22 GMT"], ["location", "https://www.example.com"], ["content-encoding", "gzip"], ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"]],
      table: [["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"], ["content-encoding", "gzip"], ["date", "Mon, 21 Oct 2013 20:13:22 GMT"]], size: 215 },
  ]],
  ['C.6 responses with Huffman, 256-byte table: evictions', 256, [
    { hex: '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      headers: [[":status", "302"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["location", "https://www.example.com"]],
      table: [["location", "https://www.example.com"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["cache-control", "private"], [":status", "302"]], size: 222 },
    { hex: '4883 640e ffc1 c0bf',
      headers: [[":status", "307"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["location", "https://www.example.com"]],
      table: [[":status", "307"], ["location", "https://www.example.com"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["cache-control", "private"]], size: 222 },
    { hex: '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      headers: [[":status", "200"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:22 GMT"], ["location", "https://www.example.com"], ["content-encoding", "gzip"], ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"]],
      table: [["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"], ["content-encoding", "gzip"], ["date", "Mon, 21 Oct 2013 20:13:22 GMT"]], size: 215 },
  ]],
]

for (const [title, tableSize, steps] of APPENDIX_C) {
  test(`RFC 7541 ${title}`, () => {
    const d = new HpackDecoder(tableSize)
    for (const s of steps) {
      expect(decode(d, hex(s.hex))).toEqual(s.headers)
      expect(d.entries()).toEqual(s.table)
      expect(d.tableSize).toBe(s.size)
    }
  })
}

/** A Huffman encoder from the table, for round trips (the client itself never encodes). */
function huffmanEncode(bytes: Buffer): Buffer {
  const out: number[] = []
  let acc = 0n
  let bits = 0n
  for (const b of bytes) {
    acc = (acc << BigInt(HUFFMAN_CODES[2 * b + 1]!)) | BigInt(HUFFMAN_CODES[2 * b]!)
    bits += BigInt(HUFFMAN_CODES[2 * b + 1]!)
    while (bits >= 8n) {
      bits -= 8n
      out.push(Number((acc >> bits) & 0xffn))
    }
  }
  if (bits > 0n) out.push(Number(((acc << (8n - bits)) | ((1n << (8n - bits)) - 1n)) & 0xffn))
  return Buffer.from(out)
}

test('Huffman: a complete prefix code; every byte value round-trips; bad padding and EOS are refused', () => {
  let kraft = 0
  for (let s = 0; s <= 256; s++) kraft += 2 ** -HUFFMAN_CODES[2 * s + 1]!
  expect(kraft).toBe(1)
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  const enc = huffmanEncode(all)
  expect(huffmanDecode(enc, 0, enc.length)).toBe(all.toString('latin1'))
  expect(huffmanEncode(Buffer.from('www.example.com')).toString('hex')).toBe('f1e3c2e5f23a6ba0ab90f4ff')
  expect(huffmanDecode(hex('07'), 0, 1)).toBe('0') // '0' is 00000, then padding 111
  expect(() => huffmanDecode(hex('00'), 0, 1)).toThrow(/padding/) // padding of zeros
  expect(() => huffmanDecode(hex('1fff'), 0, 2)).toThrow(/padding/) // 'a' (00011) then 11 bits of ones
  expect(() => huffmanDecode(hex('ffffffff'), 0, 4)).toThrow(/EOS/)
})

test('HPACK: integers over their prefix (C.1), never-indexed literals, table size updates, errors', () => {
  const d = new HpackDecoder()
  // C.2.3: never indexed, literal name.
  expect(decode(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([['password', 'secret']])
  expect(d.tableSize).toBe(0)
  // A 5000-byte value: its length in a 7-bit prefix with continuation bytes (C.1.2's pattern).
  const long = 'x'.repeat(5000)
  expect(decode(d, Buffer.concat([hex('40 01 61 7f 89 26'), Buffer.from(long)]))).toEqual([['a', long]])
  // An entry larger than the whole table empties it and is not added (RFC 7541 section 4.4).
  expect(d.entries()).toEqual([])
  decode(d, hex('4001 6101 62')) // a: b, 34 bytes
  expect(d.tableSize).toBe(34)
  // A table size update at the start of a block evicts what no longer fits; it may not exceed our setting.
  expect(decode(d, hex('20 82'))).toEqual([[':method', 'GET']])
  expect(d.entries()).toEqual([])
  expect(() => decode(new HpackDecoder(), hex('3fe21f'))).toThrow(HpackError) // 4096 + 1
  expect(() => decode(new HpackDecoder(), hex('82 20'))).toThrow(/after a field/)
  expect(() => decode(new HpackDecoder(), hex('80'))).toThrow(/index 0/)
  expect(() => decode(new HpackDecoder(), hex('be'))).toThrow(/past the table/) // dynamic index 1 of an empty table
  expect(() => decode(new HpackDecoder(), hex('4003 61'))).toThrow(/truncated/)
  expect(() => decode(new HpackDecoder(), hex('7fffffffffff'))).toThrow(HpackError)
})

test('the request block: static indices and literals without indexing, plus grpc-timeout', () => {
  const block = requestBlock('/etcdserverpb.KV/Txn', '127.0.0.1:2379')
  const out = Buffer.alloc(block.length + TIMEOUT_FIELD_MAX)
  const end = writeTimeout(out, block.copy(out), 2500)
  const end2 = writeTimeout(Buffer.alloc(TIMEOUT_FIELD_MAX), 0, 2 ** 31 - 1)
  expect(end2).toBeLessThanOrEqual(TIMEOUT_FIELD_MAX)
  const d = new HpackDecoder()
  expect(decode(d, out.subarray(0, end))).toEqual([
    [':method', 'POST'], [':scheme', 'http'], [':path', '/etcdserverpb.KV/Txn'], [':authority', '127.0.0.1:2379'],
    ['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-timeout', '2500m'],
  ])
  expect(d.tableSize).toBe(0) // nothing indexed: the client needs no encoder state
  const big = Buffer.alloc(TIMEOUT_FIELD_MAX)
  expect(decode(new HpackDecoder(), big.subarray(0, writeTimeout(big, 0, 2 ** 31 - 1)))).toEqual([['grpc-timeout', '2147484S']])
})

test('frames: cut from any split of the stream, padding and priority stripped, oversize refused', () => {
  const frames = [
    f.settingsFrame([[f.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20], [f.SETTINGS_MAX_CONCURRENT_STREAMS, 7]]),
    f.windowUpdateFrame(3, 1000),
    f.pingFrame(Buffer.from('12345678'), true),
    f.rstStreamFrame(5, f.CANCEL),
    f.goawayFrame(9, f.NO_ERROR),
  ]
  // HEADERS with PADDED and PRIORITY: pad length 2, 5 priority bytes, block 'ab', 2 pad bytes.
  const headers = Buffer.alloc(9 + 1 + 5 + 2 + 2)
  f.writeFrameHeader(headers, 0, 10, f.HEADERS, f.PADDED | f.PRIORITY_FLAG | f.END_HEADERS, 1)
  headers[9] = 2
  headers.write('ab', 15)
  const data = Buffer.alloc(9 + 300)
  f.writeFrameHeader(data, 0, 300, f.DATA, f.END_STREAM, 0x80000001) // reserved bit set: ignored
  data.fill(7, 9)
  const stream = Buffer.concat([...frames, headers, data])
  const expected = [
    [f.SETTINGS, 0, 0, '000400100000000300000007'],
    [f.WINDOW_UPDATE, 0, 3, '000003e8'],
    [f.PING, f.ACK, 0, Buffer.from('12345678').toString('hex')],
    [f.RST_STREAM, 0, 5, '00000008'],
    [f.GOAWAY, 0, 0, '0000000900000000'],
    [f.HEADERS, f.PADDED | f.PRIORITY_FLAG | f.END_HEADERS, 1, Buffer.from('ab').toString('hex')],
    [f.DATA, f.END_STREAM, 1, Buffer.alloc(300, 7).toString('hex')],
  ]
  for (const step of [1, 2, 7, 9, 10, 64, stream.length]) {
    const got: unknown[] = []
    const p = new f.FrameParser(1 << 14, (type, flags, s, payload) => got.push([type, flags, s, (type === f.HEADERS || type === f.DATA ? f.framePayload(type, flags, payload) : payload).toString('hex')]))
    for (let i = 0; i < stream.length; i += step) p.push(stream.subarray(i, i + step))
    expect(got, `split every ${step} bytes`).toEqual(expected)
  }
  const tooBig = Buffer.alloc(9)
  f.writeFrameHeader(tooBig, 0, 20_000, f.DATA, 0, 1)
  expect(() => new f.FrameParser(1 << 14, () => {}).push(tooBig)).toThrow(f.H2ProtocolError)
  expect(() => f.framePayload(f.DATA, f.PADDED, Buffer.from([5, 1, 2]))).toThrow(/padding/)
})
