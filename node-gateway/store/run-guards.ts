/**
 * Runs as their openers opened them (run lifecycle): `open` joins a run or creates it (run record
 * and index entry in one Txn, on a lease of the run's TTL), each open gets a `RunGuard`, and every
 * write into a run goes through `guarded`, which also compares the run record's create revision,
 * so a deleted or re-created run is never written into. One watch per opened run record tells its
 * openers when the run goes.
 */
import type { ICompare, IRangeRequest, IRequestOp, ITxnResponse } from 'etcd3'
import { ErrorCodes, RepJSError, badArgument } from '../../core/errors.js'
import { decodeMeta } from '../../core/record.js'
import { Backoff, sleep } from '../../core/retry.js'
import { metaBytes, type OpenRunOptions, type RunMetaSource, type StoreHealth } from '../../core/store.js'
import type { Codec } from '../../core/codec.js'
import { etcdCall, storeError } from './etcd-errors.js'
import { leaseNotFound } from './grpc/status.js'
import { metaKey, runIndexKey } from './keys.js'
import type { KeptLease } from './lease-keeper.js'
import { decodeRunEntry, encodeRunEntry, runGoneError, type RunEntry } from './run-entry.js'
import type { Transport } from './transport.js'
import { absent, b, bytes, createdAt, get, modifiedAt, put } from './txn-ops.js'

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

type HealthListener = (h: StoreHealth, reason?: string, error?: unknown) => void

export class RunGuards {
  /** The guard of the last open of each run through this store: what a direct replica's writes use. */
  private readonly runs = new Map<string, RunGuard>()
  /** Run leases kept alive, by lease id, with the number of openers keeping each. */
  private readonly runLeases = new Map<string, { kept: KeptLease; users: number }>()
  /** One watch of each opened run record (run + create revision), shared by its openers, who are told when it goes. */
  private readonly runWatches = new Map<string, { stop: () => void; gone: Set<(err: RepJSError) => void> }>()
  /** Per guard: what guarded() adds to each Txn (see guardOps). */
  private readonly metaOps = new WeakMap<RunGuard, { compare: ICompare; read: IRequestOp }>()

  constructor(
    private readonly t: Transport,
    private readonly codec: Codec,
    /** A direct replica's store reports 'failed' to these when the run it opened goes. */
    private readonly health: Set<HealthListener>,
  ) {}

  txn(what: string, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[]) {
    return etcdCall(what, () => this.t.txn({ compare, success, failure }))
  }

  range(what: string, req: IRangeRequest) {
    return etcdCall(what, () => this.t.range(req))
  }

  /** The guard a direct replica's writes into `run` use (none if the run was not opened through this store). */
  guardOf(run: string): RunGuard | undefined {
    return this.runs.get(run)
  }

  /**
   * Open a run: join it if its run record exists, else create it (run record and index entry in one
   * Txn, both attached to a fresh lease of `opts.ttlMs` if given), unless the index entry says the
   * run existed and went: then REPJS_RUN_GONE, or with `opts.newRun` a new incarnation.
   */
  async open(run: string, metaSource: RunMetaSource, opts: OpenRunOptions = {}): Promise<OpenedRun> {
    let made: Uint8Array | undefined
    /** The record to create: made once, only when the run is created. */
    const meta = () => (made ??= metaBytes(metaSource))
    const mk = metaKey(run)
    const ik = runIndexKey(run)
    // etcd's leases count whole seconds, up to 9,000,000,000 s.
    if (opts.ttlMs !== undefined && !(Number.isInteger(opts.ttlMs) && opts.ttlMs >= 1000 && opts.ttlMs <= 9e12)) {
      throw badArgument(`the run TTL must be a whole number of ms from 1000 to 9e12 (etcd leases count whole seconds), got ${opts.ttlMs}`)
    }
    for (;;) {
      // Read first (Range, not Txn: etcd refuses every Txn, even a read-only one, once its database
      // is over quota), write only if absent: a full run must stay readable (joinable, replayable).
      const [metaKv, indexKv] = (await Promise.all([mk, ik].map((key) => this.range('opening the run', { key: b(key) })))).map((r) => r.kvs[0])
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
      if (entry && !opts.newRun) {
        // The two reads are not one snapshot: a run created between them shows its index entry
        // without its record. Read the record again, after the entry, before calling the run gone.
        if ((await this.range('opening the run', { key: b(mk) })).kvs[0]) continue
        throw runGoneError(run, entry)
      }
      const created = await this.createRun(run, meta(), opts.ttlMs ?? null, indexKv ? String(indexKv.mod_revision) : undefined)
      // Its lease was granted just now: kept alive from a third of its TTL on, no keep-alive first.
      if (created) return { meta: meta(), created: true, guard: await this.guard(run, created.revision, created.entry, true) }
      // Someone else created (or deleted) it meanwhile: read again.
    }
  }

