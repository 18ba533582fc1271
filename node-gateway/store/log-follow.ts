/**
 * Following a stream's log (`EtcdStore.follow`): range reads in pages from the next undelivered
 * slot, then a watch from the revision after them; when the watch fails (compaction, a lost
 * stream or session, no leader) the log is read again from the next undelivered slot.
 */
import { Backoff, sleep } from '../../core/retry.js'
import type { FollowHandlers } from '../../core/store.js'
import { storeError } from './etcd-errors.js'
import { MAX_SLOT, pad, prefixEnd, slotOf } from './keys.js'
import { b, bytes } from './txn-ops.js'
import { WatchCompactedError, type RangePage, type Transport } from './transport.js'

/** A decided slot as the log's readers see it: its key and record. */
type LogEntry = { key: Buffer; value: Buffer }

/** Slots delivered ahead of a lower undelivered one that `follow` remembers at most. */
const MAX_OUT_OF_ORDER = 100_000

/** What following a log needs of its store. */
export interface LogSource {
  readonly transport: Transport
  /** Page size of range reads; halved (for every later read too) on a too-large response. */
  pageSize: number
  /** A log watch was canceled because its start revision was compacted away. */
  compacted(): void
  /** Stop functions the store calls when it closes. */
  readonly stops: Set<() => void>
}

/** Deliver every decided slot >= fromSlot of the stream under `prefix`; see Store.follow. */
export function followLog(src: LogSource, prefix: string, fromSlot: number, h: FollowHandlers): () => void {
  let stopped = false
  let cancelWatch: (() => void) | undefined
  // The next undelivered slot is `low`: every slot in [fromSlot, low) was delivered, and so was
  // each slot in `above` (decided out of order, e.g. by concurrent calls). A re-read starts at
  // `low` and skips those, so a slot decided before a lower one is neither lost nor repeated.
  // With `resumeFrom` (a gateway hub), a re-read starts where the follower says and skips nothing.
  let low = fromSlot
  let high = fromSlot - 1
  const above = new Set<number>()
  const resume = h.resumeFrom?.bind(h)
  const deliver = (kv: LogEntry) => {
    const slot = slotOf(kv.key.toString())
    if (slot < 0) return
    if (slot >= fromSlot && !resume) {
      if (slot === low) {
        low++
        while (above.delete(low)) low++
      } else if (slot < low || above.has(slot)) return
      else if (above.add(slot).size > MAX_OUT_OF_ORDER) {
        // A gap that never fills (a slot nobody decides) must not grow this set for ever: give up
        // on it (the engine still decides such a slot itself, by proposing).
        above.clear()
        low = Math.max(high, slot) + 1
      }
      if (slot > high) high = slot
    }
    h.slot(slot, bytes(kv.value))
  }
  const stop = () => {
    stopped = true
    src.stops.delete(stop)
    cancelWatch?.()
  }
  src.stops.add(stop)
  const loop = async () => {
    let first = true
    const backoff = new Backoff({ initialMs: 25, maxMs: 2000 })
    while (!stopped) {
      try {
        const rev = await readFrom(src, prefix, resume && !first ? resume() : low, deliver, () => stopped)
        if (stopped) return
        if (first) h.caughtUp()
        first = false
        // A follower stopped from caughtUp() (a gateway subscriber's history read) never watches.
        if (stopped) return
        const since = Date.now()
        await watchLog(src, prefix, String(BigInt(rev) + 1n), deliver, (cancel) => (cancelWatch = cancel))
        cancelWatch = undefined
        // A watch that lived a while failed for a reason of its own (compaction, a cut): re-read at once.
        if (Date.now() - since >= 2000) {
          backoff.reset()
          continue
        }
      } catch {
        // Unreachable, no quorum, or the watch's start revision was compacted away between the
        // range read and the watch: read again from the next undelivered slot.
      }
      if (stopped) return
      await sleep(backoff.next()).catch(() => {})
    }
  }
  void loop()
  return stop
}

/**
 * Watch a stream's slots from `startRevision`, delivering puts, until the watch fails or is
 * canceled: then the promise settles, and `followLog` reads from the next undelivered slot again.
 */
function watchLog(src: LogSource, prefix: string, startRevision: string, deliver: (kv: LogEntry) => void, onCancel: (cancel: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const w = src.transport.watch({ key: prefix, range_end: prefixEnd(prefix), start_revision: startRevision }, {
      event: (ev) => {
        if (ev.type === 'Put') deliver(ev.kv)
      },
      error: (err) => {
        if (err instanceof WatchCompactedError) src.compacted()
        resolve()
      },
    })
    onCancel(() => {
      w.cancel()
      resolve()
    })
  })
}

/**
 * Read decided slots >= from in pages; returns the revision of the first page. Each page reads the
 * current revision, not one pinned revision: a pinned read slower than etcd's compaction period
 * would fail with ErrCompacted on every retry and never finish. Nothing is missed: a slot key is
 * written once, so a slot decided by the first page's revision is in every later page, and the
 * watch starts right after that revision (a slot seen twice is dropped by `follow`). While pages
 * find slots, each asks for exactly the next `pageSize` slot numbers: etcd 3.4 walks the whole
 * key range of a range request in its index (to count it) whatever the limit, so open-ended
 * pages would cost O(slots left) each, O(n^2) for a long log. The first page is open-ended (most
 * reads start near the end: one round trip), and a page cut by its limit is followed by windows
 * after its last key; the first empty window (the end, or a gap of a whole window) is followed
 * by an open-ended page from its start. The next page is
 * requested before the current one is delivered, so etcd reads it while this process decodes.
 */
async function readFrom(src: LogSource, prefix: string, from: number, deliver: (kv: LogEntry) => void, stopped: () => boolean): Promise<string> {
  const end = prefixEnd(prefix)
  const keyOf = (slot: number) => b(prefix + pad(slot))
  let revision: string | undefined
  const request = (key: Buffer, window?: { slot: number; size: number }) => {
    const page = src.transport.rangePage({ key, range_end: window ? keyOf(window.slot + window.size) : end, limit: window?.size ?? src.pageSize })
    page.catch(() => {}) // awaited below; a prefetch abandoned by stop() must not be unhandled
    return { key, window, page }
  }
  // Windows stop short of the last storable slot: past it, keys would no longer sort by number.
  const windowAt = (slot: number) => request(keyOf(slot), slot + src.pageSize <= MAX_SLOT ? { slot, size: src.pageSize } : undefined)
  const after = (key: Buffer) => Buffer.concat([key, Buffer.from([0])])
  // The first page is open-ended (an empty or short log: one round trip, not a window and then an
  // open-ended page); pages after one that was cut by its limit are windows after its last key.
  let next = request(keyOf(from))
  for (;;) {
    let res: RangePage
    try {
      res = await next.page
    } catch (err) {
      const e = storeError(err, 'reading the log')
      if (e.details.tooLarge && src.pageSize > 1) {
        src.pageSize = Math.max(1, src.pageSize >> 1)
        next = next.window ? windowAt(next.window.slot) : request(next.key)
        continue
      }
      throw e
    }
    revision ??= res.revision
    const last = res.kvs[res.kvs.length - 1]?.key
    let following: typeof next | undefined
    if (stopped()) following = undefined
    else if (next.window && last) following = windowAt(next.window.slot + next.window.size)
    else if (next.window) following = request(next.key)
    else if (res.more && last) following = slotOf(last.toString()) >= 0 ? windowAt(slotOf(last.toString()) + 1) : request(after(last))
    for (const kv of res.kvs) deliver(kv)
    if (!following) return revision
    next = following
  }
}
