/**
 * Store over etcd. Used by Node replicas that talk to etcd directly and by the gateway. Hot path:
 * one Txn per proposal (compare create_revision == 0; put; else range). The unary KV calls (Txn and
 * Range) and the watches (`follow`, `awaitVotes`) go through `KvClient` and `watch-client.ts`
 * (node:http2, far less CPU per call and per event) when every endpoint is http://; leases and
 * everything else use etcd3's gRPC client.
 */
import { randomInt } from 'node:crypto'
import { Etcd3, type IRangeRequest, type IRequestOp, type ICompare } from 'etcd3'
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop } from 'cockatiel'
import { isRecoverableError } from 'etcd3'
import { ErrorCodes, RepJSError, badArgument } from '../../core/errors.js'
import { sleep } from '../../core/retry.js'
import type { FollowHandlers, HeldLock, OpenRunOptions, ProposeResult, SlotRef, Store, StoreHealth } from '../../core/store.js'
import { createCodec } from '../../core/codec.js'
import { decodeMeta } from '../../core/record.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { etcdCall, storeError } from './etcd-errors.js'
import { KvClient, allPlaintext, type RangePage } from './kv-client.js'
import { watch, WatchCompactedError } from './watch-client.js'
import { keepLease, type KeptLease } from './lease-keeper.js'
import { lockKey, MAX_SLOT, markerKey, metaKey, pad, prefixEnd, presenceKey, runIndexKey, slotKey, slotOf, slotPrefix, snapKey, votePrefix } from './keys.js'
import { PresenceLease } from './presence-lease.js'
import { decodeRunEntry, encodeRunEntry, runGoneError, type RunEntry } from './run-entry.js'
import { checkSnapshot, collectedError, snapshotPrefix } from '../../core/snapshot.js'

export interface EtcdStoreOptions {
  /** One endpoint or several, e.g. 'http://127.0.0.1:2379'. */
  endpoints: string | string[]
  /** Deadline of each unary call in ms (default 3000). A call past it is retried by the engine. */
  callTimeoutMs?: number
  /** Page size of catch-up range reads (default 4000; halved automatically on a too-large response). */
  pageSize?: number
  /**
   * Client for the unary KV calls (Txn, Range) and the watches: 'http2' (the lean node:http2
   * clients, plaintext endpoints only) or 'etcd3' (its gRPC client). Default: 'http2' when every
   * endpoint is http://.
   */
  hotPath?: 'http2' | 'etcd3'
  /** Called each time etcd cancels a log watch because its start revision was compacted (it restarts from a range read). */
  onWatchCompacted?: () => void
}

/**
 * A run as one opener (a direct replica, a gateway connection) opened it: the run record's create
 * revision, compared by every write into the run (a deleted or re-created run is refused, not
 * written into), and the run's lease (`--run-ttl`), attached to what it writes and kept alive
 * while it is open.
 */
export interface RunGuard {
  readonly run: string
  readonly metaRevision: string
  readonly lease: string | undefined
  /** Call `listener` once if the run goes (deleted or expired: REPJS_RUN_GONE; created again: REPJS_RUN_CHANGED). */
  onGone(listener: (err: RepJSError) => void): () => void
  /** This opener is done with the run: stop keeping its lease alive (it expires one TTL later if nobody else does). */
  close(): void
}

/** What EtcdStore.openRun answers: the Store's answer, and the guard of this open. */
export interface OpenedRun {
  meta: Uint8Array
  created: boolean
  guard: RunGuard
}

/** A decided slot as the log's readers see it: its key and record. */
type LogEntry = { key: Buffer; value: Buffer }
const b = (s: string) => Buffer.from(s)
const absent = (key: string): ICompare => ({ key: b(key), target: 'Create', result: 'Equal', create_revision: 0 })
const createdAt = (key: string, rev: string): ICompare => ({ key: b(key), target: 'Create', result: 'Equal', create_revision: rev })
const modifiedAt = (key: string, rev: string): ICompare => ({ key: b(key), target: 'Mod', result: 'Equal', mod_revision: rev })
/** Decodes what a store must read itself: run records and snapshots (data only). */
const storedCodec = createCodec(createCborFormat())
const holds = (key: string, token: string): ICompare => ({ key: b(key), target: 'Value', result: 'Equal', value: b(token) })
const get = (key: string): IRequestOp => ({ request_range: { key: b(key) } })
const del = (key: string): IRequestOp => ({ request_delete_range: { key: b(key) } })
const delPrefix = (prefix: string): IRequestOp => ({ request_delete_range: { key: b(prefix), range_end: prefixEnd(prefix) } })
const put = (key: string, value: Uint8Array, lease?: string): IRequestOp => ({ request_put: { key: b(key), value: Buffer.from(value.buffer, value.byteOffset, value.byteLength), lease } })
const bytes = (v: Buffer): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
const valueBelow = (key: string, bound: Uint8Array): ICompare => ({ key: b(key), target: 'Value', result: 'Less', value: Buffer.from(bound) })
const countOf = (key: string): IRequestOp => ({ request_range: { key: b(key), count_only: true } })
const modIs = (key: string, rev: string): ICompare => ({ key: b(key), target: 'Mod', result: 'Equal', mod_revision: rev })
/** Slot numbers whose records one transaction of `collect` deletes, at most (well within a call's deadline on a busy etcd). */
export const COLLECT_BATCH = 1000
/** Slots delivered ahead of a lower undelivered one that `follow` remembers at most. */
const MAX_OUT_OF_ORDER = 100_000

