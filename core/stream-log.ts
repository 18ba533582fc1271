/**
 * One stream of a run as this replica sees it: the slots it has taken, the decided records that
 * arrived ahead of use (prefetched pages and the watch), and waiters for slots not decided yet.
 * A replica that is behind answers from here with no round trip.
 *
 * Prefetching is bounded: a record PREFETCH_WINDOW or more slots ahead of the next one taken is
 * turned away and the read stops there (unless a call waits on a slot not decided yet: the read
 * then goes on to see it, turning records away); it resumes from the first slot still needed once
 * the replica has used half of the window. So joining a long run holds at most a window of records.
 */
import { badArgument } from './errors.js'
import type { Store } from './store.js'

/** A replica-local copy of one stream's decided records (e.g. IndexedDB in a browser tab). */
export interface StreamCache {
  /** Records saved earlier, for consecutive slots from 0. */
  load(): Promise<Uint8Array[]>
  save(slot: number, record: Uint8Array): void
}

/** Decided records held ahead of the next slot taken, at most. */
export const PREFETCH_WINDOW = 4096

/**
 * After this many slots in a row decided by this replica itself, the log stops reading (quiet):
 * its watch would only echo the replica's own writes. Large enough that a stream whose slots change
 * hands often does not start and stop its read every few calls.
 */
export const QUIET_AFTER = 32

/** A quiet log with no slot taken for this long reads again (an idle replica learns the head). */
export const QUIET_IDLE_MS = 100

export class StreamLog {
  /** The next slot a call on this stream takes. */
  next = 0
  /** Highest decided slot seen. */
  head = -1
  /**
   * The whole log's head is known: its head read answered (or failed, or none is made), or a read
   * of the log reached its end. Until then the head seen is how far the first pages reached, not
   * the log's, and the status shows no head (shownHead).
   */
  private headRead = false
  caughtUp = false
  private decided = new Map<number, Uint8Array>()
  private inflight = new Set<number>()
  private waiters = new Map<number, Array<() => void>>()
  private caughtUpWaiters: Array<() => void> = []
  private stopFollow: () => void
  private readonly follow: (from: number) => void
  /** A read (follow) is running. */
  private reading = false
  /** The current read turned records away: a new one reads them as the replica takes slots. */
  private dropped = false
  /** The first slot turned away: not read yet (until a read that turned nothing away caught up). */
  private unreadFrom: number | undefined
  private closed = false
  /** Restored from a snapshot: the replica-local cache (records from slot 0 on) is not written. */
  private restarted = false
  /** Slots in a row settled by this replica's own records since the read last started or woke. */
  private ownStreak = 0
  /**
   * While the read is stopped because this replica decides every slot itself (see settled()): the
   * check that reads again once no slot is taken for QUIET_IDLE_MS. Undefined while reading.
   */
  private idleCheck: ReturnType<typeof setInterval> | undefined
  /** While quiet: a slot was taken since the idle check last ran. */
  private takenWhileQuiet = false
  /** The store's follow can stop and start again at no risk (Store.cheapFollow), and no cache must see every record. */
  private readonly mayQuiet: boolean
  failure: unknown

