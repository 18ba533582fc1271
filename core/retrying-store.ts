/**
 * The store as the engine's features use it: every operation retried while its failure is
 * retryable (withRetry: the one backoff, the replica's status while it lasts, REPJS_CLOSED once the
 * replica closes), so vote, run-once, input, snapshot and the engine hold no retry loop of their own,
 * and set no status of their own (waiting for other replicas' votes is shown from here too).
 * A run-once lock it hands out retries its marker and fenced decide the same way.
 */
import { withRetry, type RetryContext } from './retry.js'
import type { AcquireResult, Bytes, HeldLock, ProposeResult, SlotRef, Store } from './store.js'

export class RetryingStore {
  constructor(
    private readonly store: Store,
    private readonly retry: RetryContext,
  ) {}

  propose(ref: SlotRef, record: Bytes, clearVotes = false): Promise<ProposeResult> {
    return withRetry(this.retry, () => this.store.propose(ref, record, clearVotes))
  }

  vote(ref: SlotRef, voter: string, value: Bytes): Promise<Bytes | undefined> {
    return withRetry(this.retry, () => this.store.vote(ref, voter, value))
  }

  awaitVotes(ref: SlotRef, n: number, signal: AbortSignal): Promise<Bytes[]> {
    return withRetry(this.retry, () => this.store.awaitVotes(ref, n, signal))
  }

  readSnapshot(run: string, stream: string): Promise<Bytes | undefined> {
    return withRetry(this.retry, () => this.store.readSnapshot(run, stream))
  }

  writeSnapshot(ref: SlotRef, snapshot: Bytes): Promise<Bytes> {
    return withRetry(this.retry, () => this.store.writeSnapshot(ref, snapshot))
  }

  collect(ref: SlotRef): Promise<number> {
    return withRetry(this.retry, () => this.store.collect(ref))
  }

  /**
   * Show 'waiting-for-quorum' (with `reason`) while this replica waits for other replicas (their
   * votes); returns the function that ends it.
   */
  waitingForQuorum(reason: string): () => void {
    this.retry.onFault('waiting-for-quorum', reason)
    return () => this.retry.onFault(undefined)
  }

  async acquire(ref: SlotRef, holder: string, ttlMs: number): Promise<AcquireResult> {
    const got = await withRetry(this.retry, () => this.store.acquire(ref, holder, ttlMs))
    return got.state === 'held' ? { state: 'held', lock: this.retrying(got.lock) } : got
  }

  private retrying(lock: HeldLock): HeldLock {
    return {
      ref: lock.ref,
      marker: lock.marker,
      signal: lock.signal,
      markStarted: (marker) => withRetry(this.retry, () => lock.markStarted(marker)),
      decide: (record) => withRetry(this.retry, () => lock.decide(record)),
      release: () => lock.release(),
    }
  }
}
