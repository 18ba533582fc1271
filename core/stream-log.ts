/**
 * One stream of a run as this replica sees it: the slots it has taken, the decided records that
 * arrived ahead of use (prefetched pages and the watch), and waiters for slots not decided yet.
 * A replica that is behind answers from here with no round trip.
 */
import type { Store } from './store.js'

/** A replica-local copy of one stream's decided records (e.g. IndexedDB in a browser tab). */
export interface StreamCache {
  /** Records saved earlier, for consecutive slots from 0. */
  load(): Promise<Uint8Array[]>
  save(slot: number, record: Uint8Array): void
}

export class StreamLog {
  /** The next slot a call on this stream takes. */
  next = 0
  /** Highest decided slot seen. */
  head = -1
  caughtUp = false
  private decided = new Map<number, Uint8Array>()
  private inflight = new Set<number>()
  private waiters = new Map<number, Array<() => void>>()
  private caughtUpWaiters: Array<() => void> = []
  private stopFollow: () => void
  failure: unknown

  constructor(
    store: Store,
    run: string,
    readonly name: string,
    onError: (err: unknown) => void,
    private readonly onHead: () => void = () => {},
    private readonly cache?: StreamCache,
  ) {
    let stopped = false
    this.stopFollow = () => {
      stopped = true
    }
    const follow = (from: number) => {
      if (stopped) return
      this.stopFollow = store.follow(run, name, from, {
        slot: (slot, record) => this.arrive(slot, record),
        caughtUp: () => {
          this.caughtUp = true
          for (const w of this.caughtUpWaiters.splice(0)) w()
          this.onHead()
        },
        error: (err) => {
          this.failure = err
          onError(err)
        },
      })
    }
    if (!cache) {
      follow(0)
      return
    }
    // Restore what this replica saved earlier at once, then fetch only the tail.
    cache.load().then(
      (records) => {
        records.forEach((r, slot) => this.arrive(slot, r, false))
        follow(records.length)
      },
      () => follow(0),
    )
  }

  /** Take the next slot number, in call order. */
  take(): number {
    const slot = this.next++
    this.inflight.add(slot)
    return slot
  }

  /** Done with a slot: forget its record. */
  release(slot: number): void {
    this.inflight.delete(slot)
    this.decided.delete(slot)
  }

  private arrive(slot: number, record: Uint8Array, save = true): void {
    if (save) this.cache?.save(slot, record)
    if (slot > this.head) {
      this.head = slot
      this.onHead()
    }
    if (slot < this.next && !this.inflight.has(slot)) return
    this.decided.set(slot, record)
    const ws = this.waiters.get(slot)
    if (ws) {
      this.waiters.delete(slot)
      for (const w of ws) w()
    }
  }

  /** Record a decision learned from our own transaction. */
  learn(slot: number, record: Uint8Array): void {
    this.arrive(slot, record)
  }

  /** The slot's record if known locally; waits for the initial catch-up first. */
  async known(slot: number): Promise<Uint8Array | undefined> {
    const hit = this.decided.get(slot)
    if (hit || this.caughtUp) return hit
    await new Promise<void>((resolve) => {
      this.caughtUpWaiters.push(resolve)
      this.onDecided(slot, resolve)
    })
    return this.decided.get(slot)
  }

  peek(slot: number): Uint8Array | undefined {
    return this.decided.get(slot)
  }

  /** Call `cb` once when `slot` is decided (or now if it is). Returns a cancel function. */
  onDecided(slot: number, cb: () => void): () => void {
    if (this.decided.has(slot)) {
      cb()
      return () => {}
    }
    let list = this.waiters.get(slot)
    if (!list) this.waiters.set(slot, (list = []))
    list.push(cb)
    return () => {
      const l = this.waiters.get(slot)
      if (l) l.splice(l.indexOf(cb) >>> 0, 1)
    }
  }

  close(): void {
    this.stopFollow()
    for (const ws of this.waiters.values()) for (const w of ws) w()
    this.waiters.clear()
    for (const w of this.caughtUpWaiters.splice(0)) w()
  }
}
