/**
 * Record-or-replay of one run's ordered slots. A call takes the next slot of its stream, runs
 * (or not) locally, and settles the slot: from the local cache when the slot is already decided,
 * else with one create-if-absent transaction. The decided record is checked against the call's
 * identity (kind, name, argument hash) before its outcome is returned or re-thrown.
 */
import { toWire, UnserializableError, type Codec } from './codec.js'
import { divergedError, closedError, ErrorCodes, RepJSError, type CallIdentity } from './errors.js'
import { fingerprint } from './hash.js'
import { decodeRecord, encodeRecord, type RecordPlace, type SlotRecord } from './record.js'
import type { RetryContext } from './retry.js'
import { RetryingStore } from './retrying-store.js'
import { callSite, captureSite, holdSite } from './site.js'
import { StatusEmitter, type StatusState } from './status.js'
import type { Store } from './store.js'
import { StreamLog, type StreamCache } from './stream-log.js'
import { FollowWaits } from './follow-waits.js'
import { assertNotCollected, readSnapshotEarly } from './snapshot.js'

export const MAIN_STREAM = 'main'

export interface EngineOptions {
  store: Store
  codec: Codec
  run: string
  replicaId: string
  /** What a divergence does: throw at the call (default) or halt the whole replica. */
  onDiverged?: 'throw' | 'halt'
  /** Prefix stripped from call sites (e.g. the entry script's folder). */
  siteBase?: string
  /** Capture call sites from stack traces (default true). */
  callSites?: boolean
  /** Compare sites given with withSite too (see ReplicaOptions.compareSites). */
  compareSites?: boolean
  /**
   * When another replica decided this stream's previous slot, wait up to this long for it to decide
   * the next one too (learned through the watch) before proposing: followers then cost no etcd
   * write. Default: three times the recent proposal latency, between 2 and 50 ms. 0 disables.
   */
  followWaitMs?: number
  /** A replica-local cache of decided records per stream (browser tabs: IndexedDB). */
  cache?: (stream: string) => StreamCache
  /** The run predates records that name their slot (run record format 1): read version-1 records too. */
  legacyRecords?: boolean
}

export interface Outcome {
  ok: boolean
  value: unknown
}

/**
 * One stream as the engine settles it: its log and who decided its last slot. What a feature keeps
 * per stream (agreed time, random pools) lives in that feature's module, keyed by this object.
 */
export interface StreamState {
  name: string
  log: StreamLog
  /** The last slot settled here was decided by another replica. */
  followsOther: boolean
}

/** A value the codec gives back as the same value (no object: those come back as copies). */
const decodesToItself = (v: unknown) => v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol')

export class Engine {
  readonly status = new StatusEmitter()
  /** The store itself (its log is followed through it). */
  readonly store: Store
  /** The store with every operation retried while retryable: what features call. */
  readonly retryingStore: RetryingStore
  readonly codec: Codec
  readonly run: string
  readonly replicaId: string
  private readonly streams = new Map<string, StreamState>()
  private readonly closing = new AbortController()
  private fault: { state: StatusState; reason?: string } | undefined
  private halted: RepJSError | undefined
  private siteOverride: string | undefined
  /**
   * Records this replica encoded whose value decodes to the very same value (a primitive), by their
   * bytes: when a proposal wins, the decided record is those bytes, and check() takes the record
   * from here instead of decoding what it just encoded.
   */
  private readonly ownRecords = new WeakMap<Uint8Array, SlotRecord>()
  /** Waits for slots another replica decides (follow). */
  private readonly follows = new FollowWaits()
  /** Moving average of one proposal's round trip, ms. */
  private proposeMs = 1
  readonly retry: RetryContext

  constructor(private readonly opts: EngineOptions) {
    this.store = opts.store
    this.codec = opts.codec
    this.run = opts.run
    this.replicaId = opts.replicaId
    this.retry = {
      signal: this.closing.signal,
      onFault: (state, reason) => {
        this.fault = state ? { state, reason } : undefined
        this.updateStatus()
      },
    }
    this.retryingStore = new RetryingStore(opts.store, this.retry)
    opts.store.onHealth?.((health, reason, error) => {
      if (health === 'failed') this.halt(RepJSError.is(error) ? error : new RepJSError(ErrorCodes.STORE, reason ?? 'the store failed for good'))
      else this.retry.onFault(health === 'ok' ? undefined : health, reason)
    })
  }

