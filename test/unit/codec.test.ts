/**
 * Round trips through core's codec with the CBOR binary format (no network).
 * Every supported type is encoded, decoded and compared; unsupported values must fail with
 * REPJS_UNSERIALIZABLE (or become strings with `lenient`); and fast-check's generator of nested
 * values (in the style of lib0's randomized tests) checks ~500 arbitrary values.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { expectRepJSError } from '../helpers/errors.js'
import { createCodec, fromWire, toWire } from '../../core/codec.js'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { createCborFormat } from '../../core/cbor-format.js'

const codec = createCodec(createCborFormat())
const KEY = '/repjs/v1/unit/s/main/0'

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')

function roundTrip<T>(value: T): T {
  return codec.decode(codec.encode(value), KEY) as T
}

describe('JSON values', () => {
  const values: unknown[] = [
    null, true, false, 0, 1, -1, 23, 24, 255, 256, 65535, 65536, 2 ** 31, -(2 ** 31) - 1, 2 ** 32,
    2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Number.MAX_VALUE,
    Number.MIN_VALUE, Number.EPSILON, 0.1, -1.5, 1e300, 1e-300, 3.4028234663852886e38,
    '', 'a', 'héllo wörld', '日本語', '😀 astral', 'a'.repeat(70000), '\u0000', '\uffff',
    [], [1, 'two', null, [3, [4, []]]], {}, { a: 1, b: 'x', c: [true, { d: null }] },
    { '': 0, '0': 'zero', '10': 'ten', constructor: 'c', toString: 't', hasOwnProperty: 'h' },
    JSON.parse('{"nested":{"deep":{"deeper":[1,2,{"x":"y"}]}}}'),
  ]
  test.each(values.map((v) => [JSON.stringify(v)?.slice(0, 60), v]))('%s', (_label, v) => {
    expect(roundTrip(v)).toStrictEqual(v)
  })

  test('object keys keep their order', () => {
    const o = { z: 1, a: 2, m: 3 }
    expect(Object.keys(roundTrip(o))).toEqual(['z', 'a', 'm'])
  })

  test('decoded objects and arrays are plain', () => {
    const d = roundTrip({ a: [1] }) as { a: unknown[] }
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype)
    expect(Array.isArray(d.a)).toBe(true)
  })

  test('a shared (non-cyclic) reference is fine and decodes as two equal copies', () => {
    const shared = { x: 1 }
    const d = roundTrip([shared, shared, { s: shared }]) as [object, object, { s: object }]
    expect(d).toStrictEqual([{ x: 1 }, { x: 1 }, { s: { x: 1 } }])
  })
})

describe('undefined', () => {
  test('at the top level', () => {
    expect(roundTrip(undefined)).toBeUndefined()
  })
  test('nested in an object stays an own property with value undefined', () => {
    const d = roundTrip({ a: undefined, b: 1 }) as Record<string, unknown>
    expect(Object.keys(d)).toEqual(['a', 'b'])
    expect('a' in d).toBe(true)
    expect(d.a).toBeUndefined()
    expect(d).toStrictEqual({ a: undefined, b: 1 })
  })
  test('nested in an array', () => {
    const d = roundTrip([undefined, 1, undefined]) as unknown[]
    expect(d).toHaveLength(3)
    expect(d).toStrictEqual([undefined, 1, undefined])
  })
  test('as a Map key and value, and in a Set', () => {
    expect(roundTrip(new Map([[undefined, undefined]]))).toStrictEqual(new Map([[undefined, undefined]]))
    expect(roundTrip(new Set([undefined]))).toStrictEqual(new Set([undefined]))
  })
})

describe('special numbers', () => {
  test('NaN', () => {
    expect(Number.isNaN(roundTrip(NaN))).toBe(true)
  })
  test('Infinity and -Infinity', () => {
    expect(roundTrip(Infinity)).toBe(Infinity)
    expect(roundTrip(-Infinity)).toBe(-Infinity)
  })
  test('-0 keeps its sign (Object.is), also nested', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true)
    expect(Object.is(roundTrip(0), 0)).toBe(true)
    const d = roundTrip({ z: -0, a: [-0, 0] }) as { z: number; a: number[] }
    expect(Object.is(d.z, -0)).toBe(true)
    expect(Object.is(d.a[0], -0)).toBe(true)
    expect(Object.is(d.a[1], 0)).toBe(true)
  })
  test('in containers', () => {
    const d = roundTrip([NaN, Infinity, -Infinity]) as number[]
    expect(d).toStrictEqual([NaN, Infinity, -Infinity])
  })
  test('every NaN encodes to the same bytes, whatever its bit pattern, and re-encodes to them', () => {
    // NaNs read out of a Float64Array keep their payload, and reading a signalling one back from
    // CBOR's float64 may quiet it: the bytes of a record (hashed, compared) must not depend on that.
    const nan = (bits: bigint) => new Float64Array(new BigUint64Array([bits]).buffer)[0]!
    const nans = [NaN, 0 / 0, nan(0x7ff1000000000000n), nan(0xfff8000000000000n), nan(0x7fffffffffffffffn), nan(0x7ff8000000000001n)]
    const canonical = 'fb7ff8000000000000' // the quiet NaN, as every earlier version wrote the constant NaN
    expect(hex(codec.encode(NaN))).toBe(canonical)
    for (const v of nans) {
      expect(Number.isNaN(v)).toBe(true)
      expect(hex(codec.encode(v))).toBe(canonical)
      expect(hex(codec.encode({ a: [v] }))).toBe(hex(codec.encode({ a: [NaN] })))
      expect(hex(codec.encode(codec.decode(codec.encode(v), KEY)))).toBe(canonical)
    }
    // An invalid Date's time value is a NaN too: the constant one (TimeClip), whatever NaN made it.
    expect(hex(codec.encode(new Date(nan(0xfff8000000000000n))))).toContain(canonical)
  })
})

describe('BigInt', () => {
  const values = [0n, 1n, 42n, -1n, -42n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 64n, 2n ** 64n + 1n, 2n ** 200n + 12345n, -(2n ** 300n) - 7n]
  test.each(values.map((v) => [v.toString().slice(0, 40), v]))('%s', (_label, v) => {
    const d = roundTrip(v)
    expect(typeof d).toBe('bigint')
    expect(d).toBe(v)
  })
  test('nested', () => {
    expect(roundTrip({ n: [1n, -(2n ** 70n)] })).toStrictEqual({ n: [1n, -(2n ** 70n)] })
  })
})

describe('Date', () => {
  test('valid dates', () => {
    for (const ms of [0, 1, -1, 1_700_000_000_123, -62_135_596_800_000, 8.64e15, -8.64e15]) {
      const d = roundTrip(new Date(ms))
      expect(d).toBeInstanceOf(Date)
      expect(d.getTime()).toBe(ms)
    }
  })
  test('an invalid date stays an invalid Date', () => {
    const d = roundTrip(new Date(NaN))
    expect(d).toBeInstanceOf(Date)
    expect(Number.isNaN(d.getTime())).toBe(true)
    const d2 = roundTrip(new Date('not a date'))
    expect(d2).toBeInstanceOf(Date)
    expect(Number.isNaN(d2.getTime())).toBe(true)
  })
})

describe('Map and Set', () => {
  test('Map with non-string keys', () => {
    const m = new Map<unknown, unknown>([
      [1, 'one'], ['1', 'string one'], [true, 't'], [null, 'n'], [-0.5, 'f'], [2n ** 70n, 'big'],
      [new Date(5), 'date'], [[1, 2], 'array key'], [{ k: 'v' }, 'object key'], [NaN, 'nan'],
    ])
    const d = roundTrip(m)
    expect(d).toBeInstanceOf(Map)
    expect(d.size).toBe(m.size)
    expect([...d.entries()]).toStrictEqual([...m.entries()])
    expect(d.get(1)).toBe('one')
    expect(d.get('1')).toBe('string one')
    expect(d.get(NaN)).toBe('nan')
    expect(d.get(2n ** 70n)).toBe('big')
  })
  test('nested Maps and Sets', () => {
    const m = new Map<unknown, unknown>([
      ['inner', new Map([[new Map([[1, 2]]), new Set([new Map([['x', new Set([1, 2, 3])]])])]])],
      [new Set(['a']), [new Map(), new Set()]],
    ])
    expect(roundTrip(m)).toStrictEqual(m)
  })
  test('insertion order is kept', () => {
    const m = new Map([[3, 'c'], [1, 'a'], [2, 'b']])
    expect([...roundTrip(m).keys()]).toEqual([3, 1, 2])
    expect([...roundTrip(new Set(['z', 'a', 'm']))]).toEqual(['z', 'a', 'm'])
  })
  test('Set of mixed values', () => {
    const s = new Set<unknown>([1, '1', null, undefined, 1n, { a: 1 }, [2], new Date(3), -0])
    const d = roundTrip(s)
    expect(d).toBeInstanceOf(Set)
    expect(d).toStrictEqual(s)
  })
})

describe('binary data', () => {
  test('Uint8Array', () => {
    const u = new Uint8Array([0, 1, 2, 254, 255])
    const d = roundTrip(u)
    expect(Object.getPrototypeOf(d)).toBe(Uint8Array.prototype)
    expect(d).toStrictEqual(u)
    expect(roundTrip(new Uint8Array(0))).toStrictEqual(new Uint8Array(0))
  })
  test('a Uint8Array view copies only its window', () => {
    const u = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4)
    const d = roundTrip(u)
    expect(d).toStrictEqual(new Uint8Array([1, 2, 3]))
    expect(d.byteOffset).toBe(0)
    expect(d.buffer.byteLength).toBe(3)
  })
  test('ArrayBuffer', () => {
    const ab = new Uint8Array([5, 6, 7]).buffer
    const d = roundTrip(ab)
    expect(d).toBeInstanceOf(ArrayBuffer)
    expect([...new Uint8Array(d)]).toEqual([5, 6, 7])
    expect(roundTrip(new ArrayBuffer(0)).byteLength).toBe(0)
  })

  const typed: [string, ArrayBufferView][] = [
    ['Int8Array', Int8Array.from([-128, -1, 0, 1, 127])],
    ['Uint8ClampedArray', Uint8ClampedArray.from([0, 128, 255])],
    ['Int16Array', Int16Array.from([-32768, -1, 0, 1, 32767])],
    ['Uint16Array', Uint16Array.from([0, 1, 65535])],
    ['Int32Array', Int32Array.from([-(2 ** 31), -1, 0, 1, 2 ** 31 - 1])],
    ['Uint32Array', Uint32Array.from([0, 1, 2 ** 32 - 1])],
    ['Float32Array', Float32Array.from([0, -0, 1.5, -3.25, Infinity, -Infinity, NaN, 3.4e38])],
    ['Float64Array', Float64Array.from([0, -0, Math.PI, -1e300, Infinity, -Infinity, NaN, Number.MIN_VALUE])],
    ['BigInt64Array', BigInt64Array.from([-(2n ** 63n), -1n, 0n, 1n, 2n ** 63n - 1n])],
    ['BigUint64Array', BigUint64Array.from([0n, 1n, 2n ** 64n - 1n])],
  ]
  test.each(typed)('%s', (name, arr) => {
    const d = roundTrip(arr) as ArrayBufferView
    expect(d.constructor.name).toBe(name)
    expect(d).toStrictEqual(arr)
    // Exact bytes (catches -0 and NaN payloads, which element comparison may not).
    expect(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).toStrictEqual(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength))
  })
  test('a typed array view over part of a buffer', () => {
    const f = new Float64Array([1, 2, 3, 4]).subarray(1, 3)
    const d = roundTrip(f)
    expect(d).toBeInstanceOf(Float64Array)
    expect([...d]).toEqual([2, 3])
  })
  test('a Node Buffer decodes as a plain Uint8Array', () => {
    const d = roundTrip(Buffer.from([1, 2, 3]))
    expect(Object.getPrototypeOf(d)).toBe(Uint8Array.prototype)
    expect([...d]).toEqual([1, 2, 3])
  })
})

describe('Error objects, as data', () => {
  test('name, message, code, cause and stack are preserved', () => {
    const cause = new Error('root cause')
    const e = new Error('top', { cause }) as Error & { code?: string }
    e.name = 'CustomError'
    e.code = 'E_CUSTOM'
    const d = roundTrip(e) as Error & { code?: string; cause?: Error }
    expect(d).toBeInstanceOf(Error)
    expect(d.name).toBe('CustomError')
    expect(d.message).toBe('top')
    expect(d.code).toBe('E_CUSTOM')
    expect(d.stack).toBe(e.stack)
    expect(d.cause).toBeInstanceOf(Error)
    expect(d.cause!.message).toBe('root cause')
    expect(d.cause!.stack).toBe(cause.stack)
  })
  test('a numeric code and a non-error cause', () => {
    const e = new Error('m', { cause: { why: [1, 2n] } }) as Error & { code?: number }
    e.code = 42
    const d = roundTrip(e) as Error & { code?: number }
    expect(d.code).toBe(42)
    expect(d.cause).toStrictEqual({ why: [1, 2n] })
  })
  test('a built-in error subclass keeps its name (decoded as a plain Error)', () => {
    const d = roundTrip(new TypeError('bad type')) as Error
    expect(d).toBeInstanceOf(Error)
    expect(d.name).toBe('TypeError')
    expect(d.message).toBe('bad type')
  })
  test('errors nested in values', () => {
    const d = roundTrip({ errs: [new Error('a')], m: new Map([['e', new RangeError('b')]]) }) as { errs: Error[]; m: Map<string, Error> }
    expect(d.errs[0]).toBeInstanceOf(Error)
    expect(d.errs[0]!.message).toBe('a')
    expect(d.m.get('e')!.name).toBe('RangeError')
  })
  test('an unencodable cause is kept as its string form', () => {
    const d = roundTrip(new Error('m', { cause: () => 1 })) as Error
    expect(typeof d.cause).toBe('string')
  })
  test('a RepJSError with a REPJS_* code decodes as a RepJSError', () => {
    const e = new RepJSError(ErrorCodes.STORE, 'store broke', { details: { key: '/k', n: 3n }, cause: new Error('io') })
    const d = roundTrip(e)
    expect(d).toBeInstanceOf(RepJSError)
    expect(RepJSError.is(d, ErrorCodes.STORE)).toBe(true)
    expect(RepJSError.is(d, ErrorCodes.CORRUPT)).toBe(false)
    expect(d.code).toBe('REPJS_STORE')
    expect(d.name).toBe('RepJSError')
    expect(d.message).toBe('store broke')
    expect(d.details).toStrictEqual({ key: '/k', n: 3n })
    expect(d.stack).toBe(e.stack)
    expect((d.cause as Error).message).toBe('io')
  })
  test('the UNSERIALIZABLE error itself round-trips (engine records it as an outcome)', () => {
    let err: unknown
    try {
      toWire({ f: () => 1 })
    } catch (e) {
      err = e
    }
    const d = roundTrip(err)
    expect(RepJSError.is(d, ErrorCodes.UNSERIALIZABLE)).toBe(true)
    expect((d as RepJSError).details).toStrictEqual({ what: 'a function', path: '.f' })
  })
  test('a plain Error whose code merely looks like REPJS_* is treated as a RepJSError', () => {
    const e = new Error('x') as Error & { code?: string }
    e.code = 'REPJS_CLOSED'
    expect(RepJSError.is(roundTrip(e), ErrorCodes.CLOSED)).toBe(true)
  })
})

describe('own __proto__ keys', () => {
  test('round-trip as an own data property without touching prototypes', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort()
    const o = JSON.parse('{"__proto__":{"x":1},"y":2}') as Record<string, unknown>
    expect(Object.prototype.hasOwnProperty.call(o, '__proto__')).toBe(true)
    const d = roundTrip(o) as Record<string, unknown>
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype)
    expect(Object.prototype.hasOwnProperty.call(d, '__proto__')).toBe(true)
    expect(Object.getOwnPropertyDescriptor(d, '__proto__')!.value).toStrictEqual({ x: 1 })
    expect(Object.keys(d)).toEqual(['__proto__', 'y'])
    expect((d as { x?: unknown }).x).toBeUndefined()
    expect(({} as { x?: unknown }).x).toBeUndefined()
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before)
  })
  test('nested, and as a Map key', () => {
    const o = JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as { a: Record<string, unknown> }
    const d = roundTrip(o) as { a: Record<string, unknown> }
    expect(Object.getPrototypeOf(d.a)).toBe(Object.prototype)
    expect(Object.prototype.hasOwnProperty.call(d.a, '__proto__')).toBe(true)
    expect((d.a as { polluted?: unknown }).polluted).toBeUndefined()
    const m = roundTrip(new Map([['__proto__', 1]]))
    expect(m.get('__proto__')).toBe(1)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })
})

describe('unserializable values', () => {
  class Point {
    constructor(
      public x: number,
      public y: number,
    ) {}
  }
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  const cyclicArray: unknown[] = [1]
  cyclicArray.push([cyclicArray])
  const cases: [string, unknown][] = [
    ['a function', () => 1],
    ['a function nested in an object', { ok: 1, f() {} }],
    ['a symbol', Symbol('s')],
    ['a symbol in an array', [1, Symbol.iterator]],
    ['a class instance', new Point(1, 2)],
    ['a class instance in a Map', new Map([['p', new Point(1, 2)]])],
    ['a cyclic object', cyclic],
    ['a cyclic array', cyclicArray],
    ['a RegExp', /x/],
    ['a boxed Number', Object(3)],
    ['a WeakMap', new WeakMap()],
    ['a Promise', Promise.resolve(1)],
    ['a DataView', new DataView(new ArrayBuffer(2))],
  ]
  test.each(cases)('toWire throws REPJS_UNSERIALIZABLE for %s', (_label, v) => {
    const err = expectRepJSError(() => toWire(v), ErrorCodes.UNSERIALIZABLE)
    expect(err.message).toMatch(/Cannot replicate/)
    expectRepJSError(() => codec.encode(v), ErrorCodes.UNSERIALIZABLE)
  })
  test.each(cases)('toWire(lenient) does not throw for %s, and the tree encodes', (_label, v) => {
    let tree: unknown
    expect(() => {
      tree = toWire(v, true)
    }).not.toThrow()
    expect(() => codec.format.encode(tree)).not.toThrow()
    expect(() => fromWire(codec.format.decode(codec.format.encode(tree)))).not.toThrow()
  })
  test('the error names the path of the bad value', () => {
    const err = expectRepJSError(() => toWire({ a: [0, { b: () => 1 }] }), ErrorCodes.UNSERIALIZABLE)
    expect(err.details).toStrictEqual({ what: 'a function', path: '.a[1].b' })
    const cyc = expectRepJSError(() => toWire(cyclic), ErrorCodes.UNSERIALIZABLE)
    expect(cyc.details).toStrictEqual({ what: 'a cyclic reference', path: '.self' })
    const cls = expectRepJSError(() => toWire(new Point(1, 2)), ErrorCodes.UNSERIALIZABLE)
    expect(cls.message).toContain('Point')
  })
  test('lenient replaces the bad parts with descriptive strings', () => {
    const tree = toWire({ f: () => 1, s: Symbol('x'), p: new Point(1, 2), c: cyclic }, true)
    const d = fromWire(codec.format.decode(codec.format.encode(tree))) as Record<string, unknown>
    expect(d.f).toBe('<function>')
    expect(d.s).toBe('<symbol>')
    expect(d.p).toBe('<an instance of Point>')
    expect((d.c as Record<string, unknown>).self).toBe('<cycle>')
  })
})

describe('limits: whatever encodes must decode (or be refused as UNSERIALIZABLE)', () => {
  /** Either encoding refuses the value with REPJS_UNSERIALIZABLE, or it decodes back equal. */
  function expectEncodeRefusesOrRoundTrips(value: unknown, check: (decoded: unknown) => void): void {
    let bytes: Uint8Array
    try {
      bytes = codec.encode(value)
    } catch (err) {
      expect(RepJSError.is(err, ErrorCodes.UNSERIALIZABLE), `encode threw ${String(err)}`).toBe(true)
      return
    }
    check(codec.decode(bytes, KEY))
  }

  test('nesting exactly at the decoder limit (512) round-trips', () => {
    let v: unknown = 'leaf'
    for (let i = 0; i < 512; i++) v = [v]
    expect(roundTrip(v)).toStrictEqual(v)
  })

  // Regression (was a bug in core/codec.ts): toWire has no depth limit but fromWire rejects nesting deeper than
  // MAX_DEPTH (512). A value nested 600 levels deep is encoded and agreed, then every replica
  // (the proposer too) fails to decode its own record with REPJS_CORRUPT ("Someone wrote to this
  // run's keys outside RepJS"). Fix: enforce MAX_DEPTH in toWire (throw UnserializableError).
  test('a value nested deeper than 512 levels is refused at encode time, not found corrupt later', () => {
    let v: unknown = 'leaf'
    for (let i = 0; i < 600; i++) v = [v]
    expectEncodeRefusesOrRoundTrips(v, (d) => expect(d).toStrictEqual(v))
  })

  // Regression (was a bug in core/codec.ts): a very deeply nested value makes toWire overflow the stack and throw a
  // RangeError instead of REPJS_UNSERIALIZABLE; lenient mode (used to hash call arguments) throws
  // too, although it promises never to. Fix: the same depth limit in toWire.
  test('a pathologically deep value fails with REPJS_UNSERIALIZABLE, and lenient does not throw', () => {
    let v: unknown = 0
    for (let i = 0; i < 200_000; i++) v = [v]
    expectRepJSError(() => toWire(v), ErrorCodes.UNSERIALIZABLE)
    expect(() => toWire(v, true)).not.toThrow()
  })

  // Regression (was a bug in core/codec.ts): fromWire only accepts BIGINT strings of at most 100000 digits, but toWire
  // encodes any BigInt. 2n ** 400000n (120412 digits) is agreed and then REPJS_CORRUPT everywhere.
  // Fix: refuse BigInts over the decode limit in toWire (UnserializableError), or lift the limit.
  test('a BigInt beyond the decoder digit limit is refused at encode time, not found corrupt later', () => {
    const big = 2n ** 400_000n
    expectEncodeRefusesOrRoundTrips(big, (d) => expect(d === big).toBe(true))
  })

  // Regression (was a bug in core/codec.ts toWire, with cbor-x in core/cbor-format.ts): strings with lone
  // UTF-16 surrogates (valid JavaScript strings, which JSON.stringify round-trips) are silently
  // changed: cbor-x writes U+D800 as the bytes ED A0 80, which is not UTF-8 (so the stored CBOR is
  // invalid), and decoding gives three U+FFFD: 'a\ud800b' comes back as 'a\ufffd\ufffd\ufffdb'.
  // Object keys too. Fix: in toWire, refuse non-well-formed strings (values and object keys;
  // /\p{Cs}/u matches only unpaired surrogates) as UNSERIALIZABLE, or encode them as a tagged
  // UTF-16 node.
  test('a string with a lone surrogate is never silently changed', () => {
    const s = 'a\ud800b'
    expect(JSON.parse(JSON.stringify(s))).toBe(s)
    expectEncodeRefusesOrRoundTrips(s, (d) => expect(d).toBe(s))
    expectEncodeRefusesOrRoundTrips({ ['k\udc00']: 1 }, (d) => expect(Object.keys(d as object)).toEqual(['k\udc00']))
  })
})

