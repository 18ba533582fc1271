/**
 * Every error RepJS raises: one class, a stable `code`, a `retryable` flag and a message that
 * says what to do. Branch on `code`, never on message text.
 */

export const ErrorCodes = {
  /** A replica asked for a different call at a slot than the log holds. */
  DIVERGED: 'REPJS_DIVERGED',
  /** A value could not be encoded (function, symbol, socket, ...). Agreed like an exception. */
  UNSERIALIZABLE: 'REPJS_UNSERIALIZABLE',
  /** A stored value does not decode. It is never executed. */
  CORRUPT: 'REPJS_CORRUPT',
  /** A run-once holder died mid-call; whether its side effect happened is unknown. */
  IN_DOUBT: 'REPJS_IN_DOUBT',
  /** The run was created by another program (id) than this replica's. */
  VERSION_MISMATCH: 'REPJS_VERSION_MISMATCH',
  /** The replica was closed; no more calls are possible. */
  CLOSED: 'REPJS_CLOSED',
  /** The run-once lease was lost while fn ran; this replica may not record a result. */
  LEASE_LOST: 'REPJS_LEASE_LOST',
  /** A caller passed a wrong argument or option. */
  BAD_ARGUMENT: 'REPJS_BAD_ARGUMENT',
  /** The store (etcd or gateway) failed in a way retrying will not fix. */
  STORE: 'REPJS_STORE',
  /** The store is unreachable or has no quorum right now; the call is retried. */
  UNAVAILABLE: 'REPJS_UNAVAILABLE',
  /** Local setup failed (etcd binary missing, port in use, ...). */
  SETUP: 'REPJS_SETUP',
  /** A malformed gateway protocol frame. */
  PROTOCOL: 'REPJS_PROTOCOL',
  /** A gateway protocol frame of a type this peer does not know. */
  UNKNOWN_MESSAGE: 'REPJS_UNKNOWN_MESSAGE',
  /** The gateway refused the token (missing, expired, forged) or it is for another run. */
  UNAUTHORIZED: 'REPJS_UNAUTHORIZED',
  /** The gateway refused a request or connection over a limit (per connection, per run or gateway-wide). */
  LIMIT: 'REPJS_LIMIT',
  /** The run was deleted or created anew (another run record) while this replica was reconnecting. */
  RUN_CHANGED: 'REPJS_RUN_CHANGED',
  /** Another connection with this replica id joined the run at the gateway and took over. */
  REPLACED: 'REPJS_REPLACED',
  /** A peer stayed silent past a deadline: no HELLO in time, or no frame for two ping intervals. */
  TIMEOUT: 'REPJS_TIMEOUT',
  /**
   * The run was deleted (`repjs runs rm`) or expired (`--run-ttl`): its tombstone says it existed.
   * Final. Creating it again is explicit (`repjs run --new`, `{ newRun: true }`) and gives it a new
   * incarnation; a replica that was in the run when it went stops with this on its next call.
   */
  RUN_GONE: 'REPJS_RUN_GONE',
  /** etcd refused a membership change (`repjs cluster`): unhealthy cluster, peer URL taken, ... */
  MEMBERSHIP: 'REPJS_MEMBERSHIP',
  /** No run with this id exists in this etcd (`repjs inspect`, `repjs replay`): check the id and the endpoints. */
  UNKNOWN_RUN: 'REPJS_UNKNOWN_RUN',
  /** `repjs replay`: the script asked for a slot the recorded log does not hold (the end of the log). */
  LOG_END: 'REPJS_LOG_END',
  /**
   * The replica needs a slot that was collected after a snapshot (`collect()`): it must start from
   * the snapshot with `restore()` (before its first call on the stream) instead of replaying from 0.
   */
  COLLECTED: 'REPJS_COLLECTED',
  /**
   * The replica asked for a time zone or locale (`--tz`, `--locale`, `{ timeZone, locale }`) other
   * than the one the run recorded when it was created: leave it out to adopt the run's, or start a new run id.
   */
  ZONE_MISMATCH: 'REPJS_ZONE_MISMATCH',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

const BRAND = Symbol.for('repjs.error')

/** How a retryable failure shows in the replica's status while the call is retried. */
export type RetryState = 'reconnecting' | 'waiting-for-quorum'

export interface RepJSErrorOptions {
  retryable?: boolean
  /** With `retryable`: 'reconnecting' (the store is unreachable) or 'waiting-for-quorum' (reachable, no quorum or a timeout; the default). */
  retryAs?: RetryState
  cause?: unknown
  details?: Record<string, unknown>
}

export class RepJSError extends Error {
  readonly code: ErrorCode
  readonly retryable: boolean
  /** The status a retrying caller shows (set only when retryable). */
  readonly retryAs: RetryState | undefined
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: RepJSErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'RepJSError'
    this.code = code
    this.retryable = options.retryable ?? false
    this.retryAs = this.retryable ? (options.retryAs ?? 'waiting-for-quorum') : undefined
    this.details = options.details ?? {}
    ;(this as unknown as Record<symbol, boolean>)[BRAND] = true
  }

  /** `instanceof` that also works across bundles and copies of this module. */
  static is(value: unknown, code?: ErrorCode): value is RepJSError {
    if (typeof value !== 'object' || value === null) return false
    if (!(value as Record<symbol, unknown>)[BRAND]) return false
    return code === undefined || (value as RepJSError).code === code
  }
}