  /** Sites given with withSite are compared too (EngineOptions.compareSites). */
  get comparesSites(): boolean {
    return this.opts.compareSites === true
  }

  get signal(): AbortSignal {
    return this.closing.signal
  }

  stream(name: string): StreamState {
    let s = this.streams.get(name)
    if (!s) {
      const onHead = name === MAIN_STREAM ? () => this.updateStatus() : undefined
      const log = new StreamLog(this.store, this.run, name, (err) => this.streamFailed(log, name, err), onHead, this.opts.cache?.(name))
      s = { name, log, followsOther: false }
      this.streams.set(name, s)
      readSnapshotEarly(this, s)
    }
    return s
  }

  /**
   * A stream's log failed for good. Over a gateway's cap on subscriptions (one per named stream)
   * only that stream is unusable: its calls throw REPJS_LIMIT saying so. Anything else halts.
   */
  private streamFailed(log: StreamLog, name: string, err: unknown): void {
    if (!RepJSError.is(err, ErrorCodes.LIMIT)) return this.halt(err as RepJSError)
    log.failure = new RepJSError(
      ErrorCodes.LIMIT,
      `stream '${name}' cannot be followed: ${err.message} (each named stream this replica uses is one subscription). ` +
        `Use fewer named streams (one per independent flow, not one per item), or raise the gateway's maxSubscriptions limit.`,
      { cause: err, details: { stream: name } },
    )
  }

  identity(kind: string, name: string, args?: readonly unknown[]): CallIdentity {
    const argsHash = args && args.length ? fingerprint(this.codec.format.encode(toWire(args, true))) : '-'
    return { kind, name, argsHash, site: '' }
  }

  /**
   * Attach the caller's site to a call about to propose (captured now, while the caller's frame is
   * on the stack; formatted only when used). A follower's call (another replica decided this
   * stream's last slot) most likely never names it: its stack is only held (holdSite). A slot already decided locally skips the capture,
   * which would dominate replay time: `check` runs synchronously for it and captures the site only
   * if the call diverges.
   */
  private attachSite(ident: CallIdentity, stream: StreamState, slot: number): void {
    const log = stream.log
    if (this.siteOverride !== undefined) {
      ident.site = this.siteOverride
      return
    }
    if (this.opts.callSites === false || log.peek(slot)) return
    Object.defineProperty(ident, 'site', { get: stream.followsOther ? holdSite(this.opts.siteBase, Engine.prototype.slot) : captureSite(this.opts.siteBase, Engine.prototype.slot), enumerable: true, configurable: true })
  }

  /** Run `call` (which must take its slot synchronously) with a call site known by the caller. */
  withSite<T>(site: string, call: () => T): T {
    this.siteOverride = site
    try {
      return call()
    } finally {
      this.siteOverride = undefined
    }
  }

  /** The site of the call being made now, for a call that takes its slot later (e.g. queued behind another). */
  siteNow(): string {
    if (this.siteOverride !== undefined) return this.siteOverride
    return this.opts.callSites === false ? '' : callSite(this.opts.siteBase)
  }

  assertOpen(): void {
    if (this.halted) throw this.halted
    if (this.closing.signal.aborted) throw closedError()
  }

  /**
   * Agree on one call's outcome at the stream's next slot: when the slot is not decided yet,
   * `produce` gives our outcome and it is proposed (first writer wins); returns the agreed value or
   * throws the agreed error. `produce` runs only if this replica proposes.
   */
  agree(stream: StreamState, ident: CallIdentity, produce: () => Outcome | Promise<Outcome>): Promise<unknown> {
    // The slot is taken now, synchronously, in call order (and one frame above the caller, for its site).
    return this.slot(stream, ident, async (slot) => {
      const ours = produce()
      return this.propose(stream, slot, ident, ours instanceof Promise ? await ours : ours)
    }).then((rec) => this.unwrap(rec))
  }