// ---------------------------------------------------------------------------------------------
// Property: any nested value round-trips (fast-check generates them, shrinks a failure to a small
// counterexample and prints the seed that replays it).

const SPECIAL_NUMBERS = [0, -0, 1, -1, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 2 ** 31, -(2 ** 31) - 1, 2 ** 32, Number.MAX_VALUE, Number.MIN_VALUE, 0.1]
const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', '', '0', '1', '-1', '01', 'length', '__defineGetter__']
const TYPED_CTORS = [Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]

/** Printable, control, BMP and astral characters (whole code points: no lone surrogates). */
const anyString = fc.string({ unit: 'binary', maxLength: 12 })
const ownBytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => b.slice())
const anyNumber = fc.oneof(
  fc.constantFrom(...SPECIAL_NUMBERS),
  fc.integer({ min: -1000, max: 1000 }),
  fc.maxSafeInteger(),
  fc.double(), // NaN, -0, ±Infinity, subnormals included
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => new Float64Array(b.slice().buffer)[0]!), // any bit pattern, NaN payloads included
)
const anyError = fc.record({ message: anyString, code: fc.option(fc.oneof(fc.integer({ min: 0, max: 99 }).map((n) => `E_${n}`), fc.integer({ min: 0, max: 99 })), { nil: undefined }) })
  .map(({ message, code }) => {
    const e = new Error(message) as Error & { code?: unknown }
    if (code !== undefined) e.code = code
    return e
  })
