/**
 * Store over etcd. Used by Node replicas that talk to etcd directly and by the gateway. Hot path:
 * one Txn per proposal (compare create_revision == 0; put; else range). Every call, watch and
 * lease goes through one Transport (transport.ts): the lean node:http2 one when every endpoint is
 * http://, etcd3's otherwise; the store never asks which. The run lifecycle's guards are
 * run-guards.ts, following a log log-follow.ts, run-once locks run-once-lock.ts.
 */
import type { Etcd3, IRangeRequest, ITxnResponse } from 'etcd3'
import { badArgument } from '../../core/errors.js'
import type { FollowHandlers, OpenRunOptions, ProposeResult, RunMetaSource, SlotRef, Store, StoreHealth } from '../../core/store.js'
import { createCodec } from '../../core/codec.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { checkSnapshot, collectedError, snapshotPrefix } from '../../core/snapshot.js'
import { etcdCall } from './etcd-errors.js'
import { metaKey, pad, prefixEnd, presenceKey, slotKey, slotOf, slotPrefix, snapKey, votePrefix } from './keys.js'
import { encodeProposeTxn, txnSucceeded } from './grpc/propose-txn.js'
import { decodeTxnResponse } from './grpc/txn-codec.js'
import { followLog, type LogSource } from './log-follow.js'
import { PresenceLease } from './presence-lease.js'
import { RunGuards, type OpenedRun, type RunGuard } from './run-guards.js'
import { RunOnceLocks, type EtcdAcquireResult } from './run-once-lock.js'
import { createClients, type Clients, type HotPath } from './transport-choice.js'
import type { Transport } from './transport.js'
import { absent, b, bytes, countOf, delPrefix, get, modifiedAt, put, valueBelow } from './txn-ops.js'
import { sleep } from '../../core/retry.js'

export type { OpenedRun, RunGuard } from './run-guards.js'
export type { EtcdAcquireResult, EtcdHeldLock } from './run-once-lock.js'

export interface EtcdStoreOptions {
  /** One endpoint or several, e.g. 'http://127.0.0.1:2379'. */
  endpoints: string | string[]
  /** Deadline of each unary call in ms (default 3000). A call past it is retried by the engine. */
  callTimeoutMs?: number
  /** Page size of catch-up range reads (default 4000; halved automatically on a too-large response). */
  pageSize?: number
  /**
   * The transport of calls and watches: 'http2' (the lean node:http2 client, plaintext endpoints
   * only) or 'etcd3' (its gRPC client). Default: 'http2' when every endpoint is http://.
   */
  hotPath?: HotPath
  /** Called each time etcd cancels a log watch because its start revision was compacted (it restarts from a range read). */
  onWatchCompacted?: () => void
}

/** Decodes what a store must read itself: run records and snapshots (data only). */
const storedCodec = createCodec(createCborFormat())
/** Slot numbers whose records one transaction of `collect` deletes, at most (well within a call's deadline on a busy etcd). */
export const COLLECT_BATCH = 1000

export class EtcdStore implements Store, LogSource {
  private readonly clients: Clients
  /** What the store's calls, watches and leases go through. */
  readonly transport: Transport
  pageSize: number
  private closed = false
  readonly stops = new Set<() => void>()
  private presence: PresenceLease | undefined
  /** Snapshot keys seen present: proposals on their streams compare the snapshot's slot. */
  private readonly snapped = new Set<string>()
  private readonly health = new Set<(h: StoreHealth, reason?: string, error?: unknown) => void>()
  private readonly guards: RunGuards
  private readonly locks: RunOnceLocks
  /** Log watches etcd cancelled because their start revision was compacted away (each restarted from a range read). */
  watchesCompacted = 0
  /** A follow is a range read and a watch: stopping and starting it again is cheap (Store.cheapFollow). */
  readonly cheapFollow = true
  private readonly onWatchCompacted: (() => void) | undefined

  constructor(opts: EtcdStoreOptions) {
    this.onWatchCompacted = opts.onWatchCompacted
    this.pageSize = opts.pageSize ?? 4000
    this.clients = createClients(opts.endpoints, opts.callTimeoutMs ?? 3000, opts.hotPath)
    const transport = (this.transport = this.clients.transport)
    this.guards = new RunGuards(transport, storedCodec, this.health)
    this.locks = new RunOnceLocks(transport, this.guards, this.stops)
  }

  /**
   * etcd3's client: maintenance, admin reads and listings (the store's own calls, watches and
   * leases go through `transport`). Created, loading etcd3, on first use.
   */
  get client(): Etcd3 {
    return this.clients.client()
  }

  /** A direct replica's store reports 'failed' (REPJS_RUN_GONE / REPJS_RUN_CHANGED) when the run it opened goes. */
  onHealth(listener: (h: StoreHealth, reason?: string, error?: unknown) => void): () => void {
    this.health.add(listener)
    return () => this.health.delete(listener)
  }

  private range(what: string, req: IRangeRequest) {
    return etcdCall(what, () => this.transport.range(req))
  }