/** Where a call came from, as shown in divergence errors. */
export interface CallIdentity {
  kind: string
  name: string
  argsHash: string
  site: string
}

export function describeCall(c: CallIdentity): string {
  return `${c.kind} '${c.name}' (args ${c.argsHash}) at ${c.site || 'a site not captured (replayed from the local cache, or call sites off)'}`
}

export function divergedError(stream: string, slot: number, asked: CallIdentity, logged: CallIdentity & { by: string }): RepJSError {
  return new RepJSError(
    ErrorCodes.DIVERGED,
    `Replica diverged at stream '${stream}' slot ${slot}: this replica called ${describeCall(asked)}, ` +
      `but the log holds ${describeCall(logged)} (proposed by replica ${logged.by}). ` +
      `The program made a different non-deterministic call here than the other replicas did: ` +
      `make the code path before this call depend only on agreed values, or put independent flows on separate named streams.`,
    { details: { stream, slot, asked, logged } },
  )
}

/**
 * The RepJS errors a replica's calls can return as an agreed outcome (read from the log, the same
 * on every replica): a plain script may catch these. Every other RepJS error is this replica's own
 * (a divergence, a refused request, a closed store, ...): under `repjs run` and `runInWorker` it
 * stops the replica instead of being thrown into the script, which could catch it and go on with
 * values the other replicas never saw.
 */
const AGREED_CODES: ReadonlySet<ErrorCode> = new Set([ErrorCodes.IN_DOUBT, ErrorCodes.UNSERIALIZABLE])

/** Whether `err` must stop a plain script's replica rather than be thrown into the script. */
export function stopsReplica(err: unknown): err is RepJSError {
  return RepJSError.is(err) && !AGREED_CODES.has(err.code)
}

export function closedError(): RepJSError {
  return new RepJSError(ErrorCodes.CLOSED, 'This replica is closed: create a new one with connect() to make more calls.')
}

export function badArgument(message: string): RepJSError {
  return new RepJSError(ErrorCodes.BAD_ARGUMENT, message)
}

export function corruptError(key: string, cause?: unknown): RepJSError {
  return new RepJSError(
    ErrorCodes.CORRUPT,
    `Stored value at ${key} does not decode as a RepJS value` +
      (cause instanceof Error ? ` (${cause.message})` : '') +
      `; it was not used or executed. ` +
      `Someone wrote to this run's keys outside RepJS: inspect the key with etcdctl, or start a new run id.`,
    { cause, details: { key } },
  )
}
