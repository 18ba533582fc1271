/**
 * etcd / gRPC failures -> RepJSError, in one place. Unreachable is retryable with status
 * 'reconnecting'; no quorum, timeouts and leader changes are retryable with 'waiting-for-quorum';
 * everything else is final (REPJS_STORE; etcd out of space has details.noSpace, a response over
 * the client's size cap details.tooLarge).
 */
import {
  ClientClosedError, GRPCDeadlineExceededError, GRPCUnavailableError, GRPCCancelledError, GRPCResourceExhastedError,
} from 'etcd3'
import { BrokenCircuitError } from 'cockatiel'
import { ErrorCodes, RepJSError } from '../../core/errors.js'

/** etcd's own messages for a missing quorum, a timeout or a leader change (retryable: waiting-for-quorum). */
export const QUORUM_MESSAGES = /request timed out|no leader|leader changed|too many requests|timed out waiting for read index|not capable|raft|stopped/i

/** etcd's message for its NOSPACE alarm ("etcdserver: mvcc: database space exceeded"). */
const NO_SPACE = /database space exceeded/i

export function storeError(err: unknown, what: string): RepJSError {
  if (RepJSError.is(err)) return err
  const message = err instanceof Error ? err.message : String(err)
  // etcd reports 'no leader' / 'request timed out' as UNAVAILABLE: check the messages first.
  if (err instanceof GRPCDeadlineExceededError || err instanceof GRPCCancelledError || QUORUM_MESSAGES.test(message) || /context deadline exceeded/i.test(message)) {
    return new RepJSError(ErrorCodes.UNAVAILABLE, `etcd has no quorum or timed out during ${what}: ${message}. Retrying until a majority of members is back.`, {
      retryable: true, retryAs: 'waiting-for-quorum', cause: err,
    })
  }
  if (err instanceof GRPCUnavailableError || err instanceof BrokenCircuitError || /ECONNREFUSED|No connection established|connect ECONN/i.test(message)) {
    return new RepJSError(ErrorCodes.UNAVAILABLE, `etcd unreachable during ${what}: ${message}. Retrying; check that etcd is running and reachable.`, {
      retryable: true, retryAs: 'reconnecting', cause: err,
    })
  }
  if (err instanceof ClientClosedError) return new RepJSError(ErrorCodes.CLOSED, `etcd client closed during ${what}`, { cause: err })
  if (err instanceof GRPCResourceExhastedError) {
    // etcd's NOSPACE alarm and a response over the client's cap share gRPC RESOURCE_EXHAUSTED, and
    // etcd has no finer code (its ErrGRPCNoSpace is only this status and its message), so its text
    // tells them apart. Final: etcd refuses every write until an operator frees space.
    if (NO_SPACE.test(message)) {
      return new RepJSError(
        ErrorCodes.STORE,
        `etcd is out of space during ${what}: ${message}. It refuses every write until an operator frees space: ` +
          `compact the history (etcdctl compact <revision>) and defragment each member (etcdctl defrag), or restart the ` +
          `members with a larger --quota-backend-bytes, then clear the alarm (etcdctl alarm disarm). Decided values stay readable meanwhile.`,
        { cause: err, details: { noSpace: true } },
      )
    }
    return new RepJSError(ErrorCodes.STORE, `etcd response too large during ${what}: ${message}`, { cause: err, details: { tooLarge: true } })
  }
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
