/**
 * One shared etcd watch per run stream, fanned out to every subscribed connection. A subscriber
 * gets its history from its own range reads (stopped once caught up) and the live tail from the
 * hub; `Subscription` merges both and pushes slots in order, with no gaps and no duplicates.
 *
 * History is paced by the client: while the connection has more than half of its buffer limit
 * queued, the history read stops and what it had read is dropped; once the client has drained it
 * starts again from the next undelivered slot. So catching up on a long log costs the gateway at
 * most about one buffer per client, and a client that reads is never taken for a slow consumer. A
 * client that stops reading while catching up is given up on after STALL_MS; once caught up, the
 * live tail is pushed as it comes, and the connection enforces its buffer limit (SLOW_CONSUMER).
 *
 * Slots can be decided out of order (a long call at slot k while k+1.. are decided). The hub's
 * watch delivers every slot it sees, and after a fault (a lost watch: etcd restart, no leader, a
 * cut) it re-reads from the lowest slot any subscriber still needs, so a late slot is never lost. A
 * subscriber holds at most WINDOW slots behind a missing one; past that it turns them away and
 * reads them back from etcd once the missing slot has come.
 */
import { Backoff } from '../../core/retry.js'
import type { LogStore } from './served-store.js'
import { limitError } from './limits.js'

export interface SlotSink {
  /** Contiguous decided slots starting at `first`. */
  push(first: number, records: Uint8Array[]): void
  caughtUp(): void
  failed(err: unknown): void
  /** Bytes queued on the connection, not yet taken by the client. */
  buffered(): number
  /** The connection's limit on queued bytes. */
  readonly maxBuffered: number
  /** The client stopped reading while catching up. */
  stalled(): void
}

/** At most this many records per SLOTS frame (PROTOCOL.md), and about this many bytes. */
const BATCH = 256
const BATCH_BYTES = 512 * 1024
/** A client catching up that drains nothing for this long is given up on. */
export const STALL_MS = 10_000
const POLL_MS = 20
/**
 * Records a subscriber holds back behind an undecided slot, at most (and at most a quarter of its
 * connection's buffer limit in bytes). Past that it turns slots away and reads them back from etcd
 * once the missing slot has come.
 */
export const WINDOW = 1024

export class Subscription {
  private next: number
  private readonly pending = new Map<number, Uint8Array>()
  private heldBytes = 0
  /** The lowest slot turned away for want of room since the last history read started. */
  private missedFrom: number | undefined
  /** A history read is running. */
  private reading = false
  private toldCaughtUp = false
  private stopHistory: (() => void) | undefined
  private source: { store: LogStore; run: string; stream: string } | undefined
  private flushing = false
  private paused = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false

  constructor(
    private readonly hub: Hub,
    from: number,
    private readonly sink: SlotSink,
  ) {
    this.next = from
  }

  /** The lowest slot this subscriber still needs: where the hub re-reads from after a fault. */
  get need(): number {
    return this.next
  }

  /** Records held, not yet pushed (at most WINDOW). */
  get held(): number {
    return this.pending.size
  }

  /** @internal */
  start(store: LogStore, run: string, stream: string): void {
    this.source = { store, run, stream }
    this.readHistory()
  }

  /** Read from `next` until caught up: everything decided before now, turned away or not. */
  private readHistory(): void {
    const { store, run, stream } = this.source!
    this.reading = true
    this.missedFrom = undefined
    const stop = store.follow(run, stream, this.next, {
      slot: (slot, rec) => this.offer(slot, rec, this.stopHistory === stop),
      caughtUp: () => {
        if (this.stopHistory !== stop || this.closed) return
        this.flush()
        // Paused by that flush: the read starts over, and says caught up once it is.
        if (this.paused) return
        this.endHistory()
      },
      error: (err) => this.sink.failed(err),
    })
    this.stopHistory = stop
  }

  /** The history read is over (or pointless): caught up, and read again if a slot it needs was turned away. */
  private endHistory(): void {
    this.stopHistory?.()
    this.stopHistory = undefined
    this.reading = false
    if (!this.toldCaughtUp) {
      this.toldCaughtUp = true
      this.sink.caughtUp()
    }
    this.readMissed()
  }

