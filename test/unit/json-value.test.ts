// repjs inspect --json: every codec type as deterministic JSON-safe data.
import { expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { jsonValue } from '../../node-gateway/cli/json-value.js'

test('each non-JSON type has one $-form; plain JSON is unchanged; $ keys are escaped', () => {
  expect(jsonValue({ a: [1, 'x', null, true] })).toEqual({ a: [1, 'x', null, true] })
  expect(jsonValue([undefined, -0, NaN, Infinity, -Infinity])).toEqual([
    { $undefined: true }, { $number: '-0' }, { $number: 'NaN' }, { $number: 'Infinity' }, { $number: '-Infinity' },
  ])
  expect(jsonValue(123456789012345678901234567890n)).toEqual({ $bigint: '123456789012345678901234567890' })
  expect(jsonValue(new Date(0))).toEqual({ $date: '1970-01-01T00:00:00.000Z' })
  expect(jsonValue(new Date(NaN))).toEqual({ $date: null })
  expect(jsonValue(new Uint8Array([1, 2, 255]))).toEqual({ $bytes: 'AQL/' })
  expect(jsonValue(new Float64Array([1]))).toEqual({ $typed: ['Float64Array', 'AAAAAAAA8D8='] })
  expect(jsonValue(new Map<unknown, unknown>([[1n, 'a'], ['k', new Set([1])]]))).toEqual({ $map: [[{ $bigint: '1' }, 'a'], ['k', { $set: [1] }]] })
  expect(jsonValue({ $bytes: 'x', $$y: 1 })).toEqual({ $$bytes: 'x', $$$y: 1 })
  const err = new RepJSError(ErrorCodes.IN_DOUBT, 'unknown', { details: { slot: 3 } })
  expect(jsonValue(err)).toMatchObject({ $error: { name: 'RepJSError', message: 'unknown', code: 'REPJS_IN_DOUBT', details: { slot: 3 } } })
  // deterministic: the same value, the same text
  const v = { m: new Map([[1, new Date(5)]]), b: new Uint8Array([9]) }
  expect(JSON.stringify(jsonValue(v))).toBe(JSON.stringify(jsonValue(structuredClone(v))))
})