  /** Like agree(), for a call that settles its slot its own way (`decide`: a vote, a run-once lock). */
  agreeBy(stream: StreamState, ident: CallIdentity, decide: (slot: number) => Promise<Uint8Array>): Promise<unknown> {
    return this.slot(stream, ident, decide).then((rec) => this.unwrap(rec))
  }

  /** Take a slot, settle it with `decide` when it is not known locally, check identity, return the record (for callers that need who decided it, or which slot). */
  async slot(stream: StreamState, ident: CallIdentity, decide: (slot: number) => Promise<Uint8Array>): Promise<SlotRecord> {
    this.assertOpen()
    const log = stream.log
    if (log.failure) throw log.failure
    const slot = log.take()
    this.attachSite(ident, stream, slot)
    try {
      const hit = log.peek(slot)
      if (hit) return this.settle(stream, slot, this.check(stream, slot, ident, hit, true))
      const knowing = log.known(slot)
      const known = knowing instanceof Promise ? await knowing : knowing
      if (log.failure) throw log.failure
      const following = known ?? this.follow(stream, slot)
      let bytes = following instanceof Promise ? await following : following
      if (!bytes) {
        const collected = assertNotCollected(this, stream, slot)
        if (collected) await collected
        bytes = await decide(slot)
      }
      this.assertOpen()
      return this.settle(stream, slot, this.check(stream, slot, ident, bytes))
    } catch (err) {
      // Closed under this call by a halt (the run went, the store failed): the cause, not "closed".
      if (this.halted && RepJSError.is(err, ErrorCodes.CLOSED)) throw this.halted
      throw err
    } finally {
      log.release(slot)
      if (stream.name === MAIN_STREAM) this.updateStatus()
    }
  }

  /**
   * Take the stream's next slot if its decided record is here already, at once (no promise), with
   * the identity check of slot(); undefined (nothing taken) if it is not. For slots a plain script's
   * worker answered from the replay window (core/script/replay-host.ts).
   */
  takeKnown(stream: StreamState, ident: CallIdentity): SlotRecord | undefined {
    this.assertOpen()
    const log = stream.log
    const bytes = log.peek(log.next)
    if (!bytes) return undefined
    const slot = log.take()
    try {
      return this.settle(stream, slot, this.check(stream, slot, ident, bytes))
    } finally {
      log.release(slot)
    }
  }

  /** If another replica leads this stream, give it a moment to decide the slot before proposing. */
  private follow(stream: StreamState, slot: number): Promise<Uint8Array | undefined> | undefined {
    if (!stream.followsOther) return undefined
    const ms = this.opts.followWaitMs ?? Math.min(50, Math.max(2, 3 * this.proposeMs))
    if (ms <= 0) return undefined
    return this.follows.wait(stream.log, slot, ms)
  }

  /** Decode a decided record and compare its call identity with ours. */
  check(stream: StreamState, slot: number, ident: CallIdentity, bytes: Uint8Array, callerOnStack = false): SlotRecord {
    const own = this.ownRecords.get(bytes)
    if (own) this.ownRecords.delete(bytes)
    const rec = own ?? decodeRecord(this.codec, bytes, this.place(stream.name, slot), { legacy: this.opts.legacyRecords })
    rec.slot = slot
    stream.followsOther = rec.by !== this.replicaId
    if (rec.kind !== ident.kind || rec.name !== ident.name || rec.argsHash !== ident.argsHash || this.sitesDiffer(ident, rec)) {
      if (callerOnStack && !ident.site && this.opts.callSites !== false) ident.site = callSite(this.opts.siteBase)
      throw this.diverged(divergedError(stream.name, slot, ident, rec))
    }
    return rec
  }

  /** A slot's decided record, checked: the stream's log learns who decided it (StreamLog.settled: its quiet read). */
  private settle(stream: StreamState, slot: number, rec: SlotRecord): SlotRecord {
    stream.log.settled(slot, rec.by === this.replicaId)
    return rec
  }

