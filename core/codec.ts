/**
 * Structured values, as data. `toWire` turns a JavaScript value into a tree of plain JSON-like
 * nodes and `Tagged` nodes; a `BinaryFormat` (CBOR, injected by the runtime adapter) turns that
 * tree into bytes. `fromWire` is a strict interpreter of the tree: it only builds the types listed
 * below, never calls a constructor named by the data, never evaluates code, and defines object
 * keys as own data properties (so `__proto__` cannot reach a prototype).
 *
 *   value   := undefined | null | boolean | number | string | Uint8Array | value[]
 *            | Tagged(kind, payload)
 *   kinds   : NEG_ZERO · BIGINT(decimal string) · DATE(ms) · MAP([k,v,...]) · SET([v,...])
 *             TYPED([type, bytes]) · ERROR([name, message, code, cause, stack, replica, details])
 *             OBJECT([key, value, ...])
 *
 * Same value, same bytes: a float's bytes carry what JavaScript cannot see, so -0 is tagged and
 * every NaN is written as the one NaN constant (an invalid Date's time already is one), whose bytes
 * are the quiet NaN `fb 7ff8000000000000`: a NaN read from a Float64Array keeps its payload, a
 * signalling one read back from float64 comes back quieted, and x86 computes 0/0 as `fff8...` where
 * ARM gives `7ff8...`. (Earlier versions wrote a NaN's own bits: such records still decode to NaN;
 * an argument hash an earlier version took over a NaN of other bits differs from this one's.)
 */
import { corruptError, ErrorCodes, RepJSError, type ErrorCode } from './errors.js'

/** A tagged node of the wire tree; the binary format maps it to one CBOR tag. */
export class Tagged {
  constructor(
    readonly kind: number,
    readonly payload: unknown,
  ) {}
}

/** Bytes <-> wire tree. Must encode `Tagged` and decode it back to a `Tagged`. */
export interface BinaryFormat {
  encode(tree: unknown): Uint8Array
  decode(bytes: Uint8Array): unknown
}

export const Kind = { NEG_ZERO: 1, BIGINT: 2, DATE: 3, MAP: 4, SET: 5, TYPED: 6, ERROR: 7, OBJECT: 8 } as const

const TYPED_NAMES = [
  'ArrayBuffer', 'Int8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
] as const
type TypedName = (typeof TYPED_NAMES)[number]
const TYPED_CTORS: Record<TypedName, { new (b: ArrayBuffer): unknown; BYTES_PER_ELEMENT?: number }> = {
  ArrayBuffer: class {
    constructor(b: ArrayBuffer) {
      return b
    }
  } as unknown as { new (b: ArrayBuffer): unknown },
  Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
}

const MAX_DEPTH = 512
const MAX_BIGINT_DIGITS = 100_000
/** A lone UTF-16 surrogate: CBOR text must be valid UTF-8, so such a string cannot round-trip. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

export class UnserializableError extends RepJSError {
  constructor(what: string, path: string) {
    super(
      ErrorCodes.UNSERIALIZABLE,
      `Cannot replicate ${what} at ${path || 'the top level'}: replicated values must be data ` +
        `(JSON, undefined, BigInt, Date, Map, Set, typed arrays, Error). Return data instead.`,
      { details: { what, path } },
    )
  }
}

function typedName(v: object): TypedName | undefined {
  if (v instanceof ArrayBuffer) return 'ArrayBuffer'
  if (!ArrayBuffer.isView(v) || v instanceof DataView) return undefined
  const name = Object.getPrototypeOf(Object.getPrototypeOf(v)) && (v as { constructor: { name: string } }).constructor.name
  return (TYPED_NAMES as readonly string[]).includes(name) ? (name as TypedName) : undefined
}

function copyBytes(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0))
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))
}

/**
 * JavaScript value -> wire tree. Throws `UnserializableError` for functions, symbols, class
 * instances, cycles. With `lenient`, such values become a descriptive string instead (used to
 * hash call arguments, which are compared, never replayed).
 */
