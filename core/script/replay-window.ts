/**
 * A window of the decided log shared with a plain script's worker (issue 14: replay under `repjs
 * run` and `runInWorker`). The host copies the main stream's records decided ahead of its next slot
 * into a ring in the bridge's SharedArrayBuffer, as decided (core/record.ts, core's codec), and
 * grants the worker that many slots. A worker call whose slot is in the window and whose identity
 * matches the record (kind, name, argument hash; the site too when the replica compares sites) is
 * answered in the worker, with no host round trip. Anything else (another call, an error outcome,
 * a record that does not decode, an empty window) goes to the host as before, which reports it
 * exactly as it always did (REPJS_DIVERGED with the script's site, REPJS_CORRUPT).
 *
 * The host learns how far the script went from the grant counter (below) and takes those slots
 * itself, in order, through the same calls (core/script/replay-host.ts), so its log position,
 * agreed time and status stay what they would have been.
 *
 * Layout (at `offset` in the bridge's buffer):
 *   int32 AVAIL     slots granted and not claimed yet: the worker claims one by compare-and-swap
 *                   from a to a - 1 (only after it has read and checked the entry), the host adds
 *                   when it grants and exchanges it with 0 to take the window back
 *   int32 FLAGS     which calls may be answered here (bit i: REPLAYABLE[i]), COMPARE_SITES
 *   int32 PLACE     bytes of the place (core's codec of [run, stream]) after the head
 *   float64 BASE    the slot of the worker's next claim (set with each grant, while it waits)
 *   float64 TIME    the stream's agreed time at BASE (monotonic time is raised to it)
 *   float64 LIVE_AT the slot whose taking makes the replica live (-1: none in the window)
 *   entries         ENTRIES × ENTRY_BYTES: int32 length, int32 the REPLAYABLE index of the call
 *                   that claimed it (written by the worker before its claim), the record's bytes;
 *                   slot s is entry s % ENTRIES
 * Every field but AVAIL is written before the Atomics operation on AVAIL (or the bridge's state
 * word) that publishes it, and read after the one that observes it.
 */
import { createCborFormat } from '../cbor-format.js'
import { createCodec } from '../codec.js'
import { decodeRecord, type SlotRecord } from '../record.js'
import { PREFETCH_WINDOW } from '../stream-log.js'
import { CALLS, type CallName, type Op } from './calls.js'

const codec = createCodec(createCborFormat())

/** The calls a worker may answer from the window: one slot each, no arguments in the identity. */
export const REPLAYABLE: readonly CallName[] = ['Date.now', 'new Date', 'Date', 'Intl.DateTimeFormat', 'performance.now', 'Math.random', 'crypto.randomUUID']
const INDEX = new Map<string, number>(REPLAYABLE.map((n, i) => [n, i]))
export const COMPARE_SITES = 1 << 30

/** As many as the stream log prefetches ahead of the host's next slot. */
export const ENTRIES = PREFETCH_WINDOW
/** A record larger than this (less its head) is not in the window: its call goes to the host. */
export const ENTRY_BYTES = 384
const ENTRY_HEAD = 8
const AVAIL = 0
const FLAGS = 1
const PLACE = 2
const HEAD_BYTES = 48 // 3 int32 (to 16), 3 float64
const PLACE_BYTES = 464
const ENTRIES_AT = HEAD_BYTES + PLACE_BYTES
const PLACE_BYTES_AT = 0 // in `bytes`, which starts after the head
export const WINDOW_BYTES = ENTRIES_AT + ENTRIES * ENTRY_BYTES

/** The kind a replayable call's record has (core/time.ts agrees time as 'now', core/random.ts values as 'random'). */
export const kindOf = (op: Op): string => (op === 'now' || op === 'perf' ? 'now' : 'random')

/** A call answered from the window. */
export interface Hit {
  value: unknown
  live: boolean
}

export class ReplayWindow {
  readonly words: Int32Array
  private readonly floats: Float64Array
  private readonly bytes: Uint8Array
  private readonly entryWords: Int32Array
  // worker side
  private next = 0
  private last = -Infinity
  private place: { run: string; stream: string } | undefined
  // host side
  /** Slots granted since BASE, and how many of them the host has taken itself. */
  granted = 0
  taken = 0
  base = 0
  /** Slots below this have their record in the ring (the host writes each once). */
  private writtenTo = 0

  constructor(sab: SharedArrayBuffer, offset: number) {
    this.words = new Int32Array(sab, offset, 4)
    this.floats = new Float64Array(sab, offset + 16, 3)
    this.bytes = new Uint8Array(sab, offset + HEAD_BYTES, WINDOW_BYTES - HEAD_BYTES)
    this.entryWords = new Int32Array(sab, offset + ENTRIES_AT, (ENTRIES * ENTRY_BYTES) / 4)
  }

  // ---- worker ---------------------------------------------------------------------------------