function lost(what: string): RepJSError {
  return new RepJSError(ErrorCodes.LEASE_LOST, `run-once lock lost before ${what}: this replica may not record an outcome`, { details: { what } })
}

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

export class EtcdStore implements Store {
  readonly client: Etcd3
  /** The lean client for Txn and Range, or undefined when those go through etcd3 too. */
  readonly kv: KvClient | undefined
  private pageSize: number
  private closed = false
  private readonly stops = new Set<() => void>()
  private presence: PresenceLease | undefined
  /** The guard of the last open of each run through this store: what a direct replica's writes use. */
  private readonly runs = new Map<string, RunGuard>()
  /** Run leases kept alive, by lease id, with the number of openers keeping each. */
  private readonly runLeases = new Map<string, { kept: KeptLease; users: number }>()
  /** Snapshot keys seen present: proposals on their streams compare the snapshot's slot. */
  private readonly snapped = new Set<string>()
  /** One watch of each opened run record (run + create revision), shared by its openers, who are told when it goes. */
  private readonly runWatches = new Map<string, { stop: () => void; gone: Set<(err: RepJSError) => void> }>()
  private readonly health = new Set<(h: StoreHealth, reason?: string, error?: unknown) => void>()
  /** Log watches etcd cancelled because their start revision was compacted away (each restarted from a range read). */
  watchesCompacted = 0
  private readonly onWatchCompacted: (() => void) | undefined

