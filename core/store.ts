/**
 * The contract between the engine and where the log lives. Two implementations fill it:
 * `node-gateway/store/etcd-store.ts` (etcd3, for Node replicas and for the gateway) and, later,
 * the gateway client in core. Everything is bytes here; the engine owns encoding.
 *
 * Failures: a store throws `RepJSError` with `retryable: true` and `retryAs` set to
 * 'reconnecting' (store unreachable) or 'waiting-for-quorum' (reachable, no quorum / timeout)
 * when retrying may succeed; any other error is final.
 */
export type Bytes = Uint8Array

/**
 * A run record to create, or how to make it: a function is called once, only when the record is
 * written (a replica that joins an existing run skips its cost, e.g. the zone's Intl start-up).
 */
export type RunMetaSource = Bytes | (() => Bytes)

/** The bytes of a RunMetaSource (calls a function source). */
export function metaBytes(meta: RunMetaSource): Bytes {
  return typeof meta === 'function' ? meta() : meta
}

export interface ProposeResult {
  /**
   * True if this proposal was written; false if another record was already there. The engine reads
   * only `record`; the gateway sends `won` in DECIDED and charges a run's write usage by it.
   */
  won: boolean
  /** The record now stored for the slot (ours if won). */
  record: Bytes
}

export interface FollowHandlers {
  /** A decided slot (each at most once per follow, in any order; see `resumeFrom`). */
  slot(slot: number, record: Bytes): void
  /** Every slot decided when following began has been delivered. */
  caughtUp(): void
  /** The follow failed for good (not for transient faults, which it rides out). */
  error(err: unknown): void
  /**
   * Optional: the lowest slot the follower still needs, asked each time the follow re-reads after a
   * fault (a lost watch). The re-read starts there, so a slot decided late while the watch was down
   * is delivered even below `fromSlot`. Nothing is deduplicated then: a slot may come more than once.
   */
  resumeFrom?(): number
}

export interface HeldLock {
  /** The slot this lock is for. */
  readonly ref: SlotRef
  /** A "started" marker left by an earlier holder that died mid-call, if any. */
  readonly marker: Bytes | undefined
  /** Fires when the lease behind the lock is lost. */
  readonly signal: AbortSignal
  /** Write the "started" marker, fenced by the lock. */
  markStarted(marker: Bytes): Promise<void>
  /**
   * Record the slot's outcome only if this holder still holds the lock (fencing), removing the
   * marker and the lock key in the same transaction. Throws REPJS_LEASE_LOST otherwise.
   */
  decide(record: Bytes): Promise<ProposeResult>
  /** Revoke the lease and drop the lock key if still ours. Never throws. */
  release(): Promise<void>
}

export type AcquireResult =
  | { state: 'decided'; record: Bytes }
  | { state: 'busy' }
  | { state: 'held'; lock: HeldLock }

export interface SlotRef {
  run: string
  stream: string
  slot: number
}

/** How a run is opened (run lifecycle). */
export interface OpenRunOptions {
  /** Create the run again if it was deleted or expired (a new incarnation); a live run is joined. */
  newRun?: boolean
  /** When this open creates the run: it expires after this many ms with no replica keeping it open. */
  ttlMs?: number
}

/** A store's own view of its connection: 'failed' is final (bad token, protocol error). */
export type StoreHealth = 'ok' | 'reconnecting' | 'waiting-for-quorum' | 'failed'

export interface Store {
  /**
   * Optional: stopping follow() and following again is cheap and cannot be refused (direct etcd: a
   * range read and a watch; not a gateway, whose subscriptions are capped and rate-limited). A
   * stream's log then stops reading while this replica decides its slots itself (StreamLog.settled).
   */
  readonly cheapFollow?: boolean
  /**
   * Optional: connection health pushed by the store (the gateway client), shown as status. 'failed'
   * comes with the error that stops the replica.
   */
  onHealth?(listener: (health: StoreHealth, reason?: string, error?: unknown) => void): () => void
  /**
   * Create the run's record if absent (one transaction); return the stored one. A run that existed
   * and was deleted or expired fails with REPJS_RUN_GONE unless `opts.newRun` creates it again.
   */
  openRun(run: string, meta: RunMetaSource, opts?: OpenRunOptions): Promise<{ meta: Bytes; created: boolean }>
  /** First writer wins, in one transaction. `clearVotes` also deletes the slot's votes when winning. */
  propose(ref: SlotRef, record: Bytes, clearVotes?: boolean): Promise<ProposeResult>
  /** Deliver every decided slot >= fromSlot of a stream, now and as they are decided. Returns a stop function. */
  follow(run: string, stream: string, fromSlot: number, handlers: FollowHandlers): () => void
  /**
   * Optional: the highest decided slot of a stream now (-1 if none). Read once when a replica opens
   * its main stream, so that catch-up progress shows how far the log goes before the (windowed)
   * prefetch has read that far.
   */
  headSlot?(run: string, stream: string): Promise<number>
  /** Write this voter's vote unless the slot is decided; returns the decided record if it is. */
  vote(ref: SlotRef, voter: string, value: Bytes): Promise<Bytes | undefined>
  /** Resolve with the first `n` votes in commit order once there are `n`. */
  awaitVotes(ref: SlotRef, n: number, signal: AbortSignal): Promise<Bytes[]>
  /** The latest snapshot of a stream (`/repjs/v1/<run>/snap/<stream>`), undefined if none. */
  readSnapshot(run: string, stream: string): Promise<Bytes | undefined>
  /**
   * Store the snapshot taken at `ref.slot` unless the one stored is at that slot or later (checked
   * in the transaction); return the snapshot stored now (ours or the later one).
   */
  writeSnapshot(ref: SlotRef, snapshot: Bytes): Promise<Bytes>
  /**
   * Delete the stream's slot records below `ref.slot`, which must not be above the latest
   * snapshot's slot, in bounded transactions; returns how many were deleted (by the transactions
   * that answered: one whose answer was lost and is retried deletes them without counting them).
   */
  collect(ref: SlotRef): Promise<number>
  /** Try to take the run-once lock of a slot under a lease of `ttlMs`. */
  acquire(ref: SlotRef, holder: string, ttlMs: number): Promise<AcquireResult>
  /**
   * Optional: set this replica's presence key (/repjs/v1/<run>/p/<replica>, core/presence.ts) to
   * `value`, bound to a lease the store keeps alive and drops when it closes (after a crash the
   * lease expires). Best effort: the caller logs a failure and never surfaces it to a call.
   */
  present?(run: string, replica: string, value: Bytes): Promise<void>
  close(): Promise<void>
}
