/**
 * A decoded value as JSON-safe data, for `repjs inspect --json`: deterministic (the same value
 * always gives the same JSON) and lossless for every type the codec carries. Plain JSON values
 * stay as they are; the others become one-key objects whose key starts with `$`:
 *
 *   undefined            {"$undefined":true}
 *   -0, NaN, ±Infinity   {"$number":"-0"} {"$number":"NaN"} {"$number":"Infinity"} {"$number":"-Infinity"}
 *   bigint               {"$bigint":"123456789012345678901234567890"}
 *   Date                 {"$date":"2026-12-04T15:00:00.000Z"}   (an invalid Date: {"$date":null})
 *   Uint8Array           {"$bytes":"<base64>"}
 *   other typed arrays   {"$typed":["Float64Array","<base64 of its bytes>"]}   (ArrayBuffer too)
 *   Map                  {"$map":[[key,value],...]}   (in insertion order)
 *   Set                  {"$set":[value,...]}
 *   Error                {"$error":{"name":...,"message":...,"code"?,"replica"?,"details"?,"cause"?,"stack"?}}
 *
 * A plain object's own key that starts with `$` gets one more `$` (`{"$x":1}` is `{"$$x":1}`), so
 * an object never reads as one of the forms above.
 */
import { RepJSError } from '../../core/errors.js'

const base64 = (v: ArrayBufferView | ArrayBuffer) =>
  (v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength)).toString('base64')

export function jsonValue(v: unknown): unknown {
  switch (typeof v) {
    case 'undefined':
      return { $undefined: true }
    case 'boolean': case 'string':
      return v
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0) ? v : { $number: Object.is(v, -0) ? '-0' : String(v) }
    case 'bigint':
      return { $bigint: v.toString() }
    case 'function': case 'symbol':
      // never decoded from a record; named rather than dropped
      return { $unsupported: typeof v }
  }
  if (v === null) return null
  if (Array.isArray(v)) return v.map(jsonValue)
  if (v instanceof Date) return { $date: Number.isNaN(v.getTime()) ? null : v.toISOString() }
  if (v instanceof Uint8Array && v.constructor === Uint8Array) return { $bytes: base64(v) }
  if (v instanceof ArrayBuffer || (ArrayBuffer.isView(v) && !(v instanceof DataView))) return { $typed: [v.constructor.name, base64(v)] }
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [jsonValue(k), jsonValue(x)]) }
  if (v instanceof Set) return { $set: [...v].map(jsonValue) }
  if (v instanceof Error) return { $error: errorJson(v) }
  const o = v as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(o)) out[k.startsWith('$') ? '$' + k : k] = jsonValue(o[k])
  return out
}

function errorJson(e: Error): Record<string, unknown> {
  const any = e as Error & { code?: unknown; replica?: unknown }
  const out: Record<string, unknown> = { name: e.name, message: e.message }
  if (any.code !== undefined) out.code = any.code
  if (typeof any.replica === 'string') out.replica = any.replica
  if (RepJSError.is(e) && Object.keys(e.details).length) out.details = jsonValue(e.details)
  if (e.cause !== undefined) out.cause = jsonValue(e.cause)
  if (typeof e.stack === 'string') out.stack = e.stack
  return out
}
