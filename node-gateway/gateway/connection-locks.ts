/**
 * The run-once locks one connection holds, by handle: ACQUIRE and ATTACH under the lease caps,
 * LOCK_LOST when a lease ends, and on close either released (revoked) or detached (left one TTL
 * for the client to re-attach, to this gateway or another).
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { LOCK_BUSY, LOCK_DECIDED, LOCK_HELD, type Message } from '../../core/protocol.js'
import type { SlotRef } from '../../core/store.js'
import type { RunGuard } from '../store/run-guards.js'
import type { EtcdAcquireResult, EtcdHeldLock } from '../store/run-once-lock.js'
import { Counter, leased } from './limits.js'
import type { PeerContext } from './peer-context.js'

/** What the locks need of their connection. */
export interface LockOwner {
  readonly run: string | undefined
  readonly replica: string
  readonly guard: RunGuard | undefined
  readonly closed: boolean
  send(msg: Message): void
  timed<T>(op: string, fn: () => Promise<T>): Promise<T>
}

export class ConnectionLocks {
  /** Run-once locks held on this connection, by handle (random, unique across connections). */
  private readonly locks = new Map<number, EtcdHeldLock>()
  /** Run-once locks held or being acquired on this connection. */
  private readonly count: Counter

  constructor(private readonly ctx: PeerContext, private readonly owner: LockOwner) {
    this.count = new Counter(ctx.limits.maxLocks, 'run-once locks held on one connection')
  }

  async acquire(id: number, ref: SlotRef, ttlMs: number): Promise<Message | undefined> {
    const o = this.owner
    const got = await this.leasing(() => o.timed('acquire', () => this.ctx.store.acquire(ref, o.replica, ttlMs, o.guard)))
    if (got.state === 'decided') return { type: 'acquired', id, state: LOCK_DECIDED, lock: 0, hasBytes: true, bytes: got.record }
    if (got.state === 'busy') return { type: 'acquired', id, state: LOCK_BUSY, lock: 0, hasBytes: false, bytes: new Uint8Array() }
    if (o.closed) {
      await got.lock.release()
      return undefined
    }
    return this.hold(id, got.lock)
  }

  async attach(id: number, ref: SlotRef, handle: number): Promise<Message | undefined> {
    const o = this.owner
    const have = this.locks.get(handle)
    if (have) return this.held(id, have)
    const got = await this.leasing(() => o.timed('attach', () => this.ctx.store.attach(ref, o.replica, handle, o.guard)))
    if (got.state === 'decided') return { type: 'acquired', id, state: LOCK_DECIDED, lock: 0, hasBytes: true, bytes: got.record }
    if (got.state !== 'held') throw new RepJSError(ErrorCodes.LEASE_LOST, `lock ${handle} is not held`)
    if (o.closed) {
      // Gone again: leave the lease to the next connection (or to expire).
      got.lock.detach()
      return undefined
    }
    return this.hold(id, got.lock)
  }

  /** The lock held under `handle`; REPJS_LEASE_LOST if none. */
  get(handle: number): EtcdHeldLock {
    const lock = this.locks.get(handle)
    if (!lock) throw new RepJSError(ErrorCodes.LEASE_LOST, `lock ${handle} is not held on this connection`)
    return lock
  }

  /** RELEASE: revoke the lock's lease; false if this connection holds no such lock. */
  async release(handle: number): Promise<boolean> {
    const lock = this.locks.get(handle)
    if (!lock) return false
    this.unhold(handle)
    await lock.release()
    return true
  }

  /** The connection closed: 'release' revokes every lease, 'detach' leaves each one TTL to be re-attached. */
  closeAll(how: 'release' | 'detach'): void {
    for (const [handle, l] of this.locks) {
      this.unhold(handle)
      if (how === 'release') void l.release()
      else l.detach()
    }
    this.locks.clear()
  }

  /**
   * ACQUIRE or ATTACH under the lease caps, counted before the await (concurrent requests cannot
   * pass a cap together): a held lock keeps its count until it is released, detached or lost.
   */
  private async leasing(take: () => Promise<EtcdAcquireResult>): Promise<EtcdAcquireResult> {
    const give = this.ctx.usage.takeLease(this.owner.run!, this.count)
    let got: EtcdAcquireResult
    try {
      got = await take()
    } catch (err) {
      give()
      throw err
    }
    if (got.state === 'held') return { state: 'held', lock: leased(got.lock, give) }
    give()
    return got
  }

  /** Keep `lock` on this connection under its handle; LOCK_LOST when its lease ends. */
  private hold(id: number, lock: EtcdHeldLock): Message {
    const have = this.locks.get(lock.handle)
    if (have) {
      // Two ATTACHes of one lock crossed: keep the first keeper.
      lock.detach()
      return this.held(id, have)
    }
    this.locks.set(lock.handle, lock)
    this.ctx.metrics.locks.inc()
    lock.signal.addEventListener('abort', () => {
      if (this.locks.get(lock.handle) !== lock) return
      this.unhold(lock.handle)
      this.owner.send({ type: 'lockLost', lock: lock.handle })
    }, { once: true })
    return this.held(id, lock)
  }

  private unhold(handle: number): void {
    if (this.locks.delete(handle)) this.ctx.metrics.locks.dec()
  }

  private held(id: number, lock: EtcdHeldLock): Message {
    const marker = lock.marker
    return { type: 'acquired', id, state: LOCK_HELD, lock: lock.handle, hasBytes: marker !== undefined, bytes: marker ?? new Uint8Array() }
  }
}
