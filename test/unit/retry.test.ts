// withRetry: retryable failures retried with the fault shown and its end, others thrown as they
// are, a synchronous throw like a rejection, REPJS_CLOSED once the replica closes.
import { expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { withRetry, type RetryContext } from '../../core/retry.js'

function context() {
  const faults: Array<string | undefined> = []
  const closing = new AbortController()
  const ctx: RetryContext = { signal: closing.signal, onFault: (state) => faults.push(state) }
  return { ctx, faults, closing }
}
const transient = (retryAs?: 'reconnecting') => new RepJSError(ErrorCodes.STORE, 'unreachable', { retryable: true, retryAs })

test('a first success shows no fault; retryable failures are retried, shown, and their end shown once', async () => {
  const { ctx, faults } = context()
  expect(await withRetry(ctx, async () => 1)).toBe(1)
  expect(faults).toEqual([])
  let n = 0
  const out = await withRetry(ctx, async () => {
    if (++n === 1) throw transient('reconnecting')
    if (n === 2) throw transient()
    return 'ok'
  })
  expect(out).toBe('ok')
  expect(n).toBe(3)
  expect(faults).toEqual(['reconnecting', 'waiting-for-quorum', undefined])
})

test('a failure that is not retryable is thrown as it is, also a synchronous throw; no fault shown', async () => {
  const { ctx, faults } = context()
  const boom = new TypeError('boom')
  await expect(withRetry(ctx, async () => { throw boom })).rejects.toBe(boom)
  await expect(withRetry(ctx, () => { throw boom })).rejects.toBe(boom)
  const fatal = new RepJSError(ErrorCodes.STORE, 'fatal')
  await expect(withRetry(ctx, async () => { throw fatal })).rejects.toBe(fatal)
  expect(faults).toEqual([])
})

test('REPJS_CLOSED once the replica closes: before the first attempt, and while waiting to retry', async () => {
  const { ctx, closing } = context()
  let calls = 0
  const waiting = withRetry(ctx, async () => {
    calls++
    throw transient()
  })
  await new Promise((r) => setTimeout(r, 5))
  closing.abort()
  await expect(waiting).rejects.toMatchObject({ code: ErrorCodes.CLOSED })
  expect(calls).toBe(1)
  await expect(withRetry(ctx, async () => 1)).rejects.toMatchObject({ code: ErrorCodes.CLOSED })
})