const anyLeaf = fc.oneof(
  fc.constant(undefined), fc.constant(null), fc.boolean(), anyNumber, anyString,
  fc.bigInt({ min: -(10n ** 41n), max: 10n ** 41n }),
  fc.date({ noInvalidDate: false }),
  ownBytes(16), ownBytes(8).map((b) => b.buffer),
  fc.tuple(fc.constantFrom(...TYPED_CTORS), fc.integer({ min: 0, max: 4 })).chain(([Ctor, n]) =>
    fc.uint8Array({ minLength: Ctor.BYTES_PER_ELEMENT * n, maxLength: Ctor.BYTES_PER_ELEMENT * n }).map((b) => new Ctor(b.slice().buffer))),
  anyError,
)
/** An object from [key, value] pairs: defineProperty, so '__proto__' becomes an own key, as the decoder does. */
const objectOf = (entries: [string, unknown][]) => {
  const o: Record<string, unknown> = {}
  for (const [k, value] of entries) Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true })
  return o
}
const { anyValue } = fc.letrec<{ anyValue: unknown }>((tie) => {
  const kids = fc.array(tie('anyValue'), { maxLength: 5 })
  return {
    anyValue: fc.oneof(
      { maxDepth: 5, depthSize: 'small' },
      anyLeaf,
      kids,
      fc.array(fc.tuple(fc.oneof(fc.constantFrom(...SPECIAL_KEYS), anyString), tie('anyValue')), { maxLength: 5 }).map(objectOf),
      fc.array(fc.tuple(tie('anyValue'), tie('anyValue')), { maxLength: 5 }).map((e) => new Map(e)),
      kids.map((v) => new Set(v)),
    ),
  }
})

