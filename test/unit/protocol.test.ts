/**
 * The gateway protocol repjs.v1 against its spec. PROTOCOL.md is read at test time: every golden
 * frame in it (a fenced block with the info string `frame`: a `hex:` line, a `json:` line with
 * varBytes as hex strings and lists as arrays of hex strings, then an indented byte-by-byte reading)
 * must decode to its fields and encode back to the same bytes, and the message table must match
 * SCHEMA. Then: property-based round trips (fast-check) of every message type, every way a frame must be
 * rejected, and the base encodings of core/wire.ts.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import {
  decodeBySchema, decodeMessage, encodeBySchema, encodeMessage, ProtocolError, SCHEMA, SUBPROTOCOL, SUBPROTOCOL_V2, SUBPROTOCOLS, type Message, type MessageName,
} from '../../core/protocol.js'
import { Reader, WireError, Writer } from '../../core/wire.js'

type FieldType = 'uint' | 'str' | 'bytes' | 'bool' | 'list'
const NAMES = Object.keys(SCHEMA) as MessageName[]
const fieldsOf = (name: MessageName) => SCHEMA[name].fields as readonly (readonly [string, FieldType])[]

function fromHex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '')
  if (clean.length % 2 !== 0 || /[^0-9a-f]/.test(clean)) throw new Error(`bad hex: '${s}'`)
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16))
}
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
const cat = (...parts: (Uint8Array | number[])[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)))

/** Assert that decoding `bytes` throws a RepJSError with `code` (a ProtocolError for REPJS_PROTOCOL). */
function rejects(bytes: Uint8Array, code: string = ErrorCodes.PROTOCOL, limits?: Parameters<typeof decodeMessage>[1]): void {
  let thrown: unknown
  try {
    decodeMessage(bytes, limits)
  } catch (err) {
    thrown = err
  }
  expect(thrown, `decoding ${toHex(bytes)} should throw ${code}`).toBeDefined()
  expect(RepJSError.is(thrown, code as RepJSError['code']), `${toHex(bytes)}: ${String(thrown)}`).toBe(true)
  if (code === ErrorCodes.PROTOCOL) expect(thrown).toBeInstanceOf(ProtocolError)
  else expect(thrown).not.toBeInstanceOf(ProtocolError)
}

// ---------------------------------------------------------------------------------------------
// PROTOCOL.md

const DOC = readFileSync(new URL('../../PROTOCOL.md', import.meta.url), 'utf8')

interface Golden {
  heading: string
  hex: string
  json: Record<string, unknown>
  reading: string
}

function parseGolden(doc: string): Golden[] {
  const out: Golden[] = []
  const block = /^```frame\n([\s\S]*?)^```$/gm
  for (let m = block.exec(doc); m; m = block.exec(doc)) {
    const before = doc.slice(0, m.index).trimEnd().split('\n')
    const heading = before[before.length - 1]!
    let hex: string | undefined
    let json: Record<string, unknown> | undefined
    let reading = ''
    for (const line of m[1]!.split('\n')) {
      if (line === '') continue
      const h = /^hex:\s+(\S+)$/.exec(line)
      const j = /^json:\s+(.+)$/.exec(line)
      if (h) {
        if (hex !== undefined) throw new Error(`two hex lines in the frame under '${heading}'`)
        hex = h[1]!
      } else if (j) {
        if (json !== undefined) throw new Error(`two json lines in the frame under '${heading}'`)
        json = JSON.parse(j[1]!) as Record<string, unknown>
      } else if (/^ {2}\S/.test(line)) {
        const tokens = line.trim().split(/\s+/)
        const bytes: string[] = []
        for (const t of tokens) {
          if (!/^[0-9a-f]{2}$/.test(t)) break
          bytes.push(t)
        }
        if (bytes.length === 0) throw new Error(`reading line without bytes under '${heading}': '${line}'`)
        reading += bytes.join('')
      } else {
        throw new Error(`unexpected line in the frame under '${heading}': '${line}'`)
      }
    }
    if (hex === undefined || json === undefined) throw new Error(`frame under '${heading}' needs a hex: and a json: line`)
    out.push({ heading, hex, json, reading })
  }
  return out
}