  /**
   * With compareSites: both calls name a site and the sites differ. Only a site given with withSite
   * (a plain value, never the capturing getter) is compared, and typed input is not: its record is
   * proposed by the replica where the line was typed, wherever the script reads it.
   */
  private sitesDiffer(ident: CallIdentity, rec: SlotRecord): boolean {
    if (!this.opts.compareSites || ident.kind === 'input' || !rec.site) return false
    const ours = Object.getOwnPropertyDescriptor(ident, 'site')?.value as unknown
    return typeof ours === 'string' && ours !== '' && ours !== rec.site
  }

  /** A divergence (of call identity, or of state found by a state check): halts the replica under onDiverged 'halt'; returns err to throw. */
  diverged(err: RepJSError): RepJSError {
    if (this.opts.onDiverged === 'halt') this.halt(err)
    return err
  }

  place(stream: string, slot: number): RecordPlace {
    return { run: this.run, stream, slot }
  }

  /** Encode our record for a slot; an unencodable value becomes the REPJS_UNSERIALIZABLE error outcome. */
  encode(at: RecordPlace, ident: CallIdentity, outcome: Outcome): Uint8Array {
    // Field by field: a spread of an identity whose site is a getter (attachSite) takes V8's slow path.
    const rec: SlotRecord = { kind: ident.kind, name: ident.name, argsHash: ident.argsHash, site: ident.site, by: this.replicaId, ok: outcome.ok, value: outcome.value }
    try {
      const bytes = encodeRecord(this.codec, at, rec)
      if (rec.ok && decodesToItself(rec.value)) this.ownRecords.set(bytes, rec)
      return bytes
    } catch (err) {
      if (!(err instanceof UnserializableError)) throw err
      return encodeRecord(this.codec, at, { ...rec, ok: false, value: err })
    }
  }

  /** Propose our outcome for a slot (first writer wins) and return the decided record. */
  async propose(stream: StreamState, slot: number, ident: CallIdentity, outcome: Outcome, clearVotes = false): Promise<Uint8Array> {
    const at = this.place(stream.name, slot)
    const bytes = this.encode(at, ident, outcome)
    const t0 = performance.now()
    const res = await this.retryingStore.propose(at, bytes, clearVotes)
    this.proposeMs = 0.9 * this.proposeMs + 0.1 * Math.min(performance.now() - t0, 100)
    return res.record
  }

  /** The agreed outcome: return the value or throw the agreed error, marked with who raised it. */
  unwrap(rec: SlotRecord): unknown {
    if (rec.ok) return rec.value
    const err = rec.value
    if (err instanceof Error && !(err as { replica?: string }).replica) {
      Object.defineProperty(err, 'replica', { value: rec.by, enumerable: true, writable: true, configurable: true })
    }
    throw err
  }

  /** Run a local function, capturing its outcome. */
  async runLocal(fn: () => unknown): Promise<Outcome> {
    try {
      return { ok: true, value: await fn() }
    } catch (err) {
      return { ok: false, value: err }
    }
  }

  updateStatus(): void {
    const main = this.streams.get(MAIN_STREAM)
    const slot = main?.log.next ?? 0
    const head = main?.log.shownHead ?? -1
    if (this.fault) return this.status.set(this.fault.state, slot, head, this.fault.reason)
    if (!main) return this.status.set('live', slot, head)
    const behind = !main.log.caughtUp || main.log.head >= slot
    this.status.set(behind ? 'catching-up' : 'live', slot, head)
  }

  /** Stop the replica for good because of `err` (divergence policy 'halt', or a fatal store error). */
  halt(err: RepJSError): void {
    if (this.halted) return
    this.halted = RepJSError.is(err) ? err : new RepJSError(ErrorCodes.STORE, String(err), { cause: err })
    void this.close(this.halted.message)
  }

  async close(reason?: string): Promise<void> {
    if (this.closing.signal.aborted) return
    this.closing.abort(closedError())
    for (const s of this.streams.values()) s.log.close()
    this.follows.close()
    this.status.set('closed', this.streams.get(MAIN_STREAM)?.log.next ?? 0, this.streams.get(MAIN_STREAM)?.log.head ?? -1, reason)
    await this.store.close()
  }
}
