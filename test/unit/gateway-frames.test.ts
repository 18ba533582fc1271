/** The gateway encodes a SLOTS frame once for every subscriber it hands the same records to. */
import { expect, test } from 'vitest'
import { decodeMessage } from '../../core/protocol.js'
import { encodeSlots } from '../../node-gateway/gateway/peer-frames.js'

const recs = (...xs: number[]) => xs.map((x) => Uint8Array.of(x, x + 1))

test('the same records, first slot and subscription id give the same frame object, decoded right', () => {
  const records = recs(1, 2)
  const a = encodeSlots(1, 40, records)
  expect(encodeSlots(1, 40, records)).toBe(a)
  expect(decodeMessage(a)).toEqual({ type: 'slots', sub: 1, first: 40, records })
})

test('another subscription id, first slot or array is encoded anew; interleaved ids still share frames', () => {
  const records = recs(1, 2)
  const a = encodeSlots(1, 40, records)
  const b = encodeSlots(7, 40, records)
  expect(decodeMessage(b)).toEqual({ type: 'slots', sub: 7, first: 40, records })
  expect(decodeMessage(encodeSlots(1, 41, records))).toMatchObject({ sub: 1, first: 41 })
  const sameContentOtherArray = encodeSlots(1, 40, recs(1, 2))
  expect(sameContentOtherArray).not.toBe(a)
  expect(decodeMessage(sameContentOtherArray)).toEqual(decodeMessage(a))
  expect(encodeSlots(1, 40, records)).toBe(a)
  expect(encodeSlots(7, 40, records)).toBe(b)
})
