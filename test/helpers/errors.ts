import { expect } from 'vitest'
import { RepJSError } from '../../core/errors.js'

/** Asserts that `fn` throws a RepJSError with `code`, and returns it. */
export function expectRepJSError(fn: () => unknown, code: string): RepJSError {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown, 'expected a throw').toBeDefined()
  expect(RepJSError.is(thrown), `expected a RepJSError, got ${String(thrown)}`).toBe(true)
  expect((thrown as RepJSError).code).toBe(code)
  return thrown as RepJSError
}
