/**
 * The run-once locks a gateway store holds, by the handle the gateway gave them (unique across
 * connections). A lock outlives its connection for its lease's TTL: when the connection drops it is
 * detached (and lost if no new connection re-attaches it in time); on the next connection it is
 * re-attached by its handle, then its requests (MARK_STARTED / DECIDE_LOCKED, both idempotent) are
 * sent again, or it is released if that was asked meanwhile.
 */
import { RepJSError } from './errors.js'
import { lostLock, type SocketLike } from './gateway-options.js'
import { encodeMessage, LOCK_HELD, type Message, type Messages } from './protocol.js'
import type { HeldLock, SlotRef } from './store.js'

interface HeldEntry {
  ref: SlotRef
  ttlMs: number
  ac: AbortController
  /** While detached: fires one TTL after the drop, when the lease may have expired; the lock is then lost. */
  expiry?: ReturnType<typeof setTimeout>
  /** Attached on the current connection (by its ACQUIRED or a re-ATTACH): its requests may be sent. */
  attached: boolean
  /** Released while detached: RELEASE is sent once the lock is re-attached. */
  releasing: boolean
}

export interface RequestOptions {
  /** MARK_STARTED / DECIDE_LOCKED: the lock's handle; (re-)sent only while the lock is attached. */
  lock?: number
  /** ATTACH: about one connection only; dropped with it (the next connection attaches anew). */
  perConnection?: boolean
  deadline?: 'reject' | 'reconnect' | 'none'
  /** PROPOSE: the slot it decides, delivered from its DECIDED to the subscriptions standing at it. */
  place?: { stream: string; slot: number }
}

/** What the lock table needs of the store's connection. */
export interface LockConnection {
  /** The current socket (undefined between connections). */
  socket(): SocketLike | undefined
  /** WELCOME came on the current socket. */
  ready(): boolean
  request<K extends Message['type']>(build: (id: number) => Message, opts?: RequestOptions): Promise<Messages[K]>
  /** Send the requests waiting for this lock to be attached. */
  sendWaiting(handle: number): void
  /** Fail the requests of a lost lock. */
  failWaiting(handle: number, err: RepJSError): void
}

export class GatewayLocks {
  private readonly locks = new Map<number, HeldEntry>()

  constructor(private readonly conn: LockConnection) {}

  /** The lock is attached on the current connection: its requests may be sent now. */
  attached(handle: number): boolean {
    return this.locks.get(handle)?.attached === true
  }

  /** A lock the gateway just granted (ACQUIRED, held), as the engine uses it. */
  hold(ref: SlotRef, ttlMs: number, handle: number, marker: Uint8Array | undefined): HeldLock {
    const held: HeldEntry = { ref, ttlMs, ac: new AbortController(), attached: true, releasing: false }
    this.locks.set(handle, held)
    const { signal } = held.ac
    return {
      ref,
      marker,
      signal,
      markStarted: async (marker) => {
        if (signal.aborted) throw lostLock()
        await this.conn.request<'ok'>((id) => ({ type: 'markStarted', id, lock: handle, marker }), { lock: handle })
      },
      decide: async (record) => {
        if (signal.aborted) throw lostLock()
        const d = await this.conn.request<'decided'>((id) => ({ type: 'decideLocked', id, lock: handle, record }), { lock: handle })
        return { won: d.won, record: d.record }
      },
      release: async () => this.release(handle, held),
    }
  }

  /** A new connection is ready: re-attach every lock held. */
  attachAll(): void {
    for (const [handle, held] of this.locks) this.attach(handle, held)
  }

  /** Re-attach a held lock on this connection, then (re-)send its requests, or release it if asked to. */
  private attach(handle: number, held: HeldEntry): void {
    const ws = this.conn.socket()
    const current = () => this.conn.socket() === ws && this.locks.get(handle) === held
    this.conn.request<'acquired'>((id) => ({ type: 'attach', id, stream: held.ref.stream, slot: held.ref.slot, lock: handle }), { perConnection: true, deadline: 'none' }).then(
      (m) => {
        if (this.conn.socket() !== ws) return
        if (this.locks.get(handle) !== held) {
          // Given up while the ATTACH was on its way (its TTL ran out): the gateway must not keep it.
          if (m.state === LOCK_HELD) ws!.send(encodeMessage({ type: 'release', lock: handle }))
          return
        }
        // Decided meanwhile (perhaps by this holder's own DECIDE_LOCKED, whose answer was lost): the
        // engine finds the record when it asks for the slot again.
        if (m.state !== LOCK_HELD) return this.lose(handle, held)
        held.attached = true
        clearTimeout(held.expiry)
        if (held.releasing) return this.release(handle, held)
        this.conn.sendWaiting(handle)
      },
      (err: unknown) => {
        if (!current()) return
        if (RepJSError.is(err) && err.retryable) return void setTimeout(() => current() && this.attach(handle, held), 500)
        this.lose(handle, held)
      },
    )
  }

  /** The gateway said LOCK_LOST for this handle. */
  lost(handle: number): void {
    const held = this.locks.get(handle)
    if (held) this.lose(handle, held)
  }

  private lose(handle: number, held: HeldEntry): void {
    if (this.locks.get(handle) !== held) return
    this.locks.delete(handle)
    clearTimeout(held.expiry)
    const err = lostLock()
    held.ac.abort(err)
    this.conn.failWaiting(handle, err)
  }

  private release(handle: number, held: HeldEntry): void {
    if (this.locks.get(handle) !== held) return
    if (!this.conn.ready() || !held.attached) {
      held.releasing = true
      return
    }
    this.locks.delete(handle)
    clearTimeout(held.expiry)
    this.conn.socket()!.send(encodeMessage({ type: 'release', lock: handle }))
  }

  /**
   * The connection dropped; `lastHeard` is when its gateway was last heard. Locks stay held (their
   * leases outlive the connection for a TTL) until the next connection re-attaches them.
   */
  detachAll(lastHeard: number): void {
    for (const [handle, held] of this.locks) {
      // Counted from the last frame heard, not from noticing the drop (up to two ping intervals
      // later): the gateway renewed the lease every TTL/3 while it was attached, so the lease lasts at
      // least 2/3 TTL past that frame; past it the lock may be gone and `fn` must be told. A connection
      // that drops again before the re-attach does not extend it.
      if (!held.attached) continue
      held.attached = false
      const left = Math.max(0, lastHeard + (held.ttlMs * 2) / 3 - performance.now())
      held.expiry = setTimeout(() => !held.attached && this.lose(handle, held), left)
    }
  }

  /** The store closed or failed for good: every lock's signal fires with `err`. */
  dropAll(err: RepJSError): void {
    for (const held of this.locks.values()) {
      clearTimeout(held.expiry)
      held.ac.abort(err)
    }
    this.locks.clear()
  }
}
