// rep.check's pure parts: the majority over R replicas and how a hash argument is recorded.
import { expect, test } from 'vitest'
import { hashText, majority, MAX_HASH_CHARS } from '../../core/check.js'
import { expectRepJSError } from '../helpers/errors.js'

test('majority: the hash held by more than half of R votes, else null; the votes are kept in order', () => {
  expect(majority(['a'], 1)).toEqual({ hash: 'a', votes: ['a'] })
  expect(majority(['a', 'a'], 3)).toEqual({ hash: 'a', votes: ['a', 'a'] })
  expect(majority(['b', 'a', 'a'], 3)).toEqual({ hash: 'a', votes: ['b', 'a', 'a'] })
  expect(majority(['a', 'b'], 3).hash).toBeNull() // not yet: a third vote decides
  expect(majority(['a', 'b', 'c'], 3).hash).toBeNull()
  expect(majority(['a', 'b'], 2).hash).toBeNull()
  expect(majority(['a', 'a', 'b', 'b'], 4).hash).toBeNull() // half is not a majority
  expect(majority(['a', 'a', 'a', 'b'], 4).hash).toBe('a')
  // a vote that is not a string (written outside RepJS) never wins
  expect(majority([1, 1, 1], 3)).toEqual({ hash: null, votes: ['', '', ''] })
})

test('hashText: strings as they are, bytes as lowercase hex, bounded', () => {
  expect(hashText('State-1')).toBe('State-1')
  expect(hashText(new Uint8Array([0, 15, 255]))).toBe('000fff')
  expect(hashText(new Uint16Array([1]).buffer)).toBe('0100')
  expect(hashText(new DataView(new Uint8Array([9, 10, 11]).buffer, 1, 2))).toBe('0a0b')
  expect(hashText('x'.repeat(MAX_HASH_CHARS))).toHaveLength(MAX_HASH_CHARS)
  for (const bad of ['', 'x'.repeat(MAX_HASH_CHARS + 1), new Uint8Array(MAX_HASH_CHARS / 2 + 1), new Uint8Array(0), 7, null, {}]) {
    expectRepJSError(() => hashText(bad), 'REPJS_BAD_ARGUMENT')
  }
})
