/**
 * etcd / gRPC failures -> RepJSError, in one place, by the status table (grpc/status.ts): a
 * retryable failure is REPJS_UNAVAILABLE with `retryAs` 'reconnecting' (etcd unreachable) or
 * 'waiting-for-quorum' (no quorum, timeouts, leader changes); everything else is final
 * (REPJS_STORE; etcd out of space has details.noSpace, a response over the client's size cap
 * details.tooLarge).
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { exhausted, isClientClosed, retryAs } from './grpc/status.js'

export function storeError(err: unknown, what: string): RepJSError {
  if (RepJSError.is(err)) return err
  const message = err instanceof Error ? err.message : String(err)
  const retry = retryAs(err)
  if (retry === 'waiting-for-quorum') {
    return new RepJSError(ErrorCodes.UNAVAILABLE, `etcd has no quorum or timed out during ${what}: ${message}. Retrying until a majority of members is back.`, {
      retryable: true, retryAs: retry, cause: err,
    })
  }
  if (retry === 'reconnecting') {
    return new RepJSError(ErrorCodes.UNAVAILABLE, `etcd unreachable during ${what}: ${message}. Retrying; check that etcd is running and reachable.`, {
      retryable: true, retryAs: retry, cause: err,
    })
  }
  if (isClientClosed(err)) return new RepJSError(ErrorCodes.CLOSED, `etcd client closed during ${what}`, { cause: err })
  const why = exhausted(err)
  if (why === 'no-space') {
    // Final: etcd refuses every write until an operator frees space.
    return new RepJSError(
      ErrorCodes.STORE,
      `etcd is out of space during ${what}: ${message}. It refuses every write until an operator frees space: ` +
        `compact the history (etcdctl compact <revision>) and defragment each member (etcdctl defrag), or restart the ` +
        `members with a larger --quota-backend-bytes, then clear the alarm (etcdctl alarm disarm). Decided values stay readable meanwhile.`,
      { cause: err, details: { noSpace: true } },
    )
  }
  if (why === 'too-large') return new RepJSError(ErrorCodes.STORE, `etcd response too large during ${what}: ${message}`, { cause: err, details: { tooLarge: true } })
  return new RepJSError(ErrorCodes.STORE, `etcd failed during ${what}: ${message}`, { cause: err })
}

/** Run an etcd call, converting its failure. */
export async function etcdCall<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    throw storeError(err, what)
  }
}
