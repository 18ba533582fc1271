import { expect, test } from 'vitest'
import * as keys from '../../core/keys.js'
import * as storeKeys from '../../node-gateway/store/keys.js'
import { placeKey } from '../../core/record.js'

// The layout is stored data (ARCHITECTURE.md, "etcd key layout"): runs written before stay readable
// only while every key below is spelled exactly so.
test('every key of a run is spelled as the v1 layout says, slots padded to 12 digits', () => {
  expect(keys.runPrefix('r1')).toBe('/repjs/v1/r1/')
  expect(keys.metaKey('r1')).toBe('/repjs/v1/r1/meta')
  expect(keys.slotPrefix('r1', 'main')).toBe('/repjs/v1/r1/s/main/')
  expect(keys.slotKey('r1', 'main', 0)).toBe('/repjs/v1/r1/s/main/000000000000')
  expect(keys.slotKey('r1', 'in', 123456789012)).toBe('/repjs/v1/r1/s/in/123456789012')
  expect(keys.votePrefix('r1', 'main', 7)).toBe('/repjs/v1/r1/v/main/000000000007/')
  expect(keys.lockKey('r1', 'main', 7)).toBe('/repjs/v1/r1/l/main/000000000007')
  expect(keys.markerKey('r1', 'main', 7)).toBe('/repjs/v1/r1/m/main/000000000007')
  expect(keys.snapKey('r1', 'main')).toBe('/repjs/v1/r1/snap/main')
  expect(keys.presenceKey('r1', 'abc')).toBe('/repjs/v1/r1/p/abc')
  expect(keys.runIndexKey('r1')).toBe('/repjs/runs/v1/r1')
  expect(keys.MAX_SLOT).toBe(999_999_999_999)
})

test('slot keys sort in slot order and read back to their slot; other keys are not slots', () => {
  const slots = [0, 1, 9, 10, 99, 100, 4096, keys.MAX_SLOT]
  const sorted = slots.map((s) => keys.slotKey('r', 'main', s)).sort()
  expect(sorted.map(keys.slotOf)).toEqual(slots)
  expect(keys.slotOf(keys.metaKey('r'))).toBe(-1)
  expect(keys.slotOf('/repjs/v1/r/s/main/12')).toBe(-1)
  expect(keys.slotOf('/repjs/v1/r/s/main/00000000001x')).toBe(-1)
})

test('error messages and the etcd store name the same keys as core/keys.ts', () => {
  expect(placeKey({ run: 'r', stream: 'main', slot: 1 })).toBe(keys.slotKey('r', 'main', 1))
  expect(storeKeys.slotKey).toBe(keys.slotKey)
  expect(storeKeys.prefixEnd('/repjs/v1/r/').toString()).toBe('/repjs/v1/r0')
})