  /** See RunGuards.open. */
  openRun(run: string, meta: RunMetaSource, opts: OpenRunOptions = {}): Promise<OpenedRun> {
    return this.guards.open(run, meta, opts)
  }

  /** The guard a direct replica's writes into `run` use (none if the run was not opened through this store). */
  private guardOf(run: string): RunGuard | undefined {
    return this.guards.guardOf(run)
  }

  /**
   * First writer wins, and never below the stream's latest snapshot (collected history): the Txn
   * also compares the snapshot key, absent or taken at this slot or earlier (by its leading bytes,
   * see snapshotPrefix), whichever this store last saw, and learns from the failure branch.
   */
  propose(ref: SlotRef, record: Uint8Array, clearVotes = false, guard = this.guardOf(ref.run)): Promise<ProposeResult> {
    // The transport takes the Txn's bytes: the proposal's own encoding (grpc/propose-txn.ts), in a
    // function of its own (a fresh process interprets, and V8 compiles, only this per call).
    return this.transport.txnBytes !== undefined && !clearVotes ? this.proposeBytes(ref, record, guard) : this.proposeOps(ref, record, clearVotes, guard)
  }

  /** The proposal's Txn by hand; a lost one goes on as proposeOps with its answer. */
  private async proposeBytes(ref: SlotRef, record: Uint8Array, guard: RunGuard | undefined): Promise<ProposeResult> {
    const snap = snapKey(ref.run, ref.stream)
    const snapped = this.snapped.has(snap)
    const request = encodeProposeTxn({
      key: b(slotKey(ref.run, ref.stream, ref.slot)),
      record,
      lease: guard?.lease,
      snapKey: b(snap),
      snapBelow: snapped ? snapshotPrefix(storedCodec, ref.run, ref.stream, ref.slot + 1) : undefined,
      meta: guard && this.guards.metaOf(guard),
    })
    // Read inside guardedCall: an answer that cannot be read fails as the generic path's does (REPJS_STORE).
    const res = await this.guards.guardedCall('a proposal', guard, async (t) => {
      const answer = await t.txnBytes!(request)
      return txnSucceeded(answer) ? undefined : decodeTxnResponse(answer)
    })
    if (!res) return { won: true, record }
    await this.guards.checkFailed(guard, res)
    return this.proposeOps(ref, record, false, guard, { res, snapped })
  }

