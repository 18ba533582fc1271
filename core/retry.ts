/** Retry a store operation while its failures are retryable, with capped exponential backoff and jitter. */
import { closedError, RepJSError } from './errors.js'
import type { StatusState } from './status.js'

export interface RetryContext {
  /** Report a transient fault ('reconnecting' / 'waiting-for-quorum') or recovery (undefined). */
  onFault(state: StatusState | undefined, reason?: string): void
  /** Aborts when the replica closes. */
  signal: AbortSignal
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(closedError())
    const onAbort = () => {
      clearTimeout(t)
      reject(closedError())
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export async function withRetry<T>(ctx: RetryContext, op: () => Promise<T>): Promise<T> {
  let delay = 25
  let faulted = false
  for (;;) {
    if (ctx.signal.aborted) throw closedError()
    try {
      const out = await op()
      if (faulted) ctx.onFault(undefined)
      return out
    } catch (err) {
      if (ctx.signal.aborted) throw closedError()
      if (!RepJSError.is(err) || !err.retryable) throw err
      faulted = true
      const state = err.details.status === 'reconnecting' ? 'reconnecting' : 'waiting-for-quorum'
      ctx.onFault(state, err.message)
      await sleep(delay / 2 + Math.random() * delay, ctx.signal)
      delay = Math.min(delay * 2, 2000)
    }
  }
}
