/**
 * What the gateway needs of its store, and nothing more: the Store contract (core/store.ts) with
 * each write under the connection's own run guard, run-once locks named by a handle (so another
 * connection can re-attach), the log head, and presence keys under a lease of the connection's.
 * EtcdStore fills it; Peer and Hub never reach past it (no etcd client, no transport).
 */
import type { FollowHandlers, OpenRunOptions, ProposeResult, SlotRef, Store } from '../../core/store.js'
import type { OpenedRun, RunGuard } from '../store/run-guards.js'
import type { EtcdAcquireResult } from '../store/run-once-lock.js'

/** Presence keys under one kept-alive lease (store/presence-lease.ts), revoked on close. */
export interface PresenceWriter {
  put(key: string, value: Uint8Array, meta: string): Promise<void>
  close(): Promise<void>
}

/** Following a stream from its head: what a hub needs. */
export interface LogStore {
  follow(run: string, stream: string, fromSlot: number, handlers: FollowHandlers): () => void
  /** The highest decided slot of a stream now, or -1 (Store.headSlot, required here). */
  headSlot: NonNullable<Store['headSlot']>
}

export interface ServedStore extends LogStore {
  /** Store.openRun, with the guard of this open (each connection writes under its own). */
  openRun(run: string, meta: Uint8Array, opts?: OpenRunOptions): Promise<OpenedRun>
  propose(ref: SlotRef, record: Uint8Array, clearVotes: boolean | undefined, guard: RunGuard | undefined): Promise<ProposeResult>
  vote(ref: SlotRef, voter: string, value: Uint8Array, guard: RunGuard | undefined): Promise<Uint8Array | undefined>
  awaitVotes(ref: SlotRef, n: number, signal: AbortSignal, guard: RunGuard | undefined): Promise<Uint8Array[]>
  readSnapshot: Store['readSnapshot']
  writeSnapshot(ref: SlotRef, snapshot: Uint8Array, guard: RunGuard | undefined): Promise<Uint8Array>
  collect(ref: SlotRef, guard: RunGuard | undefined): Promise<number>
  /** Store.acquire, the lock named by a handle. */
  acquire(ref: SlotRef, holder: string, ttlMs: number, guard: RunGuard | undefined): Promise<EtcdAcquireResult>
  /** Take over the keep-alive of a lock this holder holds, by its handle. */
  attach(ref: SlotRef, holder: string, handle: number, guard: RunGuard | undefined): Promise<EtcdAcquireResult>
  /** A presence lease of a connection's own. */
  presenceLease(): PresenceWriter
}
