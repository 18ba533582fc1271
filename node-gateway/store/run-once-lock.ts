/**
 * Run-once locks (Store.acquire): a lock key under a kept-alive lease, a "started" marker, and the
 * outcome recorded only while the lock is still this holder's (fencing). A lock is named by a
 * random handle, so another gateway connection or process can take over its keep-alive (`attach`).
 */
import { randomInt } from 'node:crypto'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import type { HeldLock, SlotRef } from '../../core/store.js'
import { etcdCall } from './etcd-errors.js'
import { lockKey, markerKey, slotKey } from './keys.js'
import type { KeptLease } from './lease-keeper.js'
import type { RunGuard, RunGuards } from './run-guards.js'
import type { Transport } from './transport.js'
import { absent, b, bytes, del, get, holds, put } from './txn-ops.js'

/** A run-once lock held through this store: named by a handle, re-attachable by it (`attach`). */
export interface EtcdHeldLock extends HeldLock {
  /** Random, 1 .. 2^48-1, part of the lock's token in etcd: the lock's name on the gateway protocol. */
  readonly handle: number
  /** The lease's TTL (ms): a detached lock's lease lives this long after its last keep-alive. */
  readonly ttlMs: number
  /** Stop keeping the lease alive without revoking it: it expires one TTL later unless re-attached. */
  detach(): void
}
export type EtcdAcquireResult = { state: 'decided'; record: Uint8Array } | { state: 'busy' } | { state: 'held'; lock: EtcdHeldLock }

interface LockKeys {
  slot: string
  lock: string
  marker: string
}
const lockKeys = (ref: SlotRef): LockKeys => ({
  slot: slotKey(ref.run, ref.stream, ref.slot),
  lock: lockKey(ref.run, ref.stream, ref.slot),
  marker: markerKey(ref.run, ref.stream, ref.slot),
})
/** The lock key's value: who holds it, under which lease, by which handle. */
const lockToken = (holder: string, lease: string, handle: number) => `${holder}:${lease}:${handle}`

function lost(what: string): RepJSError {
  return new RepJSError(ErrorCodes.LEASE_LOST, `run-once lock lost before ${what}: this replica may not record an outcome`, { details: { what } })
}

export class RunOnceLocks {
  constructor(
    private readonly t: Transport,
    private readonly guards: RunGuards,
    /** Stop functions the store calls when it closes. */
    private readonly stops: Set<() => void>,
  ) {}

  async acquire(ref: SlotRef, holder: string, ttlMs: number, guard: RunGuard | undefined): Promise<EtcdAcquireResult> {
    const keys = lockKeys(ref)
    const ttl = Math.max(1, Math.ceil(ttlMs / 1000))
    const id = await etcdCall('granting a lease', () => this.t.leaseGrant(ttl))
    // Granted just now: ready at once, first keep-alive a third of the TTL later (no round trip now).
    const lease = this.t.keepLease(id, ttl, true)
    const handle = randomInt(1, 2 ** 48)
    const token = lockToken(holder, id, handle)
    let res
    try {
      res = await this.guards.guarded('taking a run-once lock', guard, [absent(keys.slot), absent(keys.lock)], [put(keys.lock, b(token), id), get(keys.marker)], [get(keys.slot)])
    } catch (err) {
      await lease.revoke()
      throw err
    }
    if (!res.succeeded) {
      await lease.revoke()
      const kv = res.responses[0]!.response_range.kvs[0]
      return kv ? { state: 'decided', record: bytes(kv.value) } : { state: 'busy' }
    }
    const markerKv = res.responses[1]!.response_range.kvs[0]
    return { state: 'held', lock: this.held(ref, lease, token, handle, keys, markerKv ? bytes(markerKv.value) : undefined, guard) }
  }

  /**
   * Take over the keep-alive of a lock this holder already holds, by its handle: from another
   * gateway connection or another gateway process (the lease and the lock live in etcd). Answers
   * 'decided' if the slot was decided meanwhile; throws REPJS_LEASE_LOST if the lock is gone (its
   * lease expired or was revoked) or is not this holder's.
   */
  async attach(ref: SlotRef, holder: string, handle: number, guard: RunGuard | undefined): Promise<EtcdAcquireResult> {
    const keys = lockKeys(ref)
    const res = await this.guards.txn('re-attaching to a run-once lock', [], [get(keys.slot), get(keys.lock), get(keys.marker)], [])
    const [slotKv, lockKv, markerKv] = res.responses.map((r) => r.response_range.kvs[0])
    if (slotKv) return { state: 'decided', record: bytes(slotKv.value) }
    const token = lockKv ? Buffer.from(lockKv.value).toString() : ''
    if (!lockKv || token !== lockToken(holder, String(lockKv.lease), handle)) throw lost('re-attaching to the lock (it expired, was released, or is not this holder\'s)')
    const leaseId = String(lockKv.lease)
    const left = await etcdCall('reading a lease', () => this.t.leaseTimeToLive(leaseId))
    // Whole seconds left, rounded down: 0 is a lease about to expire (kept alive from now), -1 a gone one.
    if (left.ttlSec < 0) throw lost('re-attaching to the lock (its lease expired)')
    const lease = this.t.keepLease(leaseId, Math.max(1, left.grantedSec))
    await lease.ready
    return { state: 'held', lock: this.held(ref, lease, token, handle, keys, markerKv ? bytes(markerKv.value) : undefined, guard) }
  }

  private held(ref: SlotRef, lease: KeptLease, token: string, handle: number, keys: LockKeys, marker: Uint8Array | undefined, guard: RunGuard | undefined): EtcdHeldLock {
    if (lease.signal.aborted) {
      // Lost while it was being taken (keep-alives failed during a slow etcd): not a lock to hand out.
      void lease.revoke()
      throw new RepJSError(ErrorCodes.LEASE_LOST, "the run-once lock's lease was lost while it was being taken: try again", { retryable: true })
    }
    // Closing the store stops the keep-alive (the lease then expires); so does losing the lease.
    const stop = () => lease.detach()
    this.stops.add(stop)
    lease.signal.addEventListener('abort', () => this.stops.delete(stop), { once: true })
    return {
      ref,
      marker,
      handle,
      ttlMs: lease.ttlMs,
      signal: lease.signal,
      markStarted: async (m) => {
        // Idempotent: a re-sent marker (after a lost answer) writes the same bytes again.
        const res = await this.guards.guarded('marking a run-once call started', guard, [holds(keys.lock, token)], [put(keys.marker, m, guard?.lease)], [])
        if (!res.succeeded) throw lost('marking the call started')
      },
      decide: async (record) => {
        // A re-sent decision that was already written finds the slot taken and answers its record.
        const res = await this.guards.guarded('recording a run-once outcome', guard, [holds(keys.lock, token), absent(keys.slot)], [put(keys.slot, record, guard?.lease), del(keys.marker), del(keys.lock)], [get(keys.slot)])
        if (res.succeeded) return { won: true, record }
        const kv = res.responses[0]!.response_range.kvs[0]
        if (kv) return { won: false, record: bytes(kv.value) }
        throw lost('recording the outcome')
      },
      release: () => {
        this.stops.delete(stop)
        return lease.revoke()
      },
      detach: () => {
        this.stops.delete(stop)
        lease.detach()
      },
    }
  }
}
