/**
 * Presence keys (core/presence.ts) under one lease: a direct replica's store holds one, and the
 * gateway one per connection that announced itself. The lease (PRESENCE_TTL_S) is granted on the
 * first write and kept alive (lease-keeper.ts); a write that fails drops it, so the next write
 * grants a fresh one (a lease that expired while etcd was unreachable is not reused). A lost lease
 * (etcd unreachable for two TTLs) took the keys with it: the last key written is written again
 * under a new lease, once a second until it is, since an idle replica may have nothing new to say.
 * `close()` revokes it, deleting the keys; if that cannot reach etcd, they expire within the TTL.
 */
import { PRESENCE_TTL_S } from '../../core/presence.js'
import { etcdCall } from './etcd-errors.js'
import type { KeptLease } from './lease-keeper.js'
import type { Transport } from './transport.js'

export class PresenceLease {
  private lease: Promise<KeptLease> | undefined
  private closed = false
  private last: { key: string; value: Uint8Array; meta: string } | undefined
  private rewriting: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly t: Transport,
    private readonly ttlSec = PRESENCE_TTL_S,
  ) {}

  private current(): Promise<KeptLease> {
    if (!this.lease) {
      const granting = etcdCall('granting the presence lease', () => this.t.leaseGrant(this.ttlSec)).then((id) => this.t.keepLease(id, this.ttlSec, true))
      this.lease = granting
      const lost = () => {
        this.drop(granting)
        this.rewrite()
      }
      granting.then((l) => l.signal.addEventListener('abort', lost, { once: true }), () => this.drop(granting))
    }
    return this.lease
  }

  private drop(lease: Promise<KeptLease>): void {
    if (this.lease !== lease) return
    this.lease = undefined
    void lease.then((l) => l.revoke(), () => {})
  }

  private rewrite(): void {
    if (this.closed || !this.last || this.rewriting) return
    const { key, value, meta } = this.last
    this.rewriting = setTimeout(() => {
      this.rewriting = undefined
      if (this.last?.key === key && this.last.value === value) this.put(key, value, meta).catch(() => this.rewrite())
    }, 1000)
    this.rewriting.unref?.()
  }

  /**
   * Put `value` at `key` under the lease, if the run record `meta` exists (a deleted run gets no
   * presence keys back from its last replicas). Throws the store's error if it could not.
   */
  async put(key: string, value: Uint8Array, meta: string): Promise<void> {
    if (this.closed) return
    this.last = { key, value, meta }
    const leasing = this.current()
    const lease = await leasing
    try {
      await etcdCall('writing presence', () => this.t.txn({
        compare: [{ key: Buffer.from(meta), target: 'Create', result: 'Greater', create_revision: 0 }],
        success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: lease.id } }],
        failure: [],
      }))
    } catch (err) {
      this.drop(leasing)
      throw err
    }
    // Closed while writing: the revoke may have run before the put.
    if (this.closed) await lease.revoke()
  }

  /** Revoke the lease (its keys go with it); gives up after `waitMs` (etcd unreachable), leaving them to expire. */
  async close(waitMs = 3000): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.rewriting)
    const leasing = this.lease
    this.lease = undefined
    if (!leasing) return
    let timer: ReturnType<typeof setTimeout> | undefined
    const revoked = leasing.then((l) => l.revoke(), () => {})
    await Promise.race([revoked, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))])
    clearTimeout(timer)
  }
}
