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

export interface BackoffOptions {
  initialMs: number
  maxMs: number
}

/**
 * Capped exponential backoff with jitter, the one delay sequence of every retry loop: the n-th
 * delay is uniform in [d/2, 3d/2) with d = initialMs * 2^n, capped at maxMs.
 */
export class Backoff {
  private delay: number
  constructor(readonly opts: BackoffOptions) {
    this.delay = opts.initialMs
  }

  /** The next delay in ms (and doubles the one after it, up to maxMs). */
  next(): number {
    const d = this.delay
    this.delay = Math.min(d * 2, this.opts.maxMs)
    return d / 2 + Math.random() * d
  }

  /** Start over from initialMs (after a success). */
  reset(): void {
    this.delay = this.opts.initialMs
  }
}

/**
 * Run `op` until it succeeds or fails for good: a retryable RepJSError is retried after a backoff
 * delay, with the fault shown through `ctx` meanwhile (and its end once `op` succeeds); REPJS_CLOSED
 * once `ctx.signal` aborts. The first attempt adds no promise of its own (most calls succeed at once).
 */
export function withRetry<T>(ctx: RetryContext, op: () => Promise<T>): Promise<T> {
  if (ctx.signal.aborted) return Promise.reject(closedError())
  let first: Promise<T>
  try {
    first = Promise.resolve(op())
  } catch (err) {
    first = Promise.reject(err)
  }
  return first.then(undefined, (err: unknown) => retried(ctx, op, err))
}

/** withRetry after its first attempt failed with `err`. */
async function retried<T>(ctx: RetryContext, op: () => Promise<T>, err: unknown): Promise<T> {
  let backoff: Backoff | undefined // made at the first retryable failure
  for (;;) {
    if (ctx.signal.aborted) throw closedError()
    if (!RepJSError.is(err) || !err.retryable) throw err
    backoff ??= new Backoff({ initialMs: 25, maxMs: 2000 })
    ctx.onFault(err.retryAs ?? 'waiting-for-quorum', err.message)
    await sleep(backoff.next(), ctx.signal)
    if (ctx.signal.aborted) throw closedError()
    try {
      const out = await op()
      ctx.onFault(undefined)
      return out
    } catch (e) {
      err = e
    }
  }
}
