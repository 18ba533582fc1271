/**
 * gRPC statuses -> errors, and whether retrying may help: one table for both transports. The lean
 * client turns a response's status into etcd3's error class for its code (`statusError`), so an
 * error from either transport reads the same; `retryAs` is the one retryability test (the lean
 * client's failover and `storeError` both use it).
 *
 * The code decides, except where it says nothing: UNKNOWN (grpc-go's own context errors, "context
 * deadline exceeded" when the grpc-timeout we sent ran out on the server first), RESOURCE_EXHAUSTED
 * (etcd's "too many requests", its NOSPACE alarm and a response over our size cap share it; etcd
 * has no finer code), and errors that carry no code at all. And one thing a code cannot say: who
 * sent an UNAVAILABLE. From the member itself ("etcdserver: no leader", "request timed out",
 * "leader changed") etcd is reachable and waiting for a quorum; from the connection (or a proxy in
 * between) it is unreachable. etcd prefixes its own statuses with "etcdserver:", for both
 * transports alike; that prefix tells.
 */
import {
  ClientClosedError, EtcdError, EtcdLeaseInvalidError, EtcdPermissionDeniedError, GRPCAbortedError, GRPCAlreadyExistsError, GRPCCancelledError,
  GRPCDataLossError, GRPCDeadlineExceededError, GRPCFailedPreconditionError, GRPCGenericError, GRPCInternalError,
  GRPCInvalidArgumentError, GRPCNotFoundError, GRPCNotImplementedError, GRPCOutOfRangeError, GRPCResourceExhastedError,
  GRPCUnauthenticatedError, GRPCUnavailableError, GRPCUnknownError,
} from 'etcd3'
import { BrokenCircuitError } from 'cockatiel'
import type { RetryState as RetryAs } from '../../../core/errors.js'

type ErrorClass = new (message: string) => Error

interface StatusRow {
  name: string
  error: ErrorClass
  /** Retrying may help, reported as this; absent: final. */
  retryAs?: RetryAs
}

/** Every gRPC status an etcd call can end with: its etcd3 error class, and whether it is retried. */
export const STATUS: Readonly<Record<number, StatusRow>> = {
  1: { name: 'CANCELLED', error: GRPCCancelledError, retryAs: 'waiting-for-quorum' },
  2: { name: 'UNKNOWN', error: GRPCUnknownError },
  3: { name: 'INVALID_ARGUMENT', error: GRPCInvalidArgumentError },
  4: { name: 'DEADLINE_EXCEEDED', error: GRPCDeadlineExceededError, retryAs: 'waiting-for-quorum' },
  /** In a Txn: the lease a put names is gone ("requested lease not found"). */
  5: { name: 'NOT_FOUND', error: GRPCNotFoundError },
  6: { name: 'ALREADY_EXISTS', error: GRPCAlreadyExistsError },
  7: { name: 'PERMISSION_DENIED', error: EtcdPermissionDeniedError },
  /** etcd's "too many requests" is retried (see RESOURCE_EXHAUSTED below); NOSPACE and too large are final. */
  8: { name: 'RESOURCE_EXHAUSTED', error: GRPCResourceExhastedError },
  /** etcd's leadership states: "not leader", "not capable" (mid-upgrade), "bad leader transferee". */
  9: { name: 'FAILED_PRECONDITION', error: GRPCFailedPreconditionError, retryAs: 'waiting-for-quorum' },
  10: { name: 'ABORTED', error: GRPCAbortedError },
  11: { name: 'OUT_OF_RANGE', error: GRPCOutOfRangeError },
  12: { name: 'UNIMPLEMENTED', error: GRPCNotImplementedError },
  13: { name: 'INTERNAL', error: GRPCInternalError },
  /** From the connection; from the member itself it is 'waiting-for-quorum' (module comment). */
  14: { name: 'UNAVAILABLE', error: GRPCUnavailableError, retryAs: 'reconnecting' },
  15: { name: 'DATA_LOSS', error: GRPCDataLossError },
  16: { name: 'UNAUTHENTICATED', error: GRPCUnauthenticatedError },
}