export function toWire(value: unknown, lenient = false): unknown {
  const seen = new Set<object>()
  const refuse = (what: string, path: string, label = what): string => {
    if (lenient) return `<${label}>`
    throw new UnserializableError(what, path)
  }
  const text = (s: string, path: string): string => (LONE_SURROGATE.test(s) ? refuse('a string with a lone UTF-16 surrogate', path) : s)
  const walk = (v: unknown, path: string): unknown => {
    switch (typeof v) {
      case 'undefined': case 'boolean':
        return v
      case 'string':
        return text(v, path)
      case 'number':
        if (v !== v) return NaN // the constant, whatever this NaN's bits (see above)
        return Object.is(v, -0) ? new Tagged(Kind.NEG_ZERO, 0) : v
      case 'bigint': {
        const digits = v.toString()
        return digits.length > MAX_BIGINT_DIGITS + 1 ? refuse(`a BigInt of more than ${MAX_BIGINT_DIGITS} digits`, path) : new Tagged(Kind.BIGINT, digits)
      }
      case 'function': case 'symbol':
        return refuse(`a ${typeof v}`, path, typeof v)
    }
    if (v === null) return null
    const o = v as object
    if (seen.has(o)) return refuse('a cyclic reference', path, 'cycle')
    if (seen.size >= MAX_DEPTH) return refuse(`a value nested more than ${MAX_DEPTH} levels deep`, path)
    seen.add(o)
    try {
      if (Array.isArray(o)) return o.map((x, i) => walk(x, `${path}[${i}]`))
      if (o instanceof Uint8Array && (Object.getPrototypeOf(o) === Uint8Array.prototype || o.constructor.name === 'Buffer')) return copyBytes(o)
      if (o instanceof Date) return new Tagged(Kind.DATE, o.getTime())
      if (o instanceof Map) {
        const flat: unknown[] = []
        for (const [k, x] of o) flat.push(walk(k, `${path}<key>`), walk(x, `${path}.get(...)`))
        return new Tagged(Kind.MAP, flat)
      }
      if (o instanceof Set) return new Tagged(Kind.SET, [...o].map((x) => walk(x, `${path}<item>`)))
      if (o instanceof Error) return errorToWire(o, walk, path)
      const tn = typedName(o)
      if (tn) return new Tagged(Kind.TYPED, [tn, copyBytes(o as ArrayBufferView)])
      const proto = Object.getPrototypeOf(o)
      if (proto === Object.prototype || proto === null) {
        const flat: unknown[] = []
        for (const k of Object.keys(o)) flat.push(text(k, `${path}<key>`), walk((o as Record<string, unknown>)[k], `${path}.${k}`))
        return new Tagged(Kind.OBJECT, flat)
      }
      return refuse(`an instance of ${(o as { constructor?: { name?: string } }).constructor?.name ?? 'a class'}`, path)
    } finally {
      seen.delete(o)
    }
  }
  return walk(value, '')
}

function errorToWire(e: Error, walk: (v: unknown, p: string) => unknown, path: string): Tagged {
  const any = e as Error & { code?: unknown; replica?: unknown; details?: unknown }
  const code = typeof any.code === 'string' || typeof any.code === 'number' ? any.code : null
  let cause: unknown = null
  if (any.cause !== undefined) {
    try {
      cause = walk(any.cause, `${path}.cause`)
    } catch {
      cause = String(any.cause)
    }
  }
  let details: unknown = null
  if (RepJSError.is(e)) {
    try {
      details = walk(e.details, `${path}.details`)
    } catch {
      details = null
    }
  }
  return new Tagged(Kind.ERROR, [
    String(e.name), String(e.message), code, cause, typeof e.stack === 'string' ? e.stack : null,
    typeof any.replica === 'string' ? any.replica : null, details,
  ])
}

/** A decoded error outcome: carries what the raising replica threw, as data. */
export interface AgreedErrorFields {
  replica?: string
}

/** A wire tree that is not one toWire writes: REPJS_CORRUPT (callers name the key it was read at). */
function invalidWire(what: string): RepJSError {
  return new RepJSError(ErrorCodes.CORRUPT, what)
}

