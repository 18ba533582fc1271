/**
 * One shared etcd watch per run stream, fanned out to every subscribed connection. A subscriber
 * gets its history from its own range reads (stopped once caught up) and the live tail from the
 * hub; `Subscription` merges both and pushes slots in order, with no gaps and no duplicates.
 */
import type { EtcdStore } from '../store/etcd-store.js'

export interface SlotSink {
  /** Contiguous decided slots starting at `first`. */
  push(first: number, records: Uint8Array[]): void
  caughtUp(): void
  failed(err: unknown): void
}

const BATCH = 256

export class Subscription {
  private next: number
  private readonly pending = new Map<number, Uint8Array>()
  private historyDone = false
  private stopHistory: (() => void) | undefined

  constructor(
    private readonly hub: Hub,
    from: number,
    private readonly sink: SlotSink,
  ) {
    this.next = from
  }

  /** @internal */
  start(store: EtcdStore, run: string, stream: string): void {
    this.stopHistory = store.follow(run, stream, this.next, {
      slot: (slot, rec) => this.offer(slot, rec),
      caughtUp: () => {
        this.stopHistory?.()
        this.stopHistory = undefined
        this.historyDone = true
        this.sink.caughtUp()
      },
      error: (err) => this.sink.failed(err),
    })
  }

  offer(slot: number, record: Uint8Array): void {
    if (slot < this.next || this.pending.has(slot)) return
    this.pending.set(slot, record)
    if (slot !== this.next) return
    while (this.pending.has(this.next)) {
      const first = this.next
      const batch: Uint8Array[] = []
      while (batch.length < BATCH && this.pending.has(this.next)) {
        batch.push(this.pending.get(this.next)!)
        this.pending.delete(this.next++)
      }
      this.sink.push(first, batch)
    }
  }

  get caughtUp(): boolean {
    return this.historyDone
  }

  close(): void {
    this.stopHistory?.()
    this.hub.remove(this)
  }
}

export class Hub {
  private readonly subs = new Set<Subscription>()
  private stopLive: (() => void) | undefined
  private ready: Promise<void> | undefined

  constructor(
    private readonly store: EtcdStore,
    private readonly run: string,
    private readonly stream: string,
    private readonly onEmpty: () => void,
  ) {}

  get size(): number {
    return this.subs.size
  }

  /** Start the live watch from the current head, once. */
  private startLive(): Promise<void> {
    return (this.ready ??= this.store.headSlot(this.run, this.stream).then(
      (head) =>
        new Promise<void>((resolve) => {
          this.stopLive = this.store.follow(this.run, this.stream, head + 1, {
            slot: (slot, rec) => {
              for (const s of this.subs) s.offer(slot, rec)
            },
            caughtUp: () => resolve(),
            error: (err) => {
              for (const s of this.subs) s.close()
              void err
            },
          })
        }),
    ))
  }

  async subscribe(from: number, sink: SlotSink): Promise<Subscription> {
    const sub = new Subscription(this, from, sink)
    this.subs.add(sub)
    await this.startLive()
    if (this.subs.has(sub)) sub.start(this.store, this.run, this.stream)
    return sub
  }

  remove(sub: Subscription): void {
    if (!this.subs.delete(sub) || this.subs.size > 0) return
    this.stopLive?.()
    this.onEmpty()
  }
}

/** The hubs of one gateway, keyed by run and stream. */
export class Hubs {
  private readonly hubs = new Map<string, Hub>()
  constructor(
    private readonly store: EtcdStore,
    private readonly onCount: (n: number) => void = () => {},
  ) {}

  subscribe(run: string, stream: string, from: number, sink: SlotSink): Promise<Subscription> {
    const key = `${run}\u0000${stream}`
    let hub = this.hubs.get(key)
    if (!hub) {
      hub = new Hub(this.store, run, stream, () => {
        this.hubs.delete(key)
        this.onCount(this.hubs.size)
      })
      this.hubs.set(key, hub)
      this.onCount(this.hubs.size)
    }
    return hub.subscribe(from, sink)
  }

  get count(): number {
    return this.hubs.size
  }
}