  /** Create the run record and its index entry if both are as read (`indexRevision`: the entry's mod revision, absent if undefined). */
  private async createRun(run: string, meta: Uint8Array, ttlMs: number | null, indexRevision: string | undefined): Promise<{ revision: string; entry: RunEntry } | undefined> {
    const lease = ttlMs === null ? undefined : await etcdCall('granting the run lease', () => this.t.leaseGrant(Math.ceil(ttlMs / 1000)))
    const res = await this.indexRun(run, undefined, meta, ttlMs, lease, indexRevision).catch(async (err: unknown) => {
      if (lease) await this.t.leaseRevoke(lease).catch(() => {})
      throw err
    })
    if (!res && lease) await this.t.leaseRevoke(lease).catch(() => {})
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
    const m = decodeMeta(this.codec, meta, run)
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

  /**
   * The guard of one open of a run; keeps the run's lease alive (shared by the store's openers) until
   * closed. `granted`: the lease was granted just now (ready at once, see keepLease).
   */
  private async guard(run: string, metaRevision: string, entry: RunEntry | undefined, granted = false): Promise<RunGuard> {
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
        const k = { kept: this.t.keepLease(lease, Math.ceil(entry!.ttlMs! / 1000), granted), users: 0 }
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
        const backoff = new Backoff({ initialMs: 100, maxMs: 2000 })
        while (!stopped) {
          try {
            const res = await this.t.range({ key: b(mk) })
            const err = await this.wentBy(guard, res.kvs[0])
            if (err) {
              if (this.runWatches.get(id) === entry) this.runWatches.delete(id)
              for (const l of [...entry.gone]) l(err)
              return
            }
            // Any change of the record (its deletion): read it again at once; a failed watch: after a pause.
            if (await this.watchKey(mk, String(BigInt(res.header.revision) + 1n), (c) => (cancel = c))) await sleep(backoff.next()).catch(() => {})
            else backoff.reset()
          } catch {
            await sleep(backoff.next()).catch(() => {})
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

  /** Resolve at the first event on `key` from `startRevision` or at its cancel (false), or when the watch fails (true). */
  private watchKey(key: string, startRevision: string, onCancel: (cancel: () => void) => void): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const w = this.t.watch({ key: b(key), start_revision: startRevision }, { event: () => (w.cancel(), resolve(false)), error: () => resolve(true) })
      onCancel(() => (w.cancel(), resolve(false)))
    })
  }

  /**
   * A Txn writing into a run: with a guard, it also compares the run record's create revision, so a
   * deleted or re-created run is never written into. Its failure branch then tells why: the run
   * record absent (REPJS_RUN_GONE), another one (REPJS_RUN_CHANGED), else the caller's own compares.
   */
  async guarded(what: string, guard: RunGuard | undefined, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[]) {
    if (!guard) return this.txn(what, compare, success, failure)
    const ops = this.guardOps(guard)
    const res = await this.guardedCall(what, guard, (t) => t.txn({ compare: [...compare, ops.compare], success, failure: [...failure, ops.read] }))
    if (!res.succeeded) await this.checkFailed(guard, res)
    return res
  }

  /**
   * A call into a guarded run (the guard's compare and read already in its Txn: guarded(), or the
   * proposal's hand-encoded Txn, grpc/propose-txn.ts), its failure converted: a write on the run's
   * lease after etcd dropped it means the run expired (REPJS_RUN_GONE / REPJS_RUN_CHANGED); anything
   * else as etcdCall's. `send` may read the answer too, so an answer it cannot read fails the same
   * way. A Txn that did not succeed is the caller's to check with `checkFailed`.
   */
  async guardedCall<T>(what: string, guard: RunGuard | undefined, send: (t: Transport) => Promise<T>): Promise<T> {
    try {
      return await send(this.t)
    } catch (err) {
      if (guard && leaseNotFound(err)) throw await this.goneOrChanged(guard, undefined)
      throw storeError(err, what)
    }
  }

  /** A guarded Txn that did not succeed: REPJS_RUN_GONE / REPJS_RUN_CHANGED if the run record (read last) says so. */
  async checkFailed(guard: RunGuard | undefined, res: ITxnResponse): Promise<void> {
    if (!guard) return
    const metaKv = res.responses[res.responses.length - 1]!.response_range.kvs[0]
    const err = await this.wentBy(guard, metaKv)
    if (err) throw err
  }

  /** The guard's run record key (bytes) and create revision, as a Txn encoded by hand compares them. */
  metaOf(guard: RunGuard): { key: Buffer; createRevision: string } {
    return { key: this.guardOps(guard).compare.key as Buffer, createRevision: guard.metaRevision }
  }

  /** The compare and the read of the run record a guarded Txn adds, made once per guard (the same for each of its writes). */
  private guardOps(guard: RunGuard): { compare: ICompare; read: IRequestOp } {
    let ops = this.metaOps.get(guard)
    if (!ops) {
      const mk = b(metaKey(guard.run))
      this.metaOps.set(guard, (ops = { compare: createdAt(mk, guard.metaRevision), read: get(mk) }))
    }
    return ops
  }

  /** Whether the run record read (`kv`, absent if undefined) says the guarded run went: its error, or undefined. */
  async wentBy(guard: RunGuard, kv: { create_revision: string | number } | undefined): Promise<RepJSError | undefined> {
    if (kv && String(kv.create_revision) === guard.metaRevision) return undefined
    return this.goneOrChanged(guard, kv ? String(kv.create_revision) : undefined)
  }

  /** The error of a write into a run that went (record absent) or was created again (`now`: its new record's revision). */
  private async goneOrChanged(guard: RunGuard, now: string | undefined): Promise<RepJSError> {
    const { run } = guard
    if (now !== undefined) {
      return new RepJSError(ErrorCodes.RUN_CHANGED, `run '${run}' was deleted and created again while this replica was in it: it stopped rather than write into another run. Start it again to join the run as it is now.`, { details: { run } })
    }
    const kv = (await this.range('reading the run index', { key: b(runIndexKey(run)) })).kvs[0]
    const entry: RunEntry = kv ? decodeRunEntry(bytes(kv.value), run) : { v: 1, incarnation: '', program: '', created: 0, ttlMs: null, lease: null, gone: Date.now(), active: 0 }
    return runGoneError(run, entry)
  }

  /** Stop every guard, run watch and run lease keep-alive (the leases expire unless kept elsewhere). */
  close(): void {
    for (const g of [...this.runs.values()]) g.close()
    for (const w of this.runWatches.values()) w.stop()
    this.runWatches.clear()
    for (const { kept } of this.runLeases.values()) kept.detach()
    this.runLeases.clear()
  }
}