/** Wire tree -> JavaScript value. Throws REPJS_CORRUPT describing the first invalid node. */
export function fromWire(node: unknown): unknown {
  // toWire never emits a node twice; a repeated node is a crafted shared reference (a
  // decompression bomb if expanded), so it is refused.
  const visited = new Set<object>()
  const walk = (n: unknown, depth: number): unknown => {
    if (depth > MAX_DEPTH) throw invalidWire('nesting too deep')
    switch (typeof n) {
      case 'undefined': case 'boolean': case 'string': case 'number':
        return n
      case 'object':
        break
      default:
        throw invalidWire(`unexpected ${typeof n}`)
    }
    if (n === null) return null
    if (visited.has(n)) throw invalidWire('shared reference')
    visited.add(n)
    if (Tagged.prototype.isPrototypeOf(n) && typeof (n as Tagged).payload === 'object' && (n as Tagged).payload !== null) {
      if (visited.has((n as Tagged).payload as object)) throw invalidWire('shared reference')
      visited.add((n as Tagged).payload as object)
    }
    if (Array.isArray(n)) return n.map((x) => walk(x, depth + 1))
    if (n instanceof Uint8Array) return copyBytes(n)
    if (!(n instanceof Tagged)) throw invalidWire(`unexpected ${Object.prototype.toString.call(n)}`)
    const p = n.payload
    switch (n.kind) {
      case Kind.NEG_ZERO:
        if (p !== 0) throw invalidWire('bad -0')
        return -0
      case Kind.BIGINT:
        if (typeof p !== 'string' || p.length > MAX_BIGINT_DIGITS + 1 || !/^-?\d+$/.test(p)) throw invalidWire('bad bigint')
        return BigInt(p)
      case Kind.DATE:
        if (typeof p !== 'number') throw invalidWire('bad date')
        return new Date(p)
      case Kind.MAP: {
        const flat = pairs(p)
        const m = new Map()
        for (let i = 0; i < flat.length; i += 2) m.set(walk(flat[i], depth + 1), walk(flat[i + 1], depth + 1))
        return m
      }
      case Kind.SET:
        if (!Array.isArray(p)) throw invalidWire('bad set')
        return new Set(p.map((x) => walk(x, depth + 1)))
      case Kind.TYPED: {
        if (!Array.isArray(p) || p.length !== 2 || !(p[1] instanceof Uint8Array)) throw invalidWire('bad typed array')
        const name = p[0] as TypedName
        if (!(TYPED_NAMES as readonly string[]).includes(name)) throw invalidWire('bad typed array type')
        const buf = copyBytes(p[1] as Uint8Array).buffer as ArrayBuffer
        const Ctor = TYPED_CTORS[name]
        if (Ctor.BYTES_PER_ELEMENT && buf.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) throw invalidWire('bad typed array length')
        return new Ctor(buf)
      }
      case Kind.ERROR:
        return errorFromWire(p, (x) => walk(x, depth + 1))
      case Kind.OBJECT: {
        const flat = pairs(p)
        const o: Record<string, unknown> = {}
        for (let i = 0; i < flat.length; i += 2) {
          const k = flat[i]
          if (typeof k !== 'string') throw invalidWire('bad object key')
          Object.defineProperty(o, k, { value: walk(flat[i + 1], depth + 1), enumerable: true, writable: true, configurable: true })
        }
        return o
      }
      default:
        throw invalidWire(`unknown tag kind ${n.kind}`)
    }
  }
  return walk(node, 0)
}

function pairs(p: unknown): unknown[] {
  if (!Array.isArray(p) || p.length % 2 !== 0) throw invalidWire('bad pair list')
  return p
}

function errorFromWire(p: unknown, walk: (x: unknown) => unknown): Error {
  if (!Array.isArray(p) || p.length !== 7) throw invalidWire('bad error')
  const [name, message, code, cause, stack, replica, details] = p
  if (typeof name !== 'string' || typeof message !== 'string') throw invalidWire('bad error')
  const causeValue = cause === null ? undefined : walk(cause)
  let err: Error
  if (typeof code === 'string' && code.startsWith('REPJS_')) {
    const d = details === null ? {} : walk(details)
    err = new RepJSError(code as ErrorCode, message, {
      cause: causeValue,
      details: typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : {},
    })
  } else {
    err = causeValue === undefined ? new Error(message) : new Error(message, { cause: causeValue })
    if (typeof code === 'string' || typeof code === 'number') Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true })
  }
  Object.defineProperty(err, 'name', { value: name, writable: true, configurable: true })
  if (typeof stack === 'string') Object.defineProperty(err, 'stack', { value: stack, writable: true, configurable: true })
  if (typeof replica === 'string') Object.defineProperty(err, 'replica', { value: replica, enumerable: true, writable: true, configurable: true })
  return err
}

/** Value <-> bytes through a binary format. */
export interface Codec {
  encode(value: unknown): Uint8Array
  /** Throws REPJS_CORRUPT naming `key`. */
  decode(bytes: Uint8Array, key: string): unknown
  format: BinaryFormat
}

export function createCodec(format: BinaryFormat): Codec {
  return {
    format,
    encode: (value) => format.encode(toWire(value)),
    decode(bytes, key) {
      try {
        return fromWire(format.decode(bytes))
      } catch (cause) {
        throw corruptError(key, cause)
      }
    },
  }
}