  /** Slots were turned away and the subscriber has come up to them: read them back from etcd. */
  private readMissed(): void {
    if (this.closed || this.reading || this.paused || !this.source) return
    if (this.missedFrom !== undefined && this.missedFrom <= this.next) this.readHistory()
  }

  /**
   * The live tail: contiguous slots from `first`, the same array for every subscriber of the hub.
   * Once caught up with nothing held, they go out at once, as one frame; otherwise one by one.
   */
  offerLive(first: number, records: Uint8Array[]): void {
    if (this.source && !this.reading && !this.closed && !this.paused && first === this.next && this.pending.size === 0) {
      this.next += records.length
      this.sink.push(first, records)
      return this.readMissed()
    }
    records.forEach((rec, i) => this.offer(first + i, rec, false))
  }

  private offer(slot: number, record: Uint8Array, fromHistory: boolean): void {
    if (this.closed || this.paused || slot < this.next || this.pending.has(slot)) return
    if (slot !== this.next && this.full(record)) {
      // Make room by handing on what is contiguous; the slot `next` itself is always taken.
      this.flush()
      if (this.closed || this.paused || slot < this.next) return
      if (slot !== this.next && this.full(record)) {
        this.missedFrom = Math.min(this.missedFrom ?? slot, slot)
        // The history read passed `next` without finding it (it reads in slot order): `next` is not
        // decided yet. Reading on would only turn more away; read again once `next` has come.
        if (fromHistory) this.endHistory()
        return
      }
    }
    this.pending.set(slot, record)
    this.heldBytes += record.length
    // A history page arrives slot by slot in one go: push it as a few frames, not one per slot.
    if (slot === this.next && !this.flushing) {
      this.flushing = true
      queueMicrotask(() => {
        this.flushing = false
        this.flush()
      })
    }
  }

  private full(record: Uint8Array): boolean {
    if (this.pending.size === 0) return false
    return this.pending.size >= WINDOW || this.heldBytes + record.length > this.sink.maxBuffered / 4
  }

  private flush(): void {
    if (this.closed || this.paused) return
    const max = this.sink.maxBuffered
    const batchBytes = Math.min(BATCH_BYTES, Math.max(1, Math.floor(max / 4)))
    while (this.pending.has(this.next)) {
      // Catching up is paced; once caught up, slots read back after a gap go out as the live tail
      // does (they would have been held and pushed at once), under the connection's buffer limit.
      if (this.reading && !this.toldCaughtUp && this.sink.buffered() > max / 2) return this.pause()
      const first = this.next
      const batch: Uint8Array[] = []
      let bytes = 0
      // A frame stays well under any client's frame limit, whatever the records weigh.
      while (batch.length < BATCH && this.pending.has(this.next)) {
        const rec = this.pending.get(this.next)!
        if (batch.length > 0 && bytes + rec.length > batchBytes) break
        bytes += rec.length
        batch.push(rec)
        this.pending.delete(this.next++)
      }
      this.heldBytes -= bytes
      this.sink.push(first, batch)
    }
    this.readMissed()
  }

  /** Stop reading history and drop what is held; read again from `next` once the client drained. */
  private pause(): void {
    this.paused = true
    this.stopHistory?.()
    this.stopHistory = undefined
    this.pending.clear()
    this.heldBytes = 0
    let last = this.sink.buffered()
    let since = Date.now()
    const poll = () => {
      this.timer = undefined
      if (this.closed) return
      const now = this.sink.buffered()
      if (now <= this.sink.maxBuffered / 4) {
        this.paused = false
        return this.readHistory()
      }
      if (now < last) since = Date.now()
      last = now
      if (Date.now() - since > STALL_MS) return this.sink.stalled()
      this.timer = setTimeout(poll, POLL_MS)
    }
    this.timer = setTimeout(poll, POLL_MS)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.stopHistory?.()
    this.stopHistory = undefined
    this.pending.clear()
    this.heldBytes = 0
    this.hub.remove(this)
  }
}

export class Hub {
  private readonly subs = new Set<Subscription>()
  private stopLive: (() => void) | undefined
  private ready: Promise<void> | undefined
  /** Set once the last subscriber left: the hub is out of `Hubs` and must not start anything. */
  private closed = false
  private wake: (() => void) | undefined
  /** Live slots gathered for the next fan-out. */
  private batch: { first: number; records: Uint8Array[] } | undefined

