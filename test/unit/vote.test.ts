/** `reduceVotes` (core/vote.ts): the quorum reducers, without a store. */
import { describe, expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { checkQuorum, reduceVotes } from '../../core/vote.js'

function expectBadArgument(fn: () => unknown): RepJSError {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(RepJSError.is(thrown, ErrorCodes.BAD_ARGUMENT), `expected REPJS_BAD_ARGUMENT, got ${String(thrown)}`).toBe(true)
  return thrown as RepJSError
}

describe('median', () => {
  test('odd counts: the middle value', () => {
    expect(reduceVotes('median', [7])).toBe(7)
    expect(reduceVotes('median', [3, 1, 2])).toBe(2)
    expect(reduceVotes('median', [5, 1, 4, 2, 3])).toBe(3)
    expect(reduceVotes('median', [10, 10, 1])).toBe(10)
  })
  test('even counts: the lower middle (a value someone voted, never an average)', () => {
    expect(reduceVotes('median', [1, 2])).toBe(1)
    expect(reduceVotes('median', [2, 1])).toBe(1)
    expect(reduceVotes('median', [4, 1, 3, 2])).toBe(2)
    expect(reduceVotes('median', [100, 0, 50, 60, 10, 70])).toBe(50)
  })
  test('numeric ordering, not string ordering', () => {
    expect(reduceVotes('median', [9.5, 10.2, 11.0])).toBe(10.2)
    expect(reduceVotes('median', [11.0, 9.5, 10.2])).toBe(10.2)
    // As strings, [2, 10, 9] sorts to ['10', '2', '9'] and the median would be 2.
    expect(reduceVotes('median', [2, 10, 9])).toBe(9)
    expect(reduceVotes('median', [100, 20, 3])).toBe(20)
    expect(reduceVotes('median', [-1, -10, -2])).toBe(-2)
    expect(reduceVotes('median', [1e21, 2, 3e-7])).toBe(2)
    // Realistic: clock votes in ms since the epoch, one replica lagging by a decade.
    expect(reduceVotes('median', [1_700_000_000_000, 1_000_000_000_000, 1_700_000_000_500])).toBe(1_700_000_000_000)
  })
  test('infinities are numbers and sort at the ends', () => {
    expect(reduceVotes('median', [Infinity, -Infinity, 5])).toBe(5)
  })
  test('does not reorder the caller\'s array', () => {
    const votes = [3, 1, 2]
    reduceVotes('median', votes)
    expect(votes).toEqual([3, 1, 2])
  })
})

describe('min and max', () => {
  test('min', () => {
    expect(reduceVotes('min', [3, 1, 2])).toBe(1)
    expect(reduceVotes('min', [2, 10, 9])).toBe(2)
    expect(reduceVotes('min', [10, 9, 100])).toBe(9) // string order would give 10
    expect(reduceVotes('min', [-5, 5, 0])).toBe(-5)
    expect(reduceVotes('min', [42])).toBe(42)
  })
  test('max', () => {
    expect(reduceVotes('max', [3, 1, 2])).toBe(3)
    expect(reduceVotes('max', [2, 10, 9])).toBe(10) // string order would give 9
    expect(reduceVotes('max', [9.5, 10.2, 11.0])).toBe(11)
    expect(reduceVotes('max', [-5, -50, -7])).toBe(-5)
    expect(reduceVotes('max', [42])).toBe(42)
  })
})

describe('custom reducer', () => {
  test('receives the votes and its result is the outcome', () => {
    let seen: unknown[] | undefined
    const sum = (values: unknown[]) => {
      seen = values
      return (values as number[]).reduce((a, b) => a + b, 0)
    }
    expect(reduceVotes(sum, [1, 2, 3])).toBe(6)
    expect(seen).toEqual([1, 2, 3])
  })
  test('may take and return any data, not only numbers', () => {
    const longest = (values: unknown[]) => (values as string[]).reduce((a, b) => (b.length > a.length ? b : a))
    expect(reduceVotes(longest, ['a', 'ccc', 'bb'])).toBe('ccc')
    const majority = (values: unknown[]) => {
      const counts = new Map<unknown, number>()
      for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
      return [...counts].sort((a, b) => b[1] - a[1])[0]![0]
    }
    expect(reduceVotes(majority, ['x', 'y', 'x'])).toBe('x')
    expect(reduceVotes(() => ({ a: [1] }), [])).toEqual({ a: [1] })
  })
  test('an exception from the reducer propagates', () => {
    expect(() => reduceVotes(() => {
      throw new Error('nope')
    }, [1])).toThrow('nope')
  })
})

describe('bad votes', () => {
  test.each([
    ['a string', ['1', 2, 3]],
    ['a numeric string only', ['10', '2', '9']],
    ['null', [1, null, 3]],
    ['undefined', [undefined]],
    ['a BigInt', [1n, 2]],
    ['an object', [{ valueOf: () => 1 }]],
    ['NaN', [1, NaN, 3]],
    ['a boxed number', [Object(1)]],
  ] as [string, unknown[]][])('median with %s gives REPJS_BAD_ARGUMENT', (_label, votes) => {
    const err = expectBadArgument(() => reduceVotes('median', votes))
    expect(err.message).toMatch(/median needs numeric votes/)
  })
  test('min and max reject non-numbers too', () => {
    expectBadArgument(() => reduceVotes('min', [1, 'a']))
    expectBadArgument(() => reduceVotes('max', [true, 1]))
  })
  test('a custom reducer gets non-numbers as they are', () => {
    expect(reduceVotes((v) => v.length, ['a', null, {}])).toBe(3)
  })
})

describe('checkQuorum', () => {
  test('accepts positive integers and rejects the rest with REPJS_BAD_ARGUMENT', () => {
    expect(checkQuorum(1)).toBe(1)
    expect(checkQuorum(3)).toBe(3)
    for (const q of [0, -1, 1.5, NaN, Infinity, '2', undefined, null]) expectBadArgument(() => checkQuorum(q))
  })
})
