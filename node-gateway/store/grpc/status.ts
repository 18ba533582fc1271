/**
 * gRPC statuses -> errors, and whether retrying may help: one table for both transports. The lean
 * client fails with RepJS's own classes carrying the gRPC code (`GrpcError`, built by `statusError`
 * and the factories below: etcd3 stays unloaded on the lean path); etcd3's client fails with its
 * classes, read by the same table once etcd3 is loaded. `codeOf` reads either; `retryAs` is the
 * one retryability test (the lean client's failover and `storeError` both use it).
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
import type { RetryState as RetryAs } from '../../../core/errors.js'
import { loadedEtcd3 } from '../etcd3-load.js'

type Etcd3Module = NonNullable<ReturnType<typeof loadedEtcd3>>

interface StatusRow {
  /** The name of the lean client's error (as etcd3's class for the code). */
  name: string
  /** etcd3's class for the code (read only when etcd3 is loaded). */
  etcd3: keyof Etcd3Module
  /** Retrying may help, reported as this; absent: final. */
  retryAs?: RetryAs
}

/** Every gRPC status an etcd call can end with: its error's name, etcd3's class, and whether it is retried. */
export const STATUS: Readonly<Record<number, StatusRow>> = {
  1: { name: 'GRPCCancelledError', etcd3: 'GRPCCancelledError', retryAs: 'waiting-for-quorum' },
  2: { name: 'GRPCUnknownError', etcd3: 'GRPCUnknownError' },
  3: { name: 'GRPCInvalidArgumentError', etcd3: 'GRPCInvalidArgumentError' },
  4: { name: 'GRPCDeadlineExceededError', etcd3: 'GRPCDeadlineExceededError', retryAs: 'waiting-for-quorum' },
  /** In a Txn: the lease a put names is gone ("requested lease not found"). */
  5: { name: 'GRPCNotFoundError', etcd3: 'GRPCNotFoundError' },
  6: { name: 'GRPCAlreadyExistsError', etcd3: 'GRPCAlreadyExistsError' },
  7: { name: 'EtcdPermissionDeniedError', etcd3: 'EtcdPermissionDeniedError' },
  /** etcd's "too many requests" is retried (see RESOURCE_EXHAUSTED below); NOSPACE and too large are final. */
  8: { name: 'GRPCResourceExhaustedError', etcd3: 'GRPCResourceExhastedError' },
  /** etcd's leadership states: "not leader", "not capable" (mid-upgrade), "bad leader transferee". */
  9: { name: 'GRPCFailedPreconditionError', etcd3: 'GRPCFailedPreconditionError', retryAs: 'waiting-for-quorum' },
  10: { name: 'GRPCAbortedError', etcd3: 'GRPCAbortedError' },
  11: { name: 'GRPCOutOfRangeError', etcd3: 'GRPCOutOfRangeError' },
  12: { name: 'GRPCNotImplementedError', etcd3: 'GRPCNotImplementedError' },
  13: { name: 'GRPCInternalError', etcd3: 'GRPCInternalError' },
  /** From the connection; from the member itself it is 'waiting-for-quorum' (module comment). */
  14: { name: 'GRPCUnavailableError', etcd3: 'GRPCUnavailableError', retryAs: 'reconnecting' },
  15: { name: 'GRPCDataLossError', etcd3: 'GRPCDataLossError' },
  16: { name: 'GRPCUnauthenticatedError', etcd3: 'GRPCUnauthenticatedError' },
}

/** A failed etcd call of the lean client: its gRPC status code (undefined: a status outside the table). */
export class GrpcError extends Error {
  constructor(
    readonly grpcCode: number | undefined,
    message: string,
  ) {
    super(message)
    this.name = new.target.name
  }
}

/** One subclass per status, named as etcd3's class for it (what logs and `constructor.name` show). */
const CLASSES: Record<number, typeof GrpcError> = {}
for (const code in STATUS) {
  const cls = class extends GrpcError {}
  Object.defineProperty(cls, 'name', { value: STATUS[code]!.name })
  CLASSES[code] = cls
}

/** A session could not be opened: nothing was sent, so the call may go on to the next endpoint (UNAVAILABLE). */
export class ConnectFailed extends CLASSES[14]! {
  constructor(message: string) {
    super(14, message)
  }
}

/** A call or stream of a closed lean client. */
export class ClientClosedError extends Error {
  constructor(namespace: string) {
    super(`Tried to call a ${namespace} method on the etcd client, but the client was already closed`)
    this.name = 'ClientClosedError'
  }
}

/** A status outside the table (or none): named EtcdError, as etcd3's base class. */
class EtcdError extends GrpcError {}

/** The lean client's error for gRPC status `code` (a code outside the table: an EtcdError without one). */
export function grpcError(code: number | undefined, message: string): GrpcError {
  const cls = code === undefined ? undefined : CLASSES[code]
  return cls ? new cls(code, message) : new EtcdError(undefined, message)
}

export const deadlineExceeded = (message: string): GrpcError => grpcError(4, message)
export const unavailable = (message: string): GrpcError => grpcError(14, message)
export const internal = (message: string): GrpcError => grpcError(13, message)
export const resourceExhausted = (message: string): GrpcError => grpcError(8, message)
export const clientClosed = (namespace = 'KV'): ClientClosedError => new ClientClosedError(namespace)

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
export function statusError(code: number, message: string): GrpcError {
  const text = message || `grpc-status ${code}`
  if (code === 2 && CONTEXT_DEADLINE.test(message)) return grpcError(4, text)
  if (code === 2 && CONTEXT_CANCELED.test(message)) return grpcError(1, text)
  return grpcError(STATUS[code] ? code : undefined, text)
}

/** The status code of an error from either transport, or undefined if it has none. */
export function codeOf(err: unknown): number | undefined {
  if (err instanceof GrpcError) return err.grpcCode
  if (!(err instanceof Error)) return undefined
  const e3 = loadedEtcd3()
  if (!e3) return undefined
  if (err instanceof e3.EtcdLeaseInvalidError) return 5 // etcd3 names NOT_FOUND's lease message
  for (const code in STATUS) if (err instanceof (e3[STATUS[code]!.etcd3] as new () => Error)) return Number(code)
  return undefined
}

/** A call on a closed client, from either transport. */
export function isClientClosed(err: unknown): boolean {
  if (err instanceof ClientClosedError) return true
  const e3 = loadedEtcd3()
  return e3 !== undefined && err instanceof e3.ClientClosedError
}

/**
 * Whether retrying a failed etcd call may help, and how to report the wait: 'reconnecting' (etcd
 * unreachable) or 'waiting-for-quorum' (reachable, no quorum, timed out); undefined if final.
 */
export function retryAs(err: unknown): RetryAs | undefined {
  if (!(err instanceof Error)) return undefined
  // cockatiel's open circuit (etcd3's fault handling), by its marker: no import needed.
  if ((err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true) return 'reconnecting'
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