  constructor(opts: EtcdStoreOptions) {
    this.onWatchCompacted = opts.onWatchCompacted
    const timeout = opts.callTimeoutMs ?? 3000
    this.pageSize = opts.pageSize ?? 4000
    const plaintext = allPlaintext(opts.endpoints)
    if (opts.hotPath !== undefined && opts.hotPath !== 'http2' && opts.hotPath !== 'etcd3') {
      throw badArgument(`hotPath must be 'http2' or 'etcd3', not ${JSON.stringify(opts.hotPath)}`)
    }
    if (opts.hotPath === 'http2' && !plaintext) {
      throw badArgument("hotPath 'http2' needs plaintext (http://) etcd endpoints; use 'etcd3' for https://")
    }
    const hotPath = opts.hotPath ?? (plaintext ? 'http2' : 'etcd3')
    this.kv = hotPath === 'http2' ? new KvClient({ endpoints: opts.endpoints, callTimeoutMs: timeout }) : undefined
    this.client = new Etcd3({
      hosts: opts.endpoints,
      dialTimeout: timeout,
      // A watch message over grpc-js's 4 MiB default is dropped and retried forever without an
      // 'error' (big records written fast): lift the cap; range reads are paged anyway.
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      faultHandling: {
        global: noop,
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        // etcd3 reads `.duration` off this, so hand it a started backoff, not the factory.
        watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 2000 }).next(),
      },
    })
  }

  /** A direct replica's store reports 'failed' (REPJS_RUN_GONE / REPJS_RUN_CHANGED) when the run it opened goes. */
  onHealth(listener: (h: StoreHealth, reason?: string, error?: unknown) => void): () => void {
    this.health.add(listener)
    return () => this.health.delete(listener)
  }

  private txn(what: string, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[]) {
    const req = { compare, success, failure }
    return etcdCall(what, () => (this.kv ? this.kv.txn(req) : this.client.kv.txn(req)))
  }

  private range(req: IRangeRequest) {
    return this.kv ? this.kv.range(req) : this.client.kv.range(req)
  }

  /**
   * Open a run: join it if its run record exists, else create it (run record and index entry in one
   * Txn, both attached to a fresh lease of `opts.ttlMs` if given), unless the index entry says the
   * run existed and went: then REPJS_RUN_GONE, or with `opts.newRun` a new incarnation.
   */
  async openRun(run: string, meta: Uint8Array, opts: OpenRunOptions = {}): Promise<OpenedRun> {
    const mk = metaKey(run)
    const ik = runIndexKey(run)
    // etcd's leases count whole seconds, up to 9,000,000,000 s.
    if (opts.ttlMs !== undefined && !(Number.isInteger(opts.ttlMs) && opts.ttlMs >= 1000 && opts.ttlMs <= 9e12)) {
      throw badArgument(`the run TTL must be a whole number of ms from 1000 to 9e12 (etcd leases count whole seconds), got ${opts.ttlMs}`)
    }
    for (;;) {
      // Read first (Range, not Txn: etcd refuses every Txn, even a read-only one, once its database
      // is over quota), write only if absent: a full run must stay readable (joinable, replayable).
      const [metaKv, indexKv] = (await Promise.all([mk, ik].map((key) => etcdCall('opening the run', () => this.range({ key: b(key) }))))).map((r) => r.kvs[0])
      const entry = indexKv ? decodeRunEntry(bytes(indexKv.value), run) : undefined
      if (metaKv) {
        // Marked gone by `runs rm` and not yet deleted: nobody joins a run being deleted.
        if (entry && entry.gone !== null) throw runGoneError(run, entry, true)
        const stored = bytes(metaKv.value)
        // A run from before the index: index it now (once), so `repjs runs` lists it.
        // (Not under etcd's NOSPACE alarm: a full run stays joinable, listed or not.)
        if (!entry) await this.indexRun(run, String(metaKv.create_revision), stored, null).catch((err: unknown) => {
          if (!(RepJSError.is(err) && err.details.noSpace)) throw err
        })
        return { meta: stored, created: false, guard: await this.guard(run, String(metaKv.create_revision), entry) }
      }
      if (entry && !opts.newRun) throw runGoneError(run, entry)
      const created = await this.createRun(run, meta, opts.ttlMs ?? null, indexKv ? String(indexKv.mod_revision) : undefined)
      if (created) return { meta, created: true, guard: await this.guard(run, created.revision, created.entry) }
      // Someone else created (or deleted) it meanwhile: read again.
    }
  }

  /** Create the run record and its index entry if both are as read (`indexRevision`: the entry's mod revision, absent if undefined). */
  private async createRun(run: string, meta: Uint8Array, ttlMs: number | null, indexRevision: string | undefined): Promise<{ revision: string; entry: RunEntry } | undefined> {
    const lease = ttlMs === null ? undefined : (await etcdCall('granting the run lease', () => this.client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) }))).ID
    const res = await this.indexRun(run, undefined, meta, ttlMs, lease, indexRevision).catch(async (err: unknown) => {
      if (lease) await this.client.leaseClient.leaseRevoke({ ID: lease }).catch(() => {})
      throw err
    })
    if (!res && lease) await this.client.leaseClient.leaseRevoke({ ID: lease }).catch(() => {})
    return res
  }

  /**
   * Write the index entry of a run: with its run record (`metaRevision` undefined: create both, the
   * record on `lease`), or for an existing run record of that create revision (a run from before
   * the index). Answers undefined if etcd holds something else than assumed.
   */
  private async indexRun(
    run: string, metaRevision: string | undefined, meta: Uint8Array, ttlMs: number | null, lease?: string, indexRevision?: string,
  ): Promise<{ revision: string; entry: RunEntry } | undefined> {
    const m = decodeMeta(storedCodec, meta, run)
    const now = Date.now()
    const entry: RunEntry = { v: 1, incarnation: m.incarnation, program: m.program, created: now, ttlMs, lease: lease ?? null, gone: null, active: now }
    const mk = metaKey(run)
    const ik = runIndexKey(run)
    const compare = [metaRevision === undefined ? absent(mk) : createdAt(mk, metaRevision), indexRevision === undefined ? absent(ik) : modifiedAt(ik, indexRevision)]
    const success = [put(ik, encodeRunEntry(entry))]
    if (metaRevision === undefined) success.unshift(put(mk, meta, lease))
    const res = await this.txn('creating the run', compare, success, [])
    return res.succeeded ? { revision: metaRevision ?? String(res.header.revision), entry } : undefined
  }

  /** The guard of one open of a run; keeps the run's lease alive (shared by the store's openers) until closed. */
  private async guard(run: string, metaRevision: string, entry: RunEntry | undefined): Promise<RunGuard> {
    const lease = entry?.lease ?? undefined
    let closed = false
    /** The keeper this open counts on (shared by this store's openers of the run). */
    let mine: { kept: KeptLease; users: number } | undefined
    const goneListeners = new Set<(err: RepJSError) => void>()
    const went = (err: RepJSError) => {
      for (const l of [...goneListeners]) l(err)
      goneListeners.clear()
      // A direct replica's store: the run this replica is in went; the engine stops with it.
      if (this.runs.get(run) === guard) for (const l of this.health) l('failed', err.message, err)
    }
    let unwatch = () => {}
    const guard: RunGuard = {
      run, metaRevision, lease,
      onGone: (listener) => {
        goneListeners.add(listener)
        return () => goneListeners.delete(listener)
      },
      close: () => {
        if (closed) return
        closed = true
        if (this.runs.get(run) === guard) this.runs.delete(run)
        unwatch()
        if (mine && --mine.users === 0) {
          if (this.runLeases.get(lease!) === mine) this.runLeases.delete(lease!)
          mine.kept.detach()
        }
      },
    }
    if (lease) {
      mine = this.runLeases.get(lease)
      if (!mine) {
        const k = { kept: keepLease(this.client, lease, Math.ceil(entry!.ttlMs! / 1000)), users: 0 }
        this.runLeases.set(lease, (mine = k))
        // Given up (expired, or no keep-alive answered for two TTLs): the next open keeps it anew
        // if etcd still has it, or learns the run is gone.
        k.kept.signal.addEventListener('abort', () => this.runLeases.get(lease) === k && this.runLeases.delete(lease), { once: true })
      }
      mine.users++
      try {
        await mine.kept.ready
      } catch {
        guard.close()
        throw runGoneError(run, entry!)
      }
    }
    unwatch = this.watchRun(guard, went)
    // The latest open is what writes without an explicit guard use (a direct replica's); a gateway
    // passes each connection's own guard.
    this.runs.set(run, guard)
    return guard
  }

  /**
   * Watch an opened run's record (one watch per run and create revision, shared by its openers):
   * when it is deleted or replaced, each opener's `went` is called with REPJS_RUN_GONE (or
   * REPJS_RUN_CHANGED), so a replica waiting for others' slots (input, votes) is told too, not only
   * one that writes. Returns this opener's release.
   */
  private watchRun(guard: RunGuard, went: (err: RepJSError) => void): () => void {
    const id = `${guard.run}\u0000${guard.metaRevision}`
    let shared = this.runWatches.get(id)
    if (!shared) {
      let stopped = false
      let cancel = () => {}
      const mk = metaKey(guard.run)
      const entry = { gone: new Set<(err: RepJSError) => void>(), stop: () => ((stopped = true), cancel()) }
      const loop = async () => {
        let delay = 100
        while (!stopped) {
          try {
            const res = await this.range({ key: b(mk) })
            const err = await this.wentBy(guard, res.kvs[0])
            if (err) {
              if (this.runWatches.get(id) === entry) this.runWatches.delete(id)
              for (const l of [...entry.gone]) l(err)
              return
            }
            // Any change of the record (its deletion) or a failed watch: read it again.
            await this.watchKey(mk, String(BigInt(res.header.revision) + 1n), (c) => (cancel = c))
            delay = 100
          } catch {
            await sleep(delay).catch(() => {})
            delay = Math.min(delay * 2, 2000)
          }
        }
      }
      this.runWatches.set(id, (shared = entry))
      void loop()
    }
    const mine = shared
    mine.gone.add(went)
    return () => {
      if (!mine.gone.delete(went) || mine.gone.size > 0) return
      mine.stop()
      if (this.runWatches.get(id) === mine) this.runWatches.delete(id)
    }
  }

  /** Resolve at the first event on `key` from `startRevision`, a failed watch, or its cancel. */
  private async watchKey(key: string, startRevision: string, onCancel: (cancel: () => void) => void): Promise<void> {
    if (this.kv) {
      const kv = this.kv
      return new Promise<void>((resolve) => {
        const w = watch(kv, { key: b(key), start_revision: startRevision }, { event: () => (w.cancel(), resolve()), error: () => resolve() })
        onCancel(() => (w.cancel(), resolve()))
      })
    }
    const w = await this.client.watch().key(key).startRevision(startRevision).create()
    return new Promise<void>((resolve) => {
      const end = () => (void w.cancel().catch(() => {}), resolve())
      onCancel(end)
      w.on('put', end)
      w.on('delete', end)
      w.on('error', end)
    })
  }

  /**
   * A Txn writing into a run: with a guard, it also compares the run record's create revision, so a
   * deleted or re-created run is never written into. Its failure branch then tells why: the run
   * record absent (REPJS_RUN_GONE), another one (REPJS_RUN_CHANGED), else the caller's own compares.
   */
  private async guarded(what: string, guard: RunGuard | undefined, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[]) {
    if (!guard) return this.txn(what, compare, success, failure)
    const mk = metaKey(guard.run)
    let res
    try {
      res = await this.txn(what, [...compare, createdAt(mk, guard.metaRevision)], success, [...failure, get(mk)])
    } catch (err) {
      // A write on the run's lease after etcd dropped it: the run expired.
      if (/requested lease not found/i.test((err as Error).message ?? '')) throw await this.goneOrChanged(guard, undefined)
      throw err
    }
    if (!res.succeeded) {
      const metaKv = res.responses[res.responses.length - 1]!.response_range.kvs[0]
      const err = await this.wentBy(guard, metaKv)
      if (err) throw err
    }
    return res
  }

  /** Whether the run record read (`kv`, absent if undefined) says the guarded run went: its error, or undefined. */
  private async wentBy(guard: RunGuard, kv: { create_revision: string | number } | undefined): Promise<RepJSError | undefined> {
    if (kv && String(kv.create_revision) === guard.metaRevision) return undefined
    return this.goneOrChanged(guard, kv ? String(kv.create_revision) : undefined)
  }

  /** The error of a write into a run that went (record absent) or was created again (`now`: its new record's revision). */
  private async goneOrChanged(guard: RunGuard, now: string | undefined): Promise<RepJSError> {
    const { run } = guard
    if (now !== undefined) {
      return new RepJSError(ErrorCodes.RUN_CHANGED, `run '${run}' was deleted and created again while this replica was in it: it stopped rather than write into another run. Start it again to join the run as it is now.`, { details: { run } })
    }
    const kv = (await etcdCall('reading the run index', () => this.range({ key: b(runIndexKey(run)) }))).kvs[0]
    const entry: RunEntry = kv ? decodeRunEntry(bytes(kv.value), run) : { v: 1, incarnation: '', program: '', created: 0, ttlMs: null, lease: null, gone: Date.now(), active: 0 }
    return runGoneError(run, entry)
  }

  /** The guard a direct replica's writes into `run` use (none if the run was not opened through this store). */
  private guardOf(run: string): RunGuard | undefined {
    return this.runs.get(run)
  }

  /**
   * First writer wins, and never below the stream's latest snapshot (collected history): the Txn
   * also compares the snapshot key, absent or taken at this slot or earlier (by its leading bytes,
   * see snapshotPrefix), whichever this store last saw, and learns from the failure branch.
   */
  async propose(ref: SlotRef, record: Uint8Array, clearVotes = false, guard = this.guardOf(ref.run)): Promise<ProposeResult> {
    const key = slotKey(ref.run, ref.stream, ref.slot)
    const snap = snapKey(ref.run, ref.stream)
    const success = [put(key, record, guard?.lease)]
    if (clearVotes) success.push(delPrefix(votePrefix(ref.run, ref.stream, ref.slot)))
    for (;;) {
      const snapped = this.snapped.has(snap)
      const below = snapped ? valueBelow(snap, snapshotPrefix(storedCodec, ref.run, ref.stream, ref.slot + 1)) : absent(snap)
      const res = await this.guarded('a proposal', guard, [absent(key), below], success, [get(key), countOf(snap)])
      if (res.succeeded) return { won: true, record }
      const kv = res.responses[0]!.response_range.kvs[0]
      if (kv) return { won: false, record: bytes(kv.value) }
      const hasSnap = Number(res.responses[1]!.response_range.count) > 0
      if (hasSnap && snapped) throw await this.collected(ref)
      // The snapshot key came (or went) since this store last looked: compare the other way.
      if (hasSnap) this.snapped.add(snap)
      else this.snapped.delete(snap)
    }
  }

  /** REPJS_COLLECTED for a proposal below the stream's latest snapshot. */
  private async collected(ref: SlotRef): Promise<RepJSError> {
    const snap = await this.readSnapshot(ref.run, ref.stream)
    const at = snap ? checkSnapshot(storedCodec, snap, ref.run, ref.stream).slot : ref.slot + 1
    return collectedError(ref.stream, ref.slot, at)
  }

  follow(run: string, stream: string, fromSlot: number, h: FollowHandlers): () => void {
    const prefix = slotPrefix(run, stream)
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
      this.stops.delete(stop)
      cancelWatch?.()
    }
    this.stops.add(stop)
    const loop = async () => {
      let first = true
      let delay = 25
      while (!stopped) {
        try {
          const rev = await this.readFrom(prefix, resume && !first ? resume() : low, deliver, () => stopped)
          if (stopped) return
          if (first) h.caughtUp()
          first = false
          // A follower stopped from caughtUp() (a gateway subscriber's history read) never watches.
          if (stopped) return
          const since = Date.now()
          await this.watchLog(prefix, String(BigInt(rev) + 1n), deliver, (cancel) => (cancelWatch = cancel), () => stopped)
          cancelWatch = undefined
          // A watch that lived a while failed for a reason of its own (compaction, a cut): re-read at once.
          if (Date.now() - since >= 2000) {
            delay = 25
            continue
          }
        } catch {
          // Unreachable, no quorum, or the watch's start revision was compacted away between the
          // range read and the watch: read again from the next undelivered slot.
        }
        if (stopped) return
        await sleep(delay).catch(() => {})
        delay = Math.min(delay * 2, 2000)
      }
    }
    void loop()
    return stop
  }

  /**
   * Watch a stream's slots from `startRevision`, delivering puts, until the watch fails (compaction,
   * a lost stream or session, no leader) or is canceled: then the promise settles, and `follow`
   * reads from the next undelivered slot again. The lean watch when the hot path is http2, else etcd3's.
   */
  private async watchLog(
    prefix: string,
    startRevision: string,
    deliver: (kv: LogEntry) => void,
    onCancel: (cancel: () => void) => void,
    stopped: () => boolean,
  ): Promise<void> {
    if (this.kv) {
      const kv = this.kv
      return new Promise<void>((resolve) => {
        const w = watch(kv, { key: prefix, range_end: prefixEnd(prefix), start_revision: startRevision }, {
          event: (ev) => {
            if (ev.type === 'Put') deliver(ev.kv)
          },
          error: (err) => {
            if (err instanceof WatchCompactedError) this.compacted()
            resolve()
          },
        })
        onCancel(() => {
          w.cancel()
          resolve()
        })
      })
    }
    const watcher = await this.client.watch().prefix(prefix).startRevision(startRevision).create()
    return new Promise<void>((resolve) => {
      const end = () => {
        void watcher.cancel().catch(() => {})
        resolve()
      }
      if (stopped()) return end()
      onCancel(end)
      watcher.on('put', deliver)
      // etcd3 resumes a lost stream by itself; an 'error' is a cancel (e.g. compaction).
      watcher.on('error', (err: Error) => {
        if (/compacted/.test(err.message)) this.compacted()
        end()
      })
    })
  }

  private compacted(): void {
    this.watchesCompacted++
    this.onWatchCompacted?.()
  }

  /** A range read's page of keys and values: the lean decode on the http2 path, etcd3's objects otherwise. */
  private async rangePage(req: IRangeRequest): Promise<RangePage> {
    if (this.kv) return this.kv.rangePage(req)
    const res = await this.client.kv.range(req)
    return { revision: res.header.revision, more: res.more, kvs: res.kvs }
  }

  /**
   * Read decided slots >= from in pages; returns the revision of the first page. Each page reads the
   * current revision, not one pinned revision: a pinned read slower than etcd's compaction period
   * would fail with ErrCompacted on every retry and never finish. Nothing is missed: a slot key is
   * written once, so a slot decided by the first page's revision is in every later page, and the
   * watch starts right after that revision (a slot seen twice is dropped by `follow`). While pages
   * find slots, each asks for exactly the next `pageSize` slot numbers: etcd 3.4 walks the whole
   * key range of a range request in its index (to count it) whatever the limit, so open-ended
   * pages would cost O(slots left) each, O(n^2) for a long log. The first empty window (the end,
   * or a gap of a whole window) is followed by open-ended pages from its start. The next page is
   * requested before the current one is delivered, so etcd reads it while this process decodes.
   */
  private async readFrom(prefix: string, from: number, deliver: (kv: LogEntry) => void, stopped: () => boolean): Promise<string> {
    const end = prefixEnd(prefix)
    const keyOf = (slot: number) => b(prefix + pad(slot))
    let revision: string | undefined
    const request = (key: Buffer, window?: { slot: number; size: number }) => {
      const page = this.rangePage({ key, range_end: window ? keyOf(window.slot + window.size) : end, limit: window?.size ?? this.pageSize })
      page.catch(() => {}) // awaited below; a prefetch abandoned by stop() must not be unhandled
      return { key, window, page }
    }
    // Windows stop short of the last storable slot: past it, keys would no longer sort by number.
    const windowAt = (slot: number) => request(keyOf(slot), slot + this.pageSize <= MAX_SLOT ? { slot, size: this.pageSize } : undefined)
    const after = (key: Buffer) => Buffer.concat([key, Buffer.from([0])])
    let next = windowAt(from)
    for (;;) {
      let res: RangePage
      try {
        res = await next.page
      } catch (err) {
        const e = storeError(err, 'reading the log')
        if (e.details.tooLarge && this.pageSize > 1) {
          this.pageSize = Math.max(1, this.pageSize >> 1)
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
      else if (res.more && last) following = request(after(last))
      for (const kv of res.kvs) deliver(kv)
      if (!following) return revision
      next = following
    }
  }

  async vote(ref: SlotRef, voter: string, value: Uint8Array, guard = this.guardOf(ref.run)): Promise<Uint8Array | undefined> {
    const key = slotKey(ref.run, ref.stream, ref.slot)
    const res = await this.guarded('a vote', guard, [absent(key)], [put(votePrefix(ref.run, ref.stream, ref.slot) + voter, value, guard?.lease)], [get(key)])
    return res.succeeded ? undefined : bytes(res.responses[0]!.response_range.kvs[0]!.value)
  }

  async awaitVotes(ref: SlotRef, n: number, signal: AbortSignal, guard = this.guardOf(ref.run)): Promise<Uint8Array[]> {
    const prefix = votePrefix(ref.run, ref.stream, ref.slot)
    const votes: IRangeRequest = { key: b(prefix), range_end: prefixEnd(prefix), sort_target: 'Create', sort_order: 'Ascend', limit: n }
    for (;;) {
      signal.throwIfAborted()
      const res = await etcdCall('reading votes', () => this.range(votes))
      if (res.kvs.length >= n) return res.kvs.slice(0, n).map((kv) => bytes(kv.value))
      // A run deleted (or expired) while waiting wakes the wait (its votes go with it) and ends it here.
      if (guard) {
        const err = await this.wentBy(guard, (await etcdCall('reading the run record', () => this.range({ key: b(metaKey(guard.run)) }))).kvs[0])
        if (err) throw err
      }
      const from = String(BigInt(res.header.revision) + 1n)
      if (this.kv) {
        // Any change of the votes (a put, or their deletion with the decision) or a failed watch: read again.
        const kv = this.kv
        const failed = await new Promise<boolean>((resolve) => {
          if (signal.aborted) return resolve(false)
          const onAbort = () => (w.cancel(), resolve(false))
          const w = watch(kv, { key: prefix, range_end: prefixEnd(prefix), start_revision: from }, {
            event: () => (w.cancel(), signal.removeEventListener('abort', onAbort), resolve(false)),
            error: () => (signal.removeEventListener('abort', onAbort), resolve(true)),
          })
          signal.addEventListener('abort', onAbort, { once: true })
        })
        // A watch that cannot be kept (no leader, unreachable) must not spin: the next read tells.
        if (failed) await sleep(100, signal).catch(() => {})
        continue
      }
      const w = await etcdCall('watching votes', () => this.client.watch().prefix(prefix).startRevision(from).create())
      try {
        await new Promise<void>((resolve) => {
          // The slot may have been decided (and the votes deleted) while the watch was created.
          if (signal.aborted) return resolve()
          w.once('put', () => resolve())
          w.once('delete', () => resolve())
          w.once('error', () => resolve())
          signal.addEventListener('abort', () => resolve(), { once: true })
        })
      } finally {
        void w.cancel().catch(() => {})
      }
    }
  }

  async acquire(ref: SlotRef, holder: string, ttlMs: number, guard = this.guardOf(ref.run)): Promise<EtcdAcquireResult> {
    const keys = lockKeys(ref)
    const ttl = Math.max(1, Math.ceil(ttlMs / 1000))
    const granted = await etcdCall('granting a lease', () => this.client.leaseClient.leaseGrant({ TTL: ttl }))
    const lease = keepLease(this.client, granted.ID, ttl)
    const handle = randomInt(1, 2 ** 48)
    const token = lockToken(holder, granted.ID, handle)
    let res
    try {
      res = await this.guarded('taking a run-once lock', guard, [absent(keys.slot), absent(keys.lock)], [put(keys.lock, b(token), granted.ID), get(keys.marker)], [get(keys.slot)])
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
    return { state: 'held', lock: this.heldLock(ref, lease, token, handle, keys, markerKv ? bytes(markerKv.value) : undefined, guard) }
  }

  /**
   * Take over the keep-alive of a lock this holder already holds, by its handle: from another
   * gateway connection or another gateway process (the lease and the lock live in etcd). Answers
   * 'decided' if the slot was decided meanwhile; throws REPJS_LEASE_LOST if the lock is gone (its
   * lease expired or was revoked) or is not this holder's.
   */
  async attach(ref: SlotRef, holder: string, handle: number, guard = this.guardOf(ref.run)): Promise<EtcdAcquireResult> {
    const keys = lockKeys(ref)
    const res = await this.txn('re-attaching to a run-once lock', [], [get(keys.slot), get(keys.lock), get(keys.marker)], [])
    const [slotKv, lockKv, markerKv] = res.responses.map((r) => r.response_range.kvs[0])
    if (slotKv) return { state: 'decided', record: bytes(slotKv.value) }
    const token = lockKv ? Buffer.from(lockKv.value).toString() : ''
    if (!lockKv || token !== lockToken(holder, String(lockKv.lease), handle)) throw lost('re-attaching to the lock (it expired, was released, or is not this holder\'s)')
    const leaseId = String(lockKv.lease)
    const left = await etcdCall('reading a lease', () => this.client.leaseClient.leaseTimeToLive({ ID: leaseId }))
    // Whole seconds left, rounded down: 0 is a lease about to expire (kept alive from now), -1 a gone one.
    if (Number(left.TTL) < 0) throw lost('re-attaching to the lock (its lease expired)')
    const lease = keepLease(this.client, leaseId, Math.max(1, Number(left.grantedTTL)))
    await lease.ready
    return { state: 'held', lock: this.heldLock(ref, lease, token, handle, keys, markerKv ? bytes(markerKv.value) : undefined, guard) }
  }

  private heldLock(ref: SlotRef, lease: KeptLease, token: string, handle: number, keys: LockKeys, marker: Uint8Array | undefined, guard: RunGuard | undefined): EtcdHeldLock {
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
        const res = await this.guarded('marking a run-once call started', guard, [holds(keys.lock, token)], [put(keys.marker, m, guard?.lease)], [])
        if (!res.succeeded) throw lost('marking the call started')
      },
      decide: async (record) => {
        // A re-sent decision that was already written finds the slot taken and answers its record.
        const res = await this.guarded('recording a run-once outcome', guard, [holds(keys.lock, token), absent(keys.slot)], [put(keys.slot, record, guard?.lease), del(keys.marker), del(keys.lock)], [get(keys.slot)])
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

  async readSnapshot(run: string, stream: string): Promise<Uint8Array | undefined> {
    const res = await etcdCall('reading a snapshot', () => this.range({ key: b(snapKey(run, stream)) }))
    const kv = res.kvs[0]
    return kv ? bytes(kv.value) : undefined
  }

  async writeSnapshot(ref: SlotRef, snapshot: Uint8Array, guard = this.guardOf(ref.run)): Promise<Uint8Array> {
    const key = snapKey(ref.run, ref.stream)
    for (;;) {
      const res = await etcdCall('reading a snapshot', () => this.range({ key: b(key) }))
      const kv = res.kvs[0]
      if (kv && checkSnapshot(storedCodec, bytes(kv.value), ref.run, ref.stream).slot >= ref.slot) return bytes(kv.value)
      // Replace exactly what was read (or nothing): a later snapshot stored meanwhile is read again.
      const put1 = await this.guarded('storing a snapshot', guard, [kv ? modIs(key, String(kv.mod_revision)) : absent(key)], [put(key, snapshot, guard?.lease)], [])
      if (put1.succeeded) return snapshot
    }
  }

  async collect(ref: SlotRef, guard = this.guardOf(ref.run)): Promise<number> {
    const snap = await this.readSnapshot(ref.run, ref.stream)
    const at = snap ? checkSnapshot(storedCodec, snap, ref.run, ref.stream).slot : -1
    if (ref.slot > at) {
      throw badArgument(`cannot collect slots below ${ref.slot} of stream '${ref.stream}': its latest snapshot is ${at < 0 ? 'none' : `at slot ${at}`}; take a snapshot first`)
    }
    const prefix = slotPrefix(ref.run, ref.stream)
    const first = await etcdCall('collecting slots', () => this.range({ key: b(slotKey(ref.run, ref.stream, 0)), range_end: b(slotKey(ref.run, ref.stream, ref.slot)), limit: 1, keys_only: true }))
    if (first.kvs.length === 0) return 0
    let deleted = 0
    for (let from = slotOf(Buffer.from(first.kvs[0]!.key).toString()); from < ref.slot; from += COLLECT_BATCH) {
      const to = Math.min(from + COLLECT_BATCH, ref.slot)
      const range = { request_delete_range: { key: b(prefix + pad(from)), range_end: b(prefix + pad(to)) } }
      const res = await this.guarded('collecting slots', guard, [], [range], [])
      deleted += Number(res.responses[0]!.response_delete_range.deleted)
    }
    return deleted
  }

  /** The highest decided slot of a stream, or -1. */
  async headSlot(run: string, stream: string): Promise<number> {
    const prefix = slotPrefix(run, stream)
    const res = await etcdCall('reading the log head', () =>
      this.range({ key: b(prefix), range_end: prefixEnd(prefix), sort_target: 'Key', sort_order: 'Descend', limit: 1, keys_only: true }),
    )
    return res.kvs.length ? slotOf(res.kvs[0]!.key.toString()) : -1
  }

  /** This replica's presence key, under a lease of this store's (revoked on close). */
  present(run: string, replica: string, value: Uint8Array): Promise<void> {
    this.presence ??= new PresenceLease(this.client)
    return this.presence.put(presenceKey(run, replica), value, metaKey(run))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.presence?.close()
    for (const stop of [...this.stops]) stop()
    for (const g of [...this.runs.values()]) g.close()
    for (const w of this.runWatches.values()) w.stop()
    this.runWatches.clear()
    for (const { kept } of this.runLeases.values()) kept.detach()
    this.runLeases.clear()
    this.kv?.close()
    this.client.close()
  }
}

export function createEtcdStore(opts: EtcdStoreOptions): EtcdStore {
  return new EtcdStore(opts)
}