  /** Worker, after each host response: the grant the host made with it. */
  reset(): void {
    this.next = this.floats[0]!
    this.last = this.floats[1]!
  }

  /**
   * Worker: the call's value from the window, or undefined when the host must answer it. `site`
   * is read only when the replica compares sites.
   */
  take(op: Op, name: string, site: () => string): Hit | undefined {
    let avail = Atomics.load(this.words, AVAIL)
    if (avail <= 0) return undefined
    const index = INDEX.get(name)
    const flags = this.words[FLAGS]!
    if (index === undefined || !(flags & (1 << index)) || CALLS[name as CallName].op !== op) return undefined
    const slot = this.next
    const at = (slot % ENTRIES) * (ENTRY_BYTES / 4)
    const start = ENTRIES_AT - HEAD_BYTES + at * 4 + ENTRY_HEAD
    let rec: SlotRecord
    try {
      const place = (this.place ??= this.readPlace())
      rec = decodeRecord(codec, this.bytes.slice(start, start + this.entryWords[at]!), { run: place.run, stream: place.stream, slot })
    } catch {
      return undefined // the host reads it again and reports it
    }
    if (!rec.ok || rec.kind !== kindOf(op) || rec.name !== name || rec.argsHash !== '-') return undefined
    if (flags & COMPARE_SITES && rec.site) {
      const ours = site()
      if (ours && ours !== rec.site) return undefined
    }
    const time = kindOf(op) === 'now'
    if (time ? typeof rec.value !== 'number' : op === 'uuid' ? typeof rec.value !== 'string' : typeof rec.value !== 'number') return undefined
    this.entryWords[at + 1] = index
    for (let seen; (seen = Atomics.compareExchange(this.words, AVAIL, avail, avail - 1)) !== avail; ) {
      if (seen <= 0) return undefined // taken back by the host: it answers
      avail = seen
    }
    this.next = slot + 1
    const liveAt = this.floats[2]!
    const live = liveAt >= 0 && slot >= liveAt
    if (!time) return { value: rec.value, live }
    this.last = Math.max(rec.value as number, this.last)
    return { value: this.last, live }
  }

  private readPlace(): { run: string; stream: string } {
    const [run, stream] = codec.decode(this.bytes.slice(PLACE_BYTES_AT, PLACE_BYTES_AT + this.words[PLACE]!), 'replay window') as [string, string]
    return { run, stream }
  }

  // ---- host -----------------------------------------------------------------------------------

  /** Host: the place records are read at (once, before the first grant). */
  setPlace(run: string, stream: string, flags: number): boolean {
    const bytes = codec.encode([run, stream])
    if (bytes.length > PLACE_BYTES) return false
    this.bytes.set(bytes, PLACE_BYTES_AT)
    this.words[PLACE] = bytes.length
    this.words[FLAGS] = flags
    return true
  }

  /** Host: how many granted slots the worker has claimed (it may claim more meanwhile). */
  claimed(): number {
    return this.granted - Math.max(0, Atomics.load(this.words, AVAIL))
  }

  /** Host: take the window back; returns how many granted slots the worker claimed. */
  revoke(): number {
    const left = Atomics.exchange(this.words, AVAIL, 0)
    this.granted -= Math.max(0, left)
    return this.granted
  }

  /** Host: which REPLAYABLE call claimed granted slot k. */
  claimedBy(k: number): CallName {
    return REPLAYABLE[this.entryWords[((this.base + k) % ENTRIES) * (ENTRY_BYTES / 4) + 1]!]!
  }

  /**
   * Host (window taken back, every claimed slot taken): grant from `base` the consecutive records
   * `record(slot)` has, as many as fit, with the stream's agreed time and the slot that makes it live.
   */
  grant(base: number, time: number, liveAt: number, record: (slot: number) => Uint8Array | undefined): void {
    this.base = base
    this.granted = this.taken = 0
    this.floats[0] = base
    this.floats[1] = time
    this.floats[2] = liveAt
    if (base > this.writtenTo || base + ENTRIES <= this.writtenTo) this.writtenTo = base
    this.extend(record)
  }

  /** Host: grant more of the records after the window (as far as the worker's claims free the ring). */
  extend(record: (slot: number) => Uint8Array | undefined): void {
    const limit = this.base + this.claimed() + ENTRIES
    let end = this.writtenTo
    for (; end < limit; end++) {
      const bytes = record(end)
      if (!bytes || bytes.length > ENTRY_BYTES - ENTRY_HEAD) break
      const at = (end % ENTRIES) * (ENTRY_BYTES / 4)
      this.entryWords[at] = bytes.length
      this.bytes.set(bytes, ENTRIES_AT - HEAD_BYTES + at * 4 + ENTRY_HEAD)
    }
    this.writtenTo = end
    const more = end - (this.base + this.granted)
    if (more <= 0) return
    this.granted += more
    Atomics.add(this.words, AVAIL, more) // publishes the entries written above
  }
}