  constructor(
    store: Store,
    run: string,
    readonly name: string,
    onError: (err: unknown) => void,
    /** Called when the head moves (the main stream's status); the head is then read from the store too. */
    private readonly onHead?: () => void,
    private readonly cache?: StreamCache,
  ) {
    this.stopFollow = () => {}
    this.mayQuiet = store.cheapFollow === true && cache === undefined
    const follow = (this.follow = (from: number) => {
      if (this.closed) return
      this.stopRead()
      this.reading = true
      this.dropped = false
      const stop = store.follow(run, name, from, {
        // A stopped read may still hand on a page it had fetched: not past the window it stopped at.
        slot: (slot, record) => {
          if (this.stopFollow === stop) this.arrive(slot, record)
        },
        caughtUp: () => {
          if (this.stopFollow !== stop) return
          if (!this.dropped) {
            this.unreadFrom = undefined
            this.headRead = true
          }
          this.markCaughtUp()
        },
        error: (err) => {
          this.failure = err
          onError(err)
          this.wakeAll()
        },
      })
      this.stopFollow = stop
    })
    const start = () => {
      // A stream restored from a snapshot meanwhile (restart) already reads from its snapshot slot.
      if (this.restarted) return
      if (!cache) return follow(0)
      // Restore what this replica saved earlier at once, then fetch only the tail.
      cache.load().then(
        (records) => {
          records.forEach((r, slot) => this.arrive(slot, r, false))
          if (!this.dropped && !this.restarted) follow(records.length)
        },
        () => this.restarted || follow(0),
      )
    }
    // Catch-up progress (a stream whose head is shown): the log's head as the store knows it, read
    // alongside the first page (no round trip added before it), so that progress shows the whole
    // log's head early, not how far the windowed prefetch has read. If that read fails, the head is
    // learned as records are read.
    const headQuery = onHead && store.headSlot?.(run, name)
    if (!headQuery) this.headRead = true
    const headKnown = (head: number) => {
      if (this.closed) return
      this.headRead = true
      if (head > this.head) this.head = head
      this.onHead?.()
    }
    headQuery?.then(headKnown, () => headKnown(-1))
    start()
  }

  private markCaughtUp(): void {
    this.caughtUp = true
    for (const w of this.caughtUpWaiters.splice(0)) w()
    this.onHead?.()
  }

  /** The head to show (status): the highest decided slot seen, or -1 while the log's head is not known yet (headRead). */
  get shownHead(): number {
    return this.headRead ? this.head : -1
  }

  /** Records held: decided ahead of use, or taken and not released. */
  get held(): number {
    return this.decided.size
  }

  /** Slots taken and not released yet (calls in flight). */
  get pending(): number {
    return this.inflight.size
  }

  /**
   * Start the stream at `from` instead of 0 (restored from a snapshot), before any slot was taken:
   * forget what was read and read from there.
   */
  restart(from: number): void {
    if (this.next !== 0 || this.inflight.size > 0) throw badArgument('StreamLog.restart() after a slot was taken: restore() must come before the stream\'s first call')
    this.next = from
    this.restarted = true
    this.decided.clear()
    this.unreadFrom = undefined
    this.dropped = false
    this.caughtUp = false
    this.follow(from)
  }

  /** Take the next slot number, in call order. */
  take(): number {
    const slot = this.next++
    this.inflight.add(slot)
    this.takenWhileQuiet = true
    if (this.dropped && this.next + PREFETCH_WINDOW / 2 >= this.unreadFrom!) this.readAgain()
    return slot
  }

  private stopRead(): void {
    this.stopFollow()
    this.stopFollow = () => {}
    this.reading = false
  }

  /**
   * A record too far ahead. The log is read in slot order and then watched, so a slot below it that
   * has not come is not decided: a call there proposes (a cached prefix says nothing about the store).
   */
  private turnAway(slot: number, fromCache: boolean): void {
    this.unreadFrom = Math.min(this.unreadFrom ?? slot, slot)
    if (!this.dropped && !fromCache) this.markCaughtUp()
    this.dropped = true
    // Nobody waits on a slot not decided yet: stop reading until the replica comes closer.
    if (this.waiters.size === 0) this.stopRead()
  }

  /** Read again from the first slot still needed (taken and not known, or ahead and not held). */
  private readAgain(): void {
    let from = this.next
    for (const s of this.inflight) if (s < from && !this.decided.has(s)) from = s
    while (from < this.unreadFrom! && this.decided.has(from)) from++
    this.follow(from)
  }

  /**
   * A slot taken here was settled, by this replica's own record or by another's (the engine's call,
   * after the identity check). QUIET_AFTER own ones in a row stop the read (quiet): the log's watch
   * would only echo this replica's writes back (an event per call to decode, one per call for etcd
   * to send). A call then proposes without looking (the proposal is what decides: a slot another
   * replica decided comes back in its answer, and settling it here wakes the read); any wait on the
   * log wakes it too, and so does QUIET_IDLE_MS without a slot taken (an idle replica learns what the
   * others decide, for its status). Only where stopping and starting the read is cheap and cannot be
   * refused (Store.cheapFollow: direct etcd, not a gateway's capped subscriptions), and not with a
   * replica-local cache (it must see every record), nor while behind, windowed or waited on.
   */
  settled(slot: number, own: boolean): void {
    if (!own) {
      this.ownStreak = 0
      return this.wake()
    }
    if (this.isQuiet) {
      if (slot > this.head) this.head = slot
      return
    }
    if (++this.ownStreak >= QUIET_AFTER && this.mayQuiet) this.quiet()
  }