  constructor(
    private readonly store: LogStore,
    private readonly run: string,
    private readonly stream: string,
    private readonly onEmpty: () => void,
  ) {}

  /**
   * Start the live watch from the current head, once. Reading the head is retried until it works
   * (etcd down, no quorum), like every other read of the log; it resolves early if the hub closes.
   */
  private startLive(): Promise<void> {
    return (this.ready ??= (async () => {
      const backoff = new Backoff({ initialMs: 25, maxMs: 2000 })
      let head: number | undefined
      while (head === undefined) {
        if (this.closed) return
        try {
          head = await this.store.headSlot(this.run, this.stream)
        } catch {
          await this.pause(backoff.next())
        }
      }
      if (this.closed) return
      await new Promise<void>((resolve) => {
        this.wake = resolve
        // Slots up to the head come from each subscriber's own history read; after a fault the
        // re-read starts at the lowest slot a subscriber still needs, so a slot decided late (below
        // the head, while the watch was down) still reaches the subscribers waiting for it.
        this.stopLive = this.store.follow(this.run, this.stream, head + 1, {
          slot: (slot, rec) => this.live(slot, rec),
          caughtUp: () => resolve(),
          // follow() retries on its own; it reports nothing it gives up on.
          error: () => {},
          resumeFrom: () => this.need(head + 1),
        })
      })
      this.wake = undefined
    })())
  }

  /**
   * Slots from the watch are gathered until the end of the current task (one watch response) and
   * handed to every subscriber as one array: one frame per subscriber, encoded once per frame
   * content (see `encodeSlots` in peer-frames.ts), however many subscribers share it.
   */
  private live(slot: number, rec: Uint8Array): void {
    const run = this.batch
    if (run && slot === run.first + run.records.length && run.records.length < BATCH) {
      run.records.push(rec)
      return
    }
    if (run) this.fanOut()
    this.batch = { first: slot, records: [rec] }
    queueMicrotask(() => this.fanOut())
  }

  private need(otherwise: number): number {
    let low = Infinity
    for (const s of this.subs) low = Math.min(low, s.need)
    return low === Infinity ? otherwise : low
  }

  private fanOut(): void {
    const run = this.batch
    if (!run) return
    this.batch = undefined
    for (const s of this.subs) s.offerLive(run.first, run.records)
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(t)
        resolve()
      }
    })
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
    // Last one out: stop the watch (or keep it from starting) and leave the gateway's map.
    this.closed = true
    this.stopLive?.()
    this.stopLive = undefined
    this.wake?.()
    this.onEmpty()
  }
}

/** The hubs of one gateway, keyed by run and stream. */
export class Hubs {
  private readonly hubs = new Map<string, Hub>()
  /** Hubs per run, for the per-run cap. */
  private readonly perRun = new Map<string, number>()
  constructor(
    private readonly store: LogStore,
    private readonly onCount: (n: number) => void = () => {},
    private readonly caps: { maxStreams: number; maxRunStreams: number } = { maxStreams: Infinity, maxRunStreams: Infinity },
  ) {}

  /** Throws REPJS_LIMIT if following (run, stream) needs a new hub over the gateway-wide or per-run cap. */
  admit(run: string, stream: string): void {
    if (this.hubs.has(`${run}\u0000${stream}`)) return
    if (this.hubs.size >= this.caps.maxStreams) throw limitError(`more than ${this.caps.maxStreams} streams followed on this gateway: try again later`)
    if ((this.perRun.get(run) ?? 0) >= this.caps.maxRunStreams) throw limitError(`more than ${this.caps.maxRunStreams} streams of run '${run}' followed at once`)
  }

  subscribe(run: string, stream: string, from: number, sink: SlotSink): Promise<Subscription> {
    const key = `${run}\u0000${stream}`
    let hub = this.hubs.get(key)
    if (!hub) {
      hub = new Hub(this.store, run, stream, () => {
        this.hubs.delete(key)
        const left = (this.perRun.get(run) ?? 1) - 1
        if (left > 0) this.perRun.set(run, left)
        else this.perRun.delete(run)
        this.onCount(this.hubs.size)
      })
      this.hubs.set(key, hub)
      this.perRun.set(run, (this.perRun.get(run) ?? 0) + 1)
      this.onCount(this.hubs.size)
    }
    return hub.subscribe(from, sink)
  }

  get count(): number {
    return this.hubs.size
  }
}