/** The json of a golden frame -> the Message it stands for (hex strings -> bytes), checked against SCHEMA. */
function messageOf(json: Record<string, unknown>): Message {
  const name = json.type as MessageName
  if (!Object.hasOwn(SCHEMA, name)) throw new Error(`unknown message type '${String(json.type)}'`)
  const fields = fieldsOf(name)
  expect(Object.keys(json).sort(), `fields of ${name}`).toEqual(['type', ...fields.map(([f]) => f)].sort())
  const msg: Record<string, unknown> = { type: name }
  for (const [f, t] of fields) {
    const v = json[f]
    switch (t) {
      case 'uint':
        expect(Number.isSafeInteger(v) && (v as number) >= 0, `${name}.${f} = ${String(v)}`).toBe(true)
        msg[f] = v
        break
      case 'str':
        expect(typeof v, `${name}.${f}`).toBe('string')
        msg[f] = v
        break
      case 'bool':
        expect(typeof v, `${name}.${f}`).toBe('boolean')
        msg[f] = v
        break
      case 'bytes':
        expect(typeof v, `${name}.${f}`).toBe('string')
        msg[f] = fromHex(v as string)
        break
      case 'list':
        expect(Array.isArray(v) && v.every((e) => typeof e === 'string'), `${name}.${f}`).toBe(true)
        msg[f] = (v as string[]).map(fromHex)
        break
    }
  }
  return msg as unknown as Message
}

const GOLDEN = parseGolden(DOC)
const UPPER = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