  private quiet(): void {
    if (!this.caughtUp || this.dropped || this.closed || this.failure !== undefined) return
    if (this.unreadFrom !== undefined || this.waiters.size > 0 || this.caughtUpWaiters.length > 0) return
    this.takenWhileQuiet = false
    this.stopRead()
    const check = (this.idleCheck = setInterval(() => {
      if (!this.takenWhileQuiet && this.inflight.size === 0) this.wake()
      this.takenWhileQuiet = false
    }, QUIET_IDLE_MS))
    // Never what keeps a process alive (Node's timers have unref; a browser's are numbers).
    ;(check as { unref?: () => void }).unref?.()
  }

  /** Whether the read is stopped because this replica decides the stream's slots itself. */
  get isQuiet(): boolean {
    return this.idleCheck !== undefined
  }

  /** Read the log again after it went quiet, from the first slot still needed. */
  private wake(): void {
    if (!this.isQuiet) return
    this.ownStreak = 0
    clearInterval(this.idleCheck)
    this.idleCheck = undefined
    this.readAgain()
  }

  /** Done with a slot: forget its record. */
  release(slot: number): void {
    this.inflight.delete(slot)
    this.decided.delete(slot)
  }

  private arriveHead(slot: number): void {
    if (slot <= this.head) return
    this.head = slot
    this.onHead?.()
  }

  private arrive(slot: number, record: Uint8Array, save = true): void {
    this.arriveHead(slot)
    if (slot >= this.next + PREFETCH_WINDOW) return this.turnAway(slot, !save)
    if (save && !this.restarted) this.cache?.save(slot, record)
    if (slot < this.next && !this.inflight.has(slot)) return
    this.decided.set(slot, record)
    const ws = this.waiters.get(slot)
    if (ws) {
      this.waiters.delete(slot)
      for (const w of ws) w()
    }
  }

  /**
   * The slot's record if known locally; waits until the log has been read up to it first. Answers
   * at once, without a promise, when nothing needs to be waited for (the common case).
   */
  known(slot: number): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    return this.knownNow(slot) ? this.decided.get(slot) : this.waitKnown(slot)
  }

  /** Whether known(slot) can answer now: the record is here, or the log was read past the slot (or ended). */
  private knownNow(slot: number): boolean {
    return this.decided.has(slot) || this.closed || this.failure !== undefined || (this.caughtUp && !(this.unreadFrom !== undefined && slot >= this.unreadFrom))
  }

  private async waitKnown(slot: number): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.knownNow(slot)) return this.decided.get(slot)
      let cancel = () => {}
      await new Promise<void>((resolve) => {
        this.caughtUpWaiters.push(resolve)
        cancel = this.onDecided(slot, resolve)
      })
      cancel()
    }
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
    // The read stopped at a full window, or while quiet: read on, and keep reading while this waits.
    if (this.isQuiet) this.wake()
    else if (this.dropped && !this.reading) this.readAgain()
    return () => {
      const l = this.waiters.get(slot)
      if (!l) return
      l.splice(l.indexOf(cb) >>> 0, 1)
      if (l.length === 0) this.waiters.delete(slot)
    }
  }

  close(): void {
    this.closed = true
    clearInterval(this.idleCheck)
    this.idleCheck = undefined
    this.stopRead()
    this.wakeAll()
  }

  /** Wake every waiter: the log is closed or failed, nothing more will come. */
  private wakeAll(): void {
    for (const ws of this.waiters.values()) for (const w of ws) w()
    this.waiters.clear()
    for (const w of this.caughtUpWaiters.splice(0)) w()
  }
}