/**
 * Exact structural comparison: Object.is for primitives, same prototypes, same own keys in the same
 * order (an own '__proto__' or 'constructor' key is just a key), Map/Set entries in order, exact
 * bytes for binary data, and name/message/code/cause/stack for errors. Returns the path of the
 * first difference, or undefined.
 */
function firstDifference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`
  if (typeof a !== 'object' || a === null || b === null) return Object.is(a, b) ? undefined : `${path}: ${String(a)} vs ${String(b)}`
  const x = a as object
  const y = b as object
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return `${path}: different prototypes`
  const bytes = (v: ArrayBuffer | ArrayBufferView) => (v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
  const sameBytes = (p: Uint8Array, q: Uint8Array) => p.length === q.length && p.every((v, i) => v === q[i])
  if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) {
    return sameBytes(bytes(x), bytes(y as ArrayBufferView)) ? undefined : `${path}: different bytes`
  }
  if (x instanceof Date) return Object.is(x.getTime(), (y as Date).getTime()) ? undefined : `${path}: different dates`
  if (Array.isArray(x)) {
    const ya = y as unknown[]
    if (x.length !== ya.length) return `${path}: length ${x.length} vs ${ya.length}`
    for (let i = 0; i < x.length; i++) {
      const d = firstDifference(x[i], ya[i], `${path}[${i}]`)
      if (d) return d
    }
    return undefined
  }
  if (x instanceof Map || x instanceof Set) {
    const xs = [...(x instanceof Map ? x.entries() : x.values())]
    const ys = [...(y instanceof Map ? y.entries() : (y as Set<unknown>).values())]
    return firstDifference(xs, ys, `${path}<entries>`)
  }
  if (x instanceof Error) {
    const ye = y as Error & Record<string, unknown>
    const xe = x as Error & Record<string, unknown>
    for (const k of ['name', 'message', 'stack', 'code', 'cause']) {
      const d = firstDifference(xe[k], ye[k], `${path}.${k}`)
      if (d) return d
    }
    if ('cause' in xe !== 'cause' in ye) return `${path}: cause presence`
  }
  const kx = Object.keys(x)
  const ky = Object.keys(y)
  if (kx.join('\u0000') !== ky.join('\u0000')) return `${path}: keys ${JSON.stringify(kx)} vs ${JSON.stringify(ky)}`
  for (const k of kx) {
    const d = firstDifference(Object.getOwnPropertyDescriptor(x, k)!.value, Object.getOwnPropertyDescriptor(y, k)!.value, `${path}[${JSON.stringify(k)}]`)
    if (d) return d
  }
  return undefined
}

describe('property: round trips', () => {
  test('any nested value decodes equal and re-encodes to the same bytes', () => {
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort()
    fc.assert(
      fc.property(anyValue, (value) => {
        const bytes = codec.encode(value)
        const decoded = codec.decode(bytes, KEY)
        expect(firstDifference(value, decoded)).toBeUndefined()
        // Same value, same bytes: re-encoding the decoded value is byte-identical.
        expect(hex(codec.encode(decoded))).toBe(hex(bytes))
      }),
      { numRuns: 500 },
    )
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore)
  })

  test('the comparator used above does see differences', () => {
    expect(firstDifference(-0, 0)).toBeDefined()
    expect(firstDifference(NaN, NaN)).toBeUndefined()
    expect(firstDifference(new Map([[1, 2]]), new Map([[1, 3]]))).toBeDefined()
    expect(firstDifference(new Set([1, 2]), new Set([2, 1]))).toBeDefined()
    expect(firstDifference({ a: 1, b: 2 }, { b: 2, a: 1 })).toBeDefined()
    expect(firstDifference(new Int8Array(1), new Uint8Array(1))).toBeDefined()
    expect(firstDifference(new Float64Array([-0]), new Float64Array([0]))).toBeDefined()
    expect(firstDifference(new Error('a'), new Error('a'))).toBeDefined() // different stacks
    expect(firstDifference(JSON.parse('{"__proto__":1}'), {})).toBeDefined()
  })
})