/** A session could not be opened: nothing was sent, so the call may go on to the next endpoint. */
export class ConnectFailed extends GRPCUnavailableError {}

/** The error of a call or stream the client's close() ended (etcd3's, so storeError reads it as CLOSED). */
export function clientClosed(): Error {
  return new ClientClosedError('KV')
}

/** grpc-go's context errors, reported as UNKNOWN: our deadline ran out on the server first, or the call was canceled. */
const CONTEXT_DEADLINE = /context deadline exceeded/i
const CONTEXT_CANCELED = /context canceled/i
/** etcd's RESOURCE_EXHAUSTED that passes: its request rate limit. */
const TOO_MANY = /too many requests/i
/** etcd's NOSPACE alarm ("etcdserver: mvcc: database space exceeded"), a RESOURCE_EXHAUSTED too. */
const NO_SPACE = /database space exceeded/i
/** etcd's messages for a missing quorum, a timeout or a leader change: read only on errors that carry no code. */
const QUORUM_TEXT = /request timed out|no leader|leader changed|too many requests|timed out waiting for read index|not capable|raft|stopped/i
/** Connection failures reported without a gRPC code. */
const UNREACHABLE_TEXT = /ECONNREFUSED|No connection established|connect ECONN/i

/** The error for a non-OK grpc-status a server sent (the lean client's). */
export function statusError(code: number, message: string): Error {
  const text = message || `grpc-status ${code}`
  if (code === 2 && CONTEXT_DEADLINE.test(message)) return new GRPCDeadlineExceededError(text)
  if (code === 2 && CONTEXT_CANCELED.test(message)) return new GRPCCancelledError(text)
  const Ctor = STATUS[code]?.error ?? (message.includes('etcdserver:') ? EtcdError : GRPCGenericError)
  return new Ctor(text)
}

/** The status code of an error from either transport (by its etcd3 class), or undefined if it has none. */
export function codeOf(err: unknown): number | undefined {
  if (err instanceof EtcdLeaseInvalidError) return 5 // etcd3 names NOT_FOUND's lease message
  for (const code in STATUS) if (err instanceof STATUS[code]!.error) return Number(code)
  return undefined
}

/**
 * Whether retrying a failed etcd call may help, and how to report the wait: 'reconnecting' (etcd
 * unreachable) or 'waiting-for-quorum' (reachable, no quorum, timed out); undefined if final.
 */
export function retryAs(err: unknown): RetryAs | undefined {
  if (err instanceof BrokenCircuitError) return 'reconnecting'
  if (!(err instanceof Error)) return undefined
  const message = err.message
  const code = codeOf(err)
  if (code === undefined) {
    if (QUORUM_TEXT.test(message) || CONTEXT_DEADLINE.test(message)) return 'waiting-for-quorum'
    return UNREACHABLE_TEXT.test(message) ? 'reconnecting' : undefined
  }
  if (code === 14) return message.includes('etcdserver:') ? 'waiting-for-quorum' : 'reconnecting'
  if (code === 2) return CONTEXT_DEADLINE.test(message) || CONTEXT_CANCELED.test(message) || QUORUM_TEXT.test(message) ? 'waiting-for-quorum' : undefined
  if (code === 8) return TOO_MANY.test(message) ? 'waiting-for-quorum' : undefined
  return STATUS[code]!.retryAs
}

/** RESOURCE_EXHAUSTED, and why: etcd's NOSPACE alarm, or a response over the client's size cap. */
export function exhausted(err: unknown): 'no-space' | 'too-large' | undefined {
  if (codeOf(err) !== 8 || retryAs(err)) return undefined
  return NO_SPACE.test((err as Error).message) ? 'no-space' : 'too-large'
}

/** A write named a lease etcd no longer has (NOT_FOUND in a Txn): the run's lease expired. */
export function leaseNotFound(err: unknown): boolean {
  return codeOf(err) === 5
}