  /**
   * The proposal's Txn from etcd3-shaped ops (any transport; with clearVotes), again as long as the
   * snapshot key's compare failed. `lost`: the answer of a first attempt already made, and whether
   * it compared the snapshot key as snapped.
   */
  private async proposeOps(ref: SlotRef, record: Uint8Array, clearVotes: boolean, guard: RunGuard | undefined, lost?: { res: ITxnResponse; snapped: boolean }): Promise<ProposeResult> {
    // Each key as bytes once, for the several ops of the Txn that name it.
    const key = b(slotKey(ref.run, ref.stream, ref.slot))
    const snap = snapKey(ref.run, ref.stream)
    const snapBytes = b(snap)
    const success = [put(key, record, guard?.lease)]
    if (clearVotes) success.push(delPrefix(votePrefix(ref.run, ref.stream, ref.slot)))
    const send = async () => {
      const snapped = this.snapped.has(snap)
      const below = snapped ? valueBelow(snapBytes, snapshotPrefix(storedCodec, ref.run, ref.stream, ref.slot + 1)) : absent(snapBytes)
      return { snapped, res: await this.guards.guarded('a proposal', guard, [absent(key), below], success, [get(key), countOf(snapBytes)]) }
    }
    for (let attempt = lost ?? (await send()); ; attempt = await send()) {
      const { res, snapped } = attempt
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
  private async collected(ref: SlotRef) {
    const snap = await this.readSnapshot(ref.run, ref.stream)
    const at = snap ? checkSnapshot(storedCodec, snap, ref.run, ref.stream).slot : ref.slot + 1
    return collectedError(ref.stream, ref.slot, at)
  }

  follow(run: string, stream: string, fromSlot: number, h: FollowHandlers): () => void {
    return followLog(this, slotPrefix(run, stream), fromSlot, h)
  }

  /** A log watch was canceled because its start revision was compacted away (LogSource). */
  compacted(): void {
    this.watchesCompacted++
    this.onWatchCompacted?.()
  }

  async vote(ref: SlotRef, voter: string, value: Uint8Array, guard = this.guardOf(ref.run)): Promise<Uint8Array | undefined> {
    const key = slotKey(ref.run, ref.stream, ref.slot)
    const res = await this.guards.guarded('a vote', guard, [absent(key)], [put(votePrefix(ref.run, ref.stream, ref.slot) + voter, value, guard?.lease)], [get(key)])
    return res.succeeded ? undefined : bytes(res.responses[0]!.response_range.kvs[0]!.value)
  }

  async awaitVotes(ref: SlotRef, n: number, signal: AbortSignal, guard = this.guardOf(ref.run)): Promise<Uint8Array[]> {
    const prefix = votePrefix(ref.run, ref.stream, ref.slot)
    const votes: IRangeRequest = { key: b(prefix), range_end: prefixEnd(prefix), sort_target: 'Create', sort_order: 'Ascend', limit: n }
    for (;;) {
      signal.throwIfAborted()
      // The votes and (with a guard) the run record, read side by side: one round trip.
      const [res, record] = await Promise.all([
        this.range('reading votes', votes),
        guard && this.range('reading the run record', { key: b(metaKey(guard.run)) }),
      ])
      if (res.kvs.length >= n) return res.kvs.slice(0, n).map((kv) => bytes(kv.value))
      // A run deleted (or expired) while waiting wakes the wait (its votes go with it) and ends it here.
      if (guard) {
        const err = await this.guards.wentBy(guard, record!.kvs[0])
        if (err) throw err
      }
      const from = String(BigInt(res.header.revision) + 1n)
      // Any change of the votes (a put, or their deletion with the decision) or a failed watch: read again.
      const failed = await new Promise<boolean>((resolve) => {
        if (signal.aborted) return resolve(false)
        const onAbort = () => (w.cancel(), resolve(false))
        const w = this.transport.watch({ key: prefix, range_end: prefixEnd(prefix), start_revision: from }, {
          event: () => (w.cancel(), signal.removeEventListener('abort', onAbort), resolve(false)),
          error: () => (signal.removeEventListener('abort', onAbort), resolve(true)),
        })
        signal.addEventListener('abort', onAbort, { once: true })
      })
      // A watch that cannot be kept (no leader, unreachable) must not spin: the next read tells.
      if (failed) await sleep(100, signal).catch(() => {})
    }
  }

  acquire(ref: SlotRef, holder: string, ttlMs: number, guard = this.guardOf(ref.run)): Promise<EtcdAcquireResult> {
    return this.locks.acquire(ref, holder, ttlMs, guard)
  }

  /** See RunOnceLocks.attach. */
  attach(ref: SlotRef, holder: string, handle: number, guard = this.guardOf(ref.run)): Promise<EtcdAcquireResult> {
    return this.locks.attach(ref, holder, handle, guard)
  }

  async readSnapshot(run: string, stream: string): Promise<Uint8Array | undefined> {
    const kv = (await this.range('reading a snapshot', { key: b(snapKey(run, stream)) })).kvs[0]
    return kv ? bytes(kv.value) : undefined
  }

  async writeSnapshot(ref: SlotRef, snapshot: Uint8Array, guard = this.guardOf(ref.run)): Promise<Uint8Array> {
    const key = snapKey(ref.run, ref.stream)
    for (;;) {
      const kv = (await this.range('reading a snapshot', { key: b(key) })).kvs[0]
      if (kv && checkSnapshot(storedCodec, bytes(kv.value), ref.run, ref.stream).slot >= ref.slot) return bytes(kv.value)
      // Replace exactly what was read (or nothing): a later snapshot stored meanwhile is read again.
      const put1 = await this.guards.guarded('storing a snapshot', guard, [kv ? modifiedAt(key, String(kv.mod_revision)) : absent(key)], [put(key, snapshot, guard?.lease)], [])
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
    const first = await this.range('collecting slots', { key: b(slotKey(ref.run, ref.stream, 0)), range_end: b(slotKey(ref.run, ref.stream, ref.slot)), limit: 1, keys_only: true })
    if (first.kvs.length === 0) return 0
    let deleted = 0
    for (let from = slotOf(Buffer.from(first.kvs[0]!.key).toString()); from < ref.slot; from += COLLECT_BATCH) {
      const to = Math.min(from + COLLECT_BATCH, ref.slot)
      const range = { request_delete_range: { key: b(prefix + pad(from)), range_end: b(prefix + pad(to)) } }
      const res = await this.guards.guarded('collecting slots', guard, [], [range], [])
      deleted += Number(res.responses[0]!.response_delete_range.deleted)
    }
    return deleted
  }

  /** The highest decided slot of a stream, or -1. */
  async headSlot(run: string, stream: string): Promise<number> {
    const prefix = slotPrefix(run, stream)
    const res = await this.range('reading the log head', { key: b(prefix), range_end: prefixEnd(prefix), sort_target: 'Key', sort_order: 'Descend', limit: 1, keys_only: true })
    return res.kvs.length ? slotOf(res.kvs[0]!.key.toString()) : -1
  }

  /** Presence keys under a lease of their own (a gateway connection's), revoked when it closes. */
  presenceLease(): PresenceLease {
    return new PresenceLease(this.transport)
  }

  /** This replica's presence key, under a lease of this store's (revoked on close). */
  present(run: string, replica: string, value: Uint8Array): Promise<void> {
    this.presence ??= new PresenceLease(this.transport)
    return this.presence.put(presenceKey(run, replica), value, metaKey(run))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.presence?.close()
    for (const stop of [...this.stops]) stop()
    this.guards.close()
    this.transport.close()
    this.clients.closeClient()
  }
}

export function createEtcdStore(opts: EtcdStoreOptions): EtcdStore {
  return new EtcdStore(opts)
}
