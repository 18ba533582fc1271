/**
 * Crafted / hostile stored values. Someone with write access to etcd can put any bytes under a
 * run's keys; `codec.decode` and `decodeRecord` must reject everything that is not a RepJS value
 * with REPJS_CORRUPT naming the key, and must never execute, construct from a name, or pollute a
 * prototype. The CBOR bytes below are written by hand in hex.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { expectRepJSError } from '../helpers/errors.js'
import { createCodec } from '../../core/codec.js'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { decodeRecord, encodeRecord } from '../../core/record.js'
import { createCborFormat, TAGGED_CBOR_TAG } from '../../core/cbor-format.js'

const codec = createCodec(createCborFormat())
const KEY = '/repjs/v1/hostile-run/s/main/000000000017'
/** Where the records below are read from (KEY). */
const AT = { run: 'hostile-run', stream: 'main', slot: 17 }

/** Hex (spaces allowed) -> bytes. */
function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '')
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex: ${s}`)
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16))
}
/** A CBOR text string (major type 3, short lengths only) as hex. */
function text(s: string): string {
  const b = new TextEncoder().encode(s)
  if (b.length >= 24 + 256) throw new Error('too long for this helper')
  const head = b.length < 24 ? (0x60 + b.length).toString(16) : '78' + b.length.toString(16).padStart(2, '0')
  return head + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}
/** The RepJS tag (40401 = 0x9dd1) as a CBOR tag head. */
const REPJS_TAG = 'd9 9dd1'
/** The place AT as record fields: "hostile-run", "main", 17. */
const PLACE = `${text('hostile-run')} ${text('main')} 11`
/** A well-formed slot record head: [2, "hostile-run", "main", 17, "call", "f", "h", "s", "b", true, <outcome>]. */
const RECORD_HEAD = `8b 02 ${PLACE} ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5`

function corruptFrom(fn: () => unknown): RepJSError {
  const err = expectRepJSError(fn, ErrorCodes.CORRUPT)
  expect(err.message).toContain(KEY)
  expect(err.details).toStrictEqual({ key: KEY })
  expect(err.message).toMatch(/not used or executed/)
  return err
}

/** Rejected by codec.decode as a value, and by decodeRecord both as a whole record and as its outcome. */
function expectRejectedEverywhere(valueHex: string): void {
  corruptFrom(() => codec.decode(hex(valueHex), KEY))
  corruptFrom(() => decodeRecord(codec, hex(valueHex), AT))
  corruptFrom(() => decodeRecord(codec, hex(`${RECORD_HEAD} ${valueHex}`), AT))
}

/** Either rejected as REPJS_CORRUPT, or decoded to exactly `inert` (plain data, nothing built from the tag). */
function expectRejectedOrInert(valueHex: string, inert: unknown): void {
  let decoded: unknown
  try {
    decoded = codec.decode(hex(valueHex), KEY)
  } catch {
    corruptFrom(() => codec.decode(hex(valueHex), KEY))
    return
  }
  expect(decoded).toStrictEqual(inert)
}

/**
 * `n` levels of cbor-x shared references: L0 = shareable [1]; Lk = shareable [L(k-1), ref L(k-1)].
 * Shareable ids are numbered in reading order, so the outermost level is id 0 and L(k-1) is n-k+1.
 */
function dagBomb(n: number): string {
  let s = 'd8 1c 81 01'
  for (let k = 1; k <= n; k++) {
    const id = n - k + 1
    s = `d8 1c 82 ${s} d8 1d ${id < 24 ? id.toString(16).padStart(2, '0') : '18' + id.toString(16).padStart(2, '0')}`
  }
  return s
}

let protoSnapshot: [string, PropertyDescriptor | undefined][]
const snapshot = () => Object.getOwnPropertyNames(Object.prototype).sort().map((k) => [k, Object.getOwnPropertyDescriptor(Object.prototype, k)] as [string, PropertyDescriptor | undefined])
beforeEach(() => {
  protoSnapshot = snapshot()
})
afterEach(() => {
  // Nothing may have reached a prototype or a global.
  expect(snapshot()).toStrictEqual(protoSnapshot)
  expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  expect(([] as unknown as { polluted?: unknown }).polluted).toBeUndefined()
  expect((globalThis as { pwned?: unknown }).pwned).toBeUndefined()
})

describe('sanity: the hand-written helpers produce what the codec produces', () => {
  test('the RepJS tag number and the record head', () => {
    expect(TAGGED_CBOR_TAG).toBe(0x9dd1)
    // -0 is Tagged(NEG_ZERO=1, 0)
    expect(Object.is(codec.decode(hex(`${REPJS_TAG} 82 01 00`), KEY), -0)).toBe(true)
    // {"a": 1} is Tagged(OBJECT=8, ["a", 1])
    expect(codec.decode(hex(`${REPJS_TAG} 82 08 82 ${text('a')} 01`), KEY)).toStrictEqual({ a: 1 })
    const rec = decodeRecord(codec, hex(`${RECORD_HEAD} 18 2a`), AT)
    expect(rec).toStrictEqual({ kind: 'call', name: 'f', argsHash: 'h', site: 's', by: 'b', ok: true, value: 42 })
  })
  test('encodeRecord / decodeRecord round trip', () => {
    const r = { kind: 'call', name: 'f', argsHash: 'abc', site: 'a.ts:1', by: 'r1', ok: false, value: new RepJSError(ErrorCodes.STORE, 'x') }
    const d = decodeRecord(codec, encodeRecord(codec, AT, r), AT)
    expect(d.ok).toBe(false)
    expect(RepJSError.is(d.value, ErrorCodes.STORE)).toBe(true)
  })
})

describe('crafted values are REPJS_CORRUPT, never executed', () => {
  test('a CBOR map (major type 5) where an object is expected', () => {
    expectRejectedEverywhere(`a1 ${text('a')} 01`)
    expectRejectedEverywhere(`a0`)
    // ... also nested inside an array and inside a RepJS OBJECT node
    expectRejectedEverywhere(`82 01 a1 ${text('a')} 01`)
    expectRejectedEverywhere(`${REPJS_TAG} 82 08 82 ${text('k')} a1 ${text('a')} 01`)
  })

  test('a CBOR map with the key "__proto__"', () => {
    const payload = `a1 ${text('__proto__')} a1 ${text('polluted')} f5`
    expectRejectedEverywhere(payload)
    expectRejectedEverywhere(`82 ${payload} ${payload}`)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
  })

  test('an OBJECT node with an own "__proto__" key stays an own property (accepted, not polluting)', () => {
    const d = codec.decode(hex(`${REPJS_TAG} 82 08 82 ${text('__proto__')} ${REPJS_TAG} 82 08 82 ${text('polluted')} f5`), KEY) as object
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(d, '__proto__')!.value).toStrictEqual({ polluted: true })
    expect((d as { polluted?: unknown }).polluted).toBeUndefined()
  })

  test('CBOR tag 27 (generic object) naming Function with code: never constructed or run', () => {
    const payload = `d8 1b 82 ${text('Function')} ${text('globalThis.pwned=1')}`
    expectRejectedEverywhere(payload)
    expectRejectedEverywhere(`d8 1b 82 ${text('eval')} ${text('globalThis.pwned=1')}`)
    expectRejectedEverywhere(`d8 1b 82 ${text('constructor')} ${text('globalThis.pwned=1')}`)
    expectRejectedEverywhere(`d8 1b 82 ${text('__proto__')} ${text('x')}`)
    expectRejectedEverywhere(`d8 1b 82 ${text('RegExp')} ${text('(a+)+$')}`)
    expectRejectedEverywhere(`d8 1b 82 ${text('Error')} ${text('x')}`)
    expect((globalThis as { pwned?: unknown }).pwned).toBeUndefined()
  })

  test('CBOR tags 28/29 (cbor-x shared references)', () => {
    expectRejectedEverywhere('d8 1c 81 d8 1d 00') // a self-containing (cyclic) array
    expectRejectedEverywhere('d8 1c 82 01 81 d8 1d 00') // a cycle one level down
    expectRejectedEverywhere(`d8 1c a1 ${text('self')} d8 1d 00`) // a cyclic map
    expectRejectedEverywhere(`d8 1c ${REPJS_TAG} 82 08 82 ${text('self')} d8 1d 00`) // a cyclic RepJS OBJECT
    expectRejectedEverywhere('d8 1d 00') // a reference with nothing to refer to
    expectRejectedEverywhere('d8 1c 81 d8 1d 05') // a reference to an id never defined
    // A shareable scalar that is never referenced is just that scalar: nothing is shared or built.
    expectRejectedOrInert('d8 1c 01', 1)
  })

  // Regression (was a bug in core/codec.ts fromWire, reachable through cbor-x tags 28/29 in
  // core/cbor-format.ts): shared references that are not cycles are accepted, and
  // fromWire expands the resulting DAG into a tree. N levels of "[ref, ref] to the level below" cost
  // ~6 bytes each but 2^N nodes to decode: 100 bytes here (N=16) become 65536 leaves; 136 bytes
  // (N=22) took ~1.9 s and ~500 MB of heap in a scratch run, and every further level doubles that,
  // so ~180 bytes (N=30) exhaust memory on every replica that reads the key. toWire never produces shared nodes (it builds a fresh node for
  // every occurrence), so the fix is for fromWire to reject any wire node object (array, Uint8Array,
  // Tagged, payload array) it meets a second time ("shared reference"), which also rejects cycles
  // directly instead of via the depth limit.
  test('shared-reference DAGs (a decompression bomb) are rejected, not expanded', () => {
    expectRejectedEverywhere('82 d8 1c 81 01 d8 1d 00') // [[1], <ref to that same [1]>]
    const n = 16
    expect(dagBomb(n).replace(/\s+/g, '').length / 2).toBeLessThanOrEqual(100)
    expectRejectedEverywhere(dagBomb(n))
  })

  test('CBOR tag 258 (set) and other tags cbor-x knows', () => {
    expectRejectedEverywhere('d9 0102 82 01 02') // 258: Set
    expectRejectedEverywhere('d9 0103 a1 01 02') // 259: Map
    expectRejectedEverywhere(`c0 ${text('2020-01-01T00:00:00Z')}`) // 0: date string
    expectRejectedEverywhere('c1 1a 5e0be100') // 1: epoch date
    expectRejectedEverywhere('c2 41 01') // 2: bignum
    expectRejectedEverywhere('c3 41 01') // 3: negative bignum
    expectRejectedOrInert('d8 40 43 010203', new Uint8Array([1, 2, 3])) // 64: Uint8Array, the same as bytes
    expectRejectedEverywhere('d8 48 44 00000000') // 72: Int8Array... (typed-array tags)
    expectRejectedEverywhere(`d8 69 83 00 81 ${text('__proto__')} 01`) // 105: legacy record definition
    expectRejectedEverywhere(`d9 e000 82 81 ${text('__proto__')} a1 ${text('x')} 01`) // record structure tag
    expectRejectedEverywhere('d8 33 84 80 80 80 01') // 51: packed values table
    expectRejectedEverywhere('d8 06 00') // 6: packed reference
  })

  test('an unknown tag', () => {
    expectRejectedEverywhere('d9 03e7 01') // 999
    expectRejectedEverywhere('da 00bc614e 80') // 12345678
    expectRejectedEverywhere(`d8 1e ${text('x')}`) // 30: rational, not handled
  })

  test('RepJS tag 40401 with a bad payload', () => {
    const bad = [
      '01', // not an array
      '80', // []
      '81 01', // [kind] without payload
      '83 01 00 00', // three elements
      `82 ${text('8')} 80`, // kind not a number
      '82 18 63 00', // unknown kind 99
      '82 00 00', // kind 0
      '82 f9 7e00 00', // kind NaN (half float)
      '82 01 01', // NEG_ZERO with a payload other than 0
      `82 01 ${text('0')}`, // NEG_ZERO with a string payload
      '82 09 00', // unknown kind 9
      '82 02 01', // BIGINT not a string
      `82 02 ${text('1.5')}`, // BIGINT not an integer
      `82 02 ${text('0x10')}`, // BIGINT not decimal
      `82 02 ${text('')}`, // BIGINT empty
      `82 03 ${text('2020')}`, // DATE not a number
      '82 03 f6', // DATE null (an invalid date is NaN)
      '82 04 81 01', // MAP odd pair list
      '82 04 01', // MAP not an array
      '82 05 01', // SET not an array
      `82 06 82 ${text('Function')} 41 00`, // TYPED with a made-up type name
      `82 06 82 ${text('Uint8Array')} 41 00`, // TYPED Uint8Array is not a TYPED name (bytes are raw)
      `82 06 82 ${text('Float64Array')} 43 000000`, // TYPED length not a multiple of 8
      `82 06 82 ${text('Int16Array')} 80`, // TYPED bytes not a byte string
      `82 06 81 ${text('Int8Array')}`, // TYPED arity
      '82 07 80', // ERROR arity
      `82 07 87 01 ${text('m')} f6 f6 f6 f6 f6`, // ERROR name not a string
      '82 08 81 01', // OBJECT odd pair list
      '82 08 01', // OBJECT not an array
    ]
    for (const payload of bad) {
      // A hand-written payload can still be fine as a value; each of these must not be.
      expect(() => codec.decode(hex(`${REPJS_TAG} ${payload}`), KEY), payload).toThrow()
      expectRejectedEverywhere(`${REPJS_TAG} ${payload}`)
    }
  })

  test('an OBJECT node whose key is not a string', () => {
    expectRejectedEverywhere(`${REPJS_TAG} 82 08 82 01 02`) // key 1
    expectRejectedEverywhere(`${REPJS_TAG} 82 08 82 f6 02`) // key null
    expectRejectedEverywhere(`${REPJS_TAG} 82 08 82 81 ${text('a')} 02`) // key ["a"]
    expectRejectedEverywhere(`${REPJS_TAG} 82 08 82 ${REPJS_TAG} 82 01 00 02`) // key -0 (a Tagged)
    expectRejectedEverywhere(`${REPJS_TAG} 82 08 82 41 61 02`) // key as bytes b"a"
    const err = corruptFrom(() => codec.decode(hex(`${REPJS_TAG} 82 08 82 01 02`), KEY))
    expect(err.message).toContain('bad object key')
  })

  test('truncated and malformed bytes', () => {
    const good = codec.encode({ a: [1, 'two', 3n, new Map([[1, new Date(0)]])] })
    for (const n of [0, 1, 2, 5, good.length - 1]) expectRejectedEverywhere(Array.from(good.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(''))
    expectRejectedEverywhere('82 01') // array of 2 with one item
    expectRejectedEverywhere('9f 01 02') // indefinite array without break
    expectRejectedEverywhere('65 616263') // text string shorter than announced
    expectRejectedEverywhere('5a ffffffff 00') // 4 GiB byte string announced
    expectRejectedEverywhere('9b 00000000ffffffff 00') // huge array announced
    expectRejectedEverywhere('01 02') // trailing bytes after a complete value
    expectRejectedEverywhere('ff') // a lone break
    expectRejectedEverywhere('1c') // reserved additional info
    const err = corruptFrom(() => codec.decode(new Uint8Array(0), KEY))
    expect(err.cause).toBeDefined()
  })

  test('a value nested beyond the depth limit (e.g. a crafted 10000-deep array)', () => {
    expectRejectedEverywhere('81'.repeat(10_000) + '01')
  })

  test('after hostile input, the decoder still decodes ordinary values correctly', () => {
    for (const h of ['d8 1c 81 d8 1d 00', 'd8 1d 00', '9f 01 02', `d8 1b 82 ${text('Function')} ${text('x')}`]) {
      try {
        codec.decode(hex(h), KEY)
      } catch {
        // expected
      }
      const v = { a: [1, 2, { b: 'c' }], m: new Map([[1, 2]]) }
      expect(codec.decode(codec.encode(v), KEY)).toStrictEqual(v)
    }
  })
})

describe('decodeRecord: valid CBOR with the wrong record shape', () => {
  const cases: [string, string][] = [
    ['a plain number', '01'],
    ['null', 'f6'],
    ['an empty array', '80'],
    ['version 3', `8b 03 ${PLACE} ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5 01`],
    ['version "2" as a string', `8b ${text('2')} ${PLACE} ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5 01`],
    ['ten elements', `8a 02 ${PLACE} ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5`],
    ['twelve elements', `8c 02 ${PLACE} ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5 01 01`],
    ['a version-1 record (no place) in a version-2 run', `88 01 ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5 01`],
    ['kind not a string', `8b 02 ${PLACE} 01 ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5 01`],
    ['name not a string', `8b 02 ${PLACE} ${text('call')} f6 ${text('h')} ${text('s')} ${text('b')} f5 01`],
    ['argsHash not a string', `8b 02 ${PLACE} ${text('call')} ${text('f')} 41 00 ${text('s')} ${text('b')} f5 01`],
    ['site not a string', `8b 02 ${PLACE} ${text('call')} ${text('f')} ${text('h')} 01 ${text('b')} f5 01`],
    ['by not a string', `8b 02 ${PLACE} ${text('call')} ${text('f')} ${text('h')} ${text('s')} f7 f5 01`],
    ['ok not a boolean', `8b 02 ${PLACE} ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} 01 01`],
    ['a RepJS OBJECT instead of an array', `${REPJS_TAG} 82 08 82 ${text('kind')} ${text('call')}`],
    ['a Tagged whose payload is a record', `${REPJS_TAG} 82 05 ${RECORD_HEAD} 01`],
  ]
  test.each(cases)('%s', (_label, h) => {
    corruptFrom(() => decodeRecord(codec, hex(h), AT))
  })
  test('the control record decodes', () => {
    expect(decodeRecord(codec, hex(`${RECORD_HEAD} 01`), AT).value).toBe(1)
  })
  test('a version-1 record decodes only in a run of run record format 1 (legacy)', () => {
    const v1 = hex(`88 01 ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5 01`)
    expect(decodeRecord(codec, v1, AT, { legacy: true })).toStrictEqual({ kind: 'call', name: 'f', argsHash: 'h', site: 's', by: 'b', ok: true, value: 1 })
  })
})

describe('decodeRecord: a record naming another place is REPJS_CORRUPT', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['another slot', `${text('hostile-run')} ${text('main')} 10`, { run: 'hostile-run', stream: 'main', slot: 16 }],
    ['another stream', `${text('hostile-run')} ${text('mainx')} 11`, { run: 'hostile-run', stream: 'mainx', slot: 17 }],
    ['another run', `${text('other-run')} ${text('main')} 11`, { run: 'other-run', stream: 'main', slot: 17 }],
    ['the slot as a string', `${text('hostile-run')} ${text('main')} ${text('17')}`, { run: 'hostile-run', stream: 'main', slot: '17' }],
  ]
  test.each(cases)('%s', (_label, place, found) => {
    const bytes = hex(`8b 02 ${place} ${text('call')} ${text('f')} ${text('h')} ${text('s')} ${text('b')} f5 01`)
    const err = expectRepJSError(() => decodeRecord(codec, bytes, AT), ErrorCodes.CORRUPT)
    expect(err.message).toContain(KEY)
    expect(err.message).toMatch(/was not used/)
    expect(err.details).toStrictEqual({ key: KEY, expected: AT, found })
    // ... even where version-1 records are accepted
    expectRepJSError(() => decodeRecord(codec, bytes, AT, { legacy: true }), ErrorCodes.CORRUPT)
  })
})