describe('PROTOCOL.md golden frames', () => {
  test('the file has golden frames, one or more for every message type of SCHEMA', () => {
    expect(GOLDEN.length).toBeGreaterThanOrEqual(NAMES.length)
    const covered = new Set(GOLDEN.map((g) => g.json.type))
    expect(NAMES.filter((n) => !covered.has(n))).toEqual([])
  })

  test.each(GOLDEN.map((g, i) => [i + 1, g.heading, g] as const))('#%i %s', (_i, heading, g) => {
    expect(g.hex).toMatch(/^(?:[0-9a-f]{2})+$/)
    const bytes = fromHex(g.hex)
    const msg = messageOf(g.json)
    // hex -> fields
    expect(decodeMessage(bytes)).toStrictEqual(msg)
    // fields -> hex, byte for byte
    expect(toHex(encodeMessage(msg))).toBe(g.hex)
    // the byte-by-byte reading is the same frame
    expect(g.reading).toBe(g.hex)
    // the heading names the type number and message: '#### <code> <NAME> (<dir>)'
    const spec = SCHEMA[msg.type]
    expect(heading).toMatch(new RegExp(`^#### ${spec.code} ${UPPER(msg.type)} \\((C→S|S→C)\\)`))
  })

  test('the message table matches SCHEMA: type numbers, names, fields in wire order, encodings', () => {
    const WIRE: Record<FieldType, string> = { uint: 'varUint', str: 'varString', bytes: 'varBytes', bool: 'bool', list: 'list' }
    const rows = [...DOC.matchAll(/^\| *(\d+) \| ([A-Z_]+) \| (C→S|S→C) \| `([^`]+)` \|$/gm)]
    expect(rows.map((r) => Number(r[1]))).toEqual(NAMES.map((n) => SCHEMA[n].code))
    const dirs = new Map<string, string>()
    for (const r of rows) {
      const name = NAMES.find((n) => SCHEMA[n].code === Number(r[1]))!
      expect(r[2]).toBe(UPPER(name))
      const want = [String(SCHEMA[name].code), ...fieldsOf(name).map(([f, t]) => `${f}:${WIRE[t]}`)].join(' • ')
      expect(r[4]).toBe(want)
      dirs.set(name, r[3]!)
    }
    // every golden frame's heading has the direction of the table
    for (const g of GOLDEN) expect(g.heading).toContain(`(${dirs.get(g.json.type as string)})`)
  })

  test('the subprotocol is repjs.v1 and type numbers are 1..24 dense, then increasing (append-only)', () => {
    expect(SUBPROTOCOL).toBe('repjs.v1')
    expect(DOC).toContain('`repjs.v1`')
    // repjs.v2: the same frames, one more rule (documented); the reference client offers it first.
    expect(SUBPROTOCOLS).toEqual([SUBPROTOCOL_V2, SUBPROTOCOL])
    expect(SUBPROTOCOL_V2).toBe('repjs.v2')
    expect(DOC).toContain('### DECIDED delivers (repjs.v2)')
    const codes = NAMES.map((n) => SCHEMA[n].code)
    expect(codes.slice(0, 24)).toEqual(codes.slice(0, 24).map((_, i) => i + 1))
    expect(codes.every((c, i) => i === 0 || c > codes[i - 1]!)).toBe(true)
  })

  test('the golden-frame parser notices edits', () => {
    const g = GOLDEN.find((x) => x.json.type === 'propose')!
    const flipped = g.hex.slice(0, -1) + (g.hex.endsWith('0') ? '1' : '0')
    const edited = parseGolden(DOC.replace(g.hex, flipped)).find((x) => x.heading === g.heading)!
    expect(edited.hex).toBe(flipped)
    expect(toHex(encodeMessage(messageOf(edited.json)))).not.toBe(edited.hex)
    expect(() => parseGolden('```frame\nhex: 00\nbogus\n```\n')).toThrow(/unexpected line/)
  })
})

// ---------------------------------------------------------------------------------------------
// Property: every message type round-trips (fast-check; a failure shrinks and prints its seed)

const BOUNDARY_UINTS = [0, 1, 127, 128, 255, 256, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 42, 2 ** 49 - 1, 2 ** 49, 2 ** 53 - 2, 2 ** 53 - 1]
const SPECIAL_CHARS = [0x0, 0x7f, 0x80, 0xff, 0x7ff, 0x800, 0xfeff, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff]

const ARB: Record<FieldType, fc.Arbitrary<unknown>> = {
  uint: fc.oneof(fc.integer({ min: 0, max: 127 }), fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.constantFrom(...BOUNDARY_UINTS)),
  // Whole code points in every UTF-8 length (no lone surrogates: they are not UTF-8), sometimes long.
  str: fc.oneof(
    fc.string({ unit: fc.oneof(fc.constantFrom(...SPECIAL_CHARS).map((c) => String.fromCodePoint(c)), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 24 }),
    fc.string({ unit: 'binary', maxLength: 600 }),
  ),
  bytes: fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ minLength: 100, maxLength: 300 }), fc.uint8Array({ maxLength: 3000 })),
  bool: fc.boolean(),
  list: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }),
}
const anyMessage = (name: MessageName): fc.Arbitrary<Message> =>
  fc.record(Object.fromEntries(fieldsOf(name).map(([f, t]) => [f, ARB[t]]))).map((fields) => ({ type: name, ...fields }) as unknown as Message)

describe('property: round trips', () => {
  test.each(NAMES.map((n) => [n]))('%s: decode(encode(m)) is m, encode(decode(b)) is b, and no strict prefix decodes', (name) => {
    fc.assert(
      fc.property(anyMessage(name), fc.nat(), (msg, cut) => {
        const bytes = encodeMessage(msg)
        const back = decodeMessage(bytes)
        expect(back).toStrictEqual(msg)
        expect(toHex(encodeMessage(back))).toBe(toHex(bytes))
        rejects(bytes.subarray(0, cut % bytes.length)) // one cut point per frame
      }),
      { numRuns: 150 },
    )
  })
})

describe('PROPOSE and DECIDED, coded field by field, are what the schema walk makes of them', () => {
  /** The outcome of decoding: the message, or the error's class, code and message. */
  const outcome = (decode: (b: Uint8Array) => Message, bytes: Uint8Array) => {
    try {
      return { msg: decode(bytes) }
    } catch (err) {
      return { error: [(err as Error).constructor.name, (err as RepJSError).code, (err as Error).message] }
    }
  }
  test.each([['propose'], ['decided']] as const)('%s: the same bytes, and the same message or error from any bytes', (name) => {
    fc.assert(
      fc.property(anyMessage(name), fc.nat(), fc.uint8Array({ maxLength: 3 }), (msg, cut, junk) => {
        const bytes = encodeMessage(msg)
        expect(toHex(bytes)).toBe(toHex(encodeBySchema(msg)))
        // Whole, cut short, and with bytes after it.
        for (const b of [bytes, bytes.subarray(0, cut % bytes.length), cat(bytes, junk)]) {
          expect(outcome(decodeMessage, b)).toStrictEqual(outcome(decodeBySchema, b))
        }
      }),
      { numRuns: 300 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Rejections

describe('decode rejects malformed frames with ProtocolError (REPJS_PROTOCOL)', () => {
  test.each((['hello', 'propose', 'slots', 'acquired', 'error', 'ping'] as const).map((t) => [t]))(
    'truncated %s frame, at every cut point',
    (type) => {
      const frames = GOLDEN.filter((g) => g.json.type === type).map((g) => fromHex(g.hex))
      for (const bytes of frames) for (let cut = 0; cut < bytes.length; cut++) rejects(bytes.subarray(0, cut))
    },
  )

  test('the empty frame', () => rejects(new Uint8Array()))

  test('trailing bytes after the last field', () => {
    for (const g of GOLDEN) {
      rejects(cat(fromHex(g.hex), [0x00]))
      rejects(cat(fromHex(g.hex), [0x01, 0x02, 0x03]))
    }
  })

  test('overlong varUint (a final 0x00 after a continuation byte)', () => {
    rejects(fromHex('07 80 00')) // caughtUp sub = 0, overlong
    rejects(fromHex('07 81 00')) // 1 in two bytes
    rejects(fromHex('07 ff 80 00')) // 127 in three bytes
    rejects(fromHex('87 00 01')) // the type itself overlong (7 = caughtUp)
    rejects(fromHex('04 01 01 80 00')) // decided, record length 0 overlong
    rejects(fromHex('06 01 00 80 80 00')) // slots, list count overlong
    expect(decodeMessage(fromHex('07 80 01'))).toStrictEqual({ type: 'caughtUp', sub: 128 })
  })

  test('varUint of 2^53 or more, and varUint longer than 8 bytes', () => {
    expect(decodeMessage(fromHex('15 ff ff ff ff ff ff ff 0f'))).toStrictEqual({ type: 'ping', n: 2 ** 53 - 1 })
    rejects(fromHex('15 80 80 80 80 80 80 80 10')) // 2^53
    rejects(fromHex('15 81 80 80 80 80 80 80 10')) // 2^53 + 1
    rejects(fromHex('15 ff ff ff ff ff ff ff 7f')) // 2^56 - 1, the largest 8-byte value
    rejects(fromHex('15 80 80 80 80 80 80 80 80 01')) // 9 bytes (2^56)
    rejects(fromHex('15 81 80 80 80 80 80 80 80 00')) // 9 bytes, overlong 1
    rejects(fromHex('15 ff ff ff ff ff ff ff ff ff ff 01')) // 11 bytes
  })

  test('bool byte other than 0 or 1', () => {
    expect(decodeMessage(fromHex('04 01 01 00'))).toStrictEqual({ type: 'decided', id: 1, won: true, record: new Uint8Array() })
    for (const b of [0x02, 0x7f, 0x80, 0xff]) rejects(Uint8Array.of(0x04, 0x01, b, 0x00))
  })

  test('invalid UTF-8 in a string', () => {
    const hello = (run: string) => fromHex(`01 ${run} 02 72 31 00 00`)
    expect(decodeMessage(hello('02 c3 a9'))).toMatchObject({ type: 'hello', run: 'é' })
    for (const bad of [
      '01 ff', // never valid
      '01 80', // lone continuation byte
      '02 c3 28', // bad continuation
      '01 c3', // truncated sequence
      '02 c0 af', // overlong '/'
      '03 e0 80 af', // overlong, 3 bytes
      '03 ed a0 80', // UTF-16 surrogate D800
      '04 f4 90 80 80', // beyond U+10FFFF
      '04 f0 9f 98', // truncated 4-byte sequence (length says 4, 3 bytes of it + next field byte)
    ]) rejects(hello(bad))
    // also in the other string fields
    rejects(fromHex('17 00 01 ff 00 00 00')) // error.code
    rejects(fromHex('17 00 00 00 00 01 ff')) // error.status
  })

  test('string over the maximum length (bytes of UTF-8)', () => {
    const run = (n: number) => new Writer().varUint(1).string('x'.repeat(n)).string('r1').string('').bytes(new Uint8Array()).finish()
    expect(decodeMessage(run(4096))).toMatchObject({ type: 'hello' })
    rejects(run(4097))
    expect(decodeMessage(run(3), { maxString: 3 })).toMatchObject({ run: 'xxx' })
    rejects(run(4), ErrorCodes.PROTOCOL, { maxString: 3 })
    // counted in bytes, not characters: 2 x 'é' is 4 bytes
    const e = new Writer().varUint(1).string('éé').string('r1').string('').bytes(new Uint8Array()).finish()
    rejects(e, ErrorCodes.PROTOCOL, { maxString: 3 })
    // a length beyond the limit is refused before the bytes are looked for
    rejects(fromHex('01 80 80 80 80 01'))
  })

  test('list count over maxList', () => {
    const votes = (n: number) => encodeMessage({ type: 'votes', id: 1, values: Array.from({ length: n }, () => new Uint8Array([n])) })
    expect(decodeMessage(votes(2), { maxList: 2 })).toMatchObject({ type: 'votes' })
    rejects(votes(3), ErrorCodes.PROTOCOL, { maxList: 2 })
    expect(decodeMessage(votes(100_000))).toMatchObject({ type: 'votes' })
    rejects(votes(100_001))
    // a huge count with no entries behind it: refused on the count, not after allocating
    rejects(cat([0x0c, 0x01], new Writer().varUint(2 ** 53 - 1).finish()))
    rejects(cat([0x06, 0x01, 0x00], new Writer().varUint(2 ** 40).finish()))
    // within the limit but truncated
    rejects(fromHex('0c 01 03 01 aa 01 bb'))
  })

  test('varBytes longer than the rest of the frame', () => {
    rejects(fromHex('04 01 01 05 aa bb cc dd')) // record says 5 bytes, 4 follow
    rejects(cat([0x04, 0x01, 0x01], new Writer().varUint(2 ** 53 - 1).finish()))
  })

  test('unknown message type -> REPJS_UNKNOWN_MESSAGE', () => {
    for (const t of [0, 29, 127, 128, 16384, 2 ** 53 - 1]) {
      const type = new Writer().varUint(t).finish()
      rejects(type, ErrorCodes.UNKNOWN_MESSAGE)
      rejects(cat(type, [0x01, 0x02, 0x03]), ErrorCodes.UNKNOWN_MESSAGE)
    }
    expect(() => decodeMessage(fromHex('1d'))).toThrow(SUBPROTOCOL)
    // a golden frame with its type byte changed to an unused number
    const ping = fromHex(GOLDEN.find((g) => g.json.type === 'ping')!.hex)
    rejects(cat([0x7f], ping.subarray(1)), ErrorCodes.UNKNOWN_MESSAGE)
  })
})

// ---------------------------------------------------------------------------------------------
// core/wire.ts

describe('wire: Writer / Reader pairs', () => {
  const VARUINTS: [number, string][] = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [16383, 'ff7f'],
    [16384, '808001'],
    [2 ** 21 - 1, 'ffff7f'],
    [2 ** 21, '80808001'],
    [2 ** 28, '8080808001'],
    [2 ** 32 - 1, 'ffffffff0f'],
    [2 ** 32, '8080808010'],
    [2 ** 49 - 1, 'ffffffffffff7f'],
    [2 ** 49, '80808080808080' + '01'],
    [2 ** 53 - 1, 'ffffffffffffff0f'],
  ]

  test.each(VARUINTS)('varUint %d <-> %s', (n, hex) => {
    const bytes = new Writer().varUint(n).finish()
    expect(toHex(bytes)).toBe(hex)
    expect(bytes.length).toBeLessThanOrEqual(8)
    const r = new Reader(bytes)
    expect(r.varUint()).toBe(n)
    r.end()
  })

  test('varUint: the encoder refuses what the decoder would', () => {
    for (const bad of [-1, 2 ** 53, 2 ** 64, 1.5, Number.NaN, Infinity, -Infinity]) {
      expect(() => new Writer().varUint(bad), String(bad)).toThrow(RangeError)
    }
    expect(toHex(new Writer().varUint(-0).finish())).toBe('00')
  })

  test('varUint: decoder errors are WireErrors', () => {
    const read = (hex: string) => () => new Reader(fromHex(hex)).varUint()
    expect(read('')).toThrow(WireError)
    expect(read('80')).toThrow(/truncated/)
    expect(read('ff ff')).toThrow(/truncated/)
    expect(read('80 00')).toThrow(/overlong/)
    expect(read('80 80 00')).toThrow(/overlong/)
    expect(read('80 80 80 80 80 80 80 10')).toThrow(/2\^53/)
    expect(read('80 80 80 80 80 80 80 80 01')).toThrow(/8 bytes/)
  })

  test('every varUint in 0..70000 and around every power of two round-trips with the shortest form', () => {
    const values: number[] = []
    for (let n = 0; n <= 70000; n++) values.push(n)
    for (let k = 0; k <= 53; k++) for (const d of [-1, 0, 1]) if (2 ** k + d >= 0 && 2 ** k + d <= 2 ** 53 - 1) values.push(2 ** k + d)
    const w = new Writer()
    for (const n of values) w.varUint(n)
    const r = new Reader(w.finish())
    const wrong: string[] = []
    for (const n of values) {
      const len = new Writer().varUint(n).finish().length
      if (len !== Math.max(1, Math.ceil(n.toString(2).length / 7))) wrong.push(`${n}: ${len} bytes`)
      const back = r.varUint()
      if (back !== n) wrong.push(`${n} read back as ${back}`)
    }
    r.end()
    expect(wrong).toEqual([])
  })

  test('property: any sequence of safe integers reads back in order, each in its shortest form', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.maxSafeNat(), fc.integer({ min: 0, max: 2 ** 21 })), { minLength: 1, maxLength: 20 }), (values) => {
        const w = new Writer()
        for (const n of values) w.varUint(n)
        const r = new Reader(w.finish())
        for (const n of values) {
          expect(new Writer().varUint(n).finish().length).toBe(Math.max(1, Math.ceil(n.toString(2).length / 7)))
          expect(r.varUint()).toBe(n)
        }
        r.end()
      }),
      { numRuns: 300 },
    )
  })

  test('bytes: lengths 0, 1, 127, 128, 16384, 100000 (the writer grows)', () => {
    for (const n of [0, 1, 127, 128, 16384, 100_000]) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff)
      const bytes = new Writer().bytes(b).finish()
      expect(bytes.length).toBe(new Writer().varUint(n).finish().length + n)
      const r = new Reader(bytes)
      const back = r.bytes()
      expect(back).toStrictEqual(b)
      r.end()
    }
    expect(() => new Reader(fromHex('03 aa bb')).bytes()).toThrow(/truncated/)
    expect(() => new Reader(fromHex('03 aa bb cc')).bytes(2)).toThrow(/exceeds/)
    // the result is a copy, not a view of the frame
    const frame = fromHex('02 aa bb')
    const got = new Reader(frame).bytes()
    frame[1] = 0
    expect(toHex(got)).toBe('aabb')
  })

  test('string: UTF-8 with non-ASCII, astral, NUL and a leading U+FEFF', () => {
    for (const s of ['', 'a', 'é', 'naïve — 東京', '😀', '\u0000x\u0000', '\uFEFF', '\uFEFFbom', 'x\uFEFF', '\u{10FFFF}', 'x'.repeat(4096)]) {
      const bytes = new Writer().string(s).finish()
      const utf8 = new TextEncoder().encode(s)
      expect(toHex(bytes)).toBe(toHex(new Writer().varUint(utf8.length).finish()) + toHex(utf8))
      const r = new Reader(bytes)
      expect(r.string()).toBe(s)
      r.end()
    }
  })

  test('string: byte limit, invalid UTF-8, and lone surrogates written as U+FFFD', () => {
    expect(() => new Reader(new Writer().string('x'.repeat(4097)).finish()).string()).toThrow(/exceeds 4096/)
    expect(new Reader(new Writer().string('abcd').finish()).string(4)).toBe('abcd')
    expect(() => new Reader(new Writer().string('abcd').finish()).string(3)).toThrow(WireError)
    expect(() => new Reader(fromHex('02 c3 28')).string()).toThrow(/invalid UTF-8/)
    expect(() => new Reader(fromHex('03 ed a0 80')).string()).toThrow(WireError)
    expect(new Reader(new Writer().string('a\uD800b').finish()).string()).toBe('a\uFFFDb')
  })

  test('bool: 0 and 1 only', () => {
    const bytes = new Writer().bool(false).bool(true).finish()
    expect(toHex(bytes)).toBe('0001')
    const r = new Reader(bytes)
    expect(r.bool()).toBe(false)
    expect(r.bool()).toBe(true)
    r.end()
    expect(() => new Reader(fromHex('02')).bool()).toThrow(/0 or 1/)
    expect(() => new Reader(new Uint8Array()).bool()).toThrow(/truncated/)
  })

  test('mixed fields read back in order; end() reports trailing bytes', () => {
    const w = new Writer().varUint(2 ** 53 - 1).string('ü').bool(true).bytes(new Uint8Array([1, 2, 3])).varUint(0)
    const bytes = w.finish()
    expect(toHex(bytes)).toBe('ffffffffffffff0f' + '02c3bc' + '01' + '03010203' + '00')
    const r = new Reader(bytes)
    expect(r.varUint()).toBe(2 ** 53 - 1)
    expect(r.string()).toBe('ü')
    expect(r.bool()).toBe(true)
    expect(r.bytes()).toStrictEqual(new Uint8Array([1, 2, 3]))
    expect(r.varUint()).toBe(0)
    r.end()
    const r2 = new Reader(cat(bytes, [0xee]))
    r2.varUint(); r2.string(); r2.bool(); r2.bytes(); r2.varUint()
    expect(() => r2.end()).toThrow(/1 trailing bytes/)
  })

  test('finish() returns the bytes so far, unchanged by later writes; the writer can go on', () => {
    const w = new Writer().varUint(1)
    const a = w.finish()
    w.varUint(2)
    expect(toHex(a)).toBe('01')
    expect(toHex(w.finish())).toBe('0102')
  })
})
