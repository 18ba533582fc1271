/**
 * The public surface of a replica: `distributed`, `distributedLocked`, `vote`, `check`, `now`, `random`,
 * `randomUUID`, `getRandomValues`, named streams, status events and `close`. Runtime adapters
 * (node-gateway, browser) build a Store and a BinaryFormat and call `createReplica`.
 */
import { check, type CheckOptions, type CheckResult } from './check.js'
import { createCodec, type BinaryFormat } from './codec.js'
import { Engine, MAIN_STREAM, type StreamState } from './engine.js'
import { badArgument, ErrorCodes, RepJSError } from './errors.js'
import { decideOnce, type OnceOptions } from './once.js'
import { cryptoUUID, randomHex } from './prng.js'
import { agreedRandom, random, type RandomMode } from './random.js'
import { StatusEmitter, type Status, type StatusListener } from './status.js'
import { withRetry, type RetryContext } from './retry.js'
import { InputQueue, INPUT_STREAM, type InputLine } from './input.js'
import type { Store } from './store.js'
import type { StreamCache } from './stream-log.js'
import { now, type NowOptions } from './time.js'
import { vote, voteIdentity, type VoteOptions } from './vote.js'
import { decodeMeta, META_FORMAT } from './record.js'
import { collect, restore, takeSnapshot } from './snapshot.js'
import { announcePresence, type ReplicaRuntime } from './presence.js'
import { adoptZone, proposedZone, type ZoneRequest } from './script/zone-run.js'

export interface DistributedOptions {
  /** Names the call in the log (default: the function's name). Give one when code is bundled or minified. */
  name?: string
}
export type LockedOptions = DistributedOptions & OnceOptions

export interface RandomOptions {
  mode?: RandomMode
  /** Names the call in the log (mode 'call'; default 'random'), e.g. 'Math.random'. */
  name?: string
  /**
   * What the caller asked for, e.g. `crypto.randomInt`'s bounds: part of the call's identity in
   * mode 'call' (a replica asking for other bounds at that slot diverges). Batch and seed modes
   * agree blocks or a seed, not single calls, so they cannot check it.
   */
  args?: unknown[]
}

type AnyFn = (...args: any[]) => any
type Agreed<F extends AnyFn> = (...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>>
/** A run-once wrapper takes fn's arguments without the trailing AbortSignal that RepJS appends. */
type WithoutSignal<P extends unknown[]> = P extends [...infer R, AbortSignal] ? R : P extends [...infer R, AbortSignal?] ? R : P
type RunOnce<F extends AnyFn> = (...args: WithoutSignal<Parameters<F>>) => Promise<Awaited<ReturnType<F>>>
interface MethodContext {
  kind: 'method'
  name: string | symbol
}

function isMethodContext(x: unknown): x is MethodContext {
  return typeof x === 'object' && x !== null && (x as MethodContext).kind === 'method' && 'name' in x
}

function fnName(fn: AnyFn, opts: DistributedOptions | undefined): string {
  const name = opts?.name ?? fn.name
  return name || 'anonymous'
}

/** The call API of one stream. The replica itself is the main stream. */
export class Stream {
  /** @internal */
  constructor(
    protected readonly engine: Engine,
    protected readonly state: StreamState,
    protected readonly config: ReplicaConfig,
  ) {}

  /**
   * Wrap fn: every replica runs it, the first proposal for the slot wins, every replica returns the
   * agreed value or re-throws the agreed error. Also a decorator: `@rep.distributed` or
   * `@rep.distributed({ name })` on a class method.
   */
  distributed<F extends AnyFn>(fn: F, opts?: DistributedOptions | MethodContext): Agreed<F>
  distributed(opts: DistributedOptions): <F extends AnyFn>(fn: F, ctx: MethodContext) => Agreed<F>
  distributed(fnOrOpts: AnyFn | DistributedOptions, second?: DistributedOptions | MethodContext): unknown {
    if (typeof fnOrOpts !== 'function') return (fn: AnyFn, ctx: MethodContext) => this.distributed(fn, { name: fnOrOpts.name ?? String(ctx.name) })
    const opts = isMethodContext(second) ? { name: String(second.name) } : second
    const fn = fnOrOpts as AnyFn
    const name = fnName(fn, opts)
    const engine = this.engine
    const state = this.state
    return function (this: unknown, ...args: unknown[]) {
      const ident = engine.identity('call', name, args)
      const local = engine.runLocal(() => fn.apply(this, args))
      return engine.slot(state, ident, async (slot) => engine.propose(state, slot, ident, await local)).then((rec) => engine.unwrap(rec))
    }
  }

  /**
   * Wrap fn to run exactly once across replicas (side effects on shared resources). fn receives
   * the call's arguments followed by an AbortSignal that fires if the lease is lost.
   */
  distributedLocked<F extends AnyFn>(fn: F, opts?: LockedOptions | MethodContext): RunOnce<F>
  distributedLocked(opts: LockedOptions): <F extends AnyFn>(fn: F, ctx: MethodContext) => RunOnce<F>
  distributedLocked(fnOrOpts: AnyFn | LockedOptions, second?: LockedOptions | MethodContext): unknown {
    if (typeof fnOrOpts !== 'function') return (fn: AnyFn, ctx: MethodContext) => this.distributedLocked(fn, { ...fnOrOpts, name: fnOrOpts.name ?? String(ctx.name) })
    const opts: LockedOptions = isMethodContext(second) ? { name: String(second.name) } : (second ?? {})
    if (opts.ttlMs !== undefined && !(opts.ttlMs >= 1000)) throw badArgument(`ttlMs must be at least 1000 (etcd leases have 1 s granularity), got ${opts.ttlMs}`)
    const fn = fnOrOpts as AnyFn
    const name = fnName(fn, opts)
    const engine = this.engine
    const state = this.state
    return function (this: unknown, ...args: unknown[]) {
      const ident = engine.identity('once', name, args)
      return engine
        .slot(state, ident, (slot) => decideOnce(engine, state, slot, ident, (signal) => fn.apply(this, [...args, signal]), opts))
        .then((rec) => engine.unwrap(rec))
    }
  }

  /** Every replica votes; the outcome is `reduce` over the first `quorum` votes in commit order. */
  vote<T = unknown>(value: unknown, opts: VoteOptions): Promise<T> {
    try {
      return vote(this.engine, this.state, value, opts, voteIdentity(this.engine, opts)) as Promise<T>
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Agreed state check: every replica passes the hash of its state at this point of the log (a
   * string, or bytes); resolves if it matches the recorded hash, rejects with REPJS_DIVERGED naming
   * the slot and both hashes if not. See CheckOptions for who decides (first replica or majority).
   */
  check(hash: string | ArrayBufferView | ArrayBuffer, opts: CheckOptions = {}): Promise<CheckResult> {
    try {
      return check(this.engine, this.state, hash, opts, this.config.replicas)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Record the program's state (any value RepJS can encode) at this stream's next slot, as an
   * agreed operation: every replica calls it at the same point of the stream; the first to decide
   * the slot wins, and a replica whose state hashes differently there gets REPJS_DIVERGED. Resolves
   * with the slot once the snapshot is stored (a later snapshot is never replaced by an earlier one).
   * Await the stream's pending calls first. See restore() and collect().
   */
  snapshot(state: unknown): Promise<number> {
    return takeSnapshot(this.engine, this.state, state)
  }

  /**
   * Before this stream's first call: the latest snapshot's state (undefined if there is none), and
   * the stream continues right after the snapshot's slot instead of replaying from slot 0.
   */
  restore<T = unknown>(): Promise<T | undefined> {
    return restore(this.engine, this.state) as Promise<T | undefined>
  }

  /**
   * Delete this stream's slots below its latest snapshot (in bounded transactions), so etcd holds
   * only what a restored replica needs. A replica that then needs a deleted slot (one that did not
   * restore()) fails with REPJS_COLLECTED. Resolves with the snapshot's slot and the slots deleted.
   */
  collect(): Promise<{ below: number; deleted: number }> {
    return collect(this.engine, this.state)
  }

  /** Agreed time in ms since the epoch, never decreasing. */
  now(opts: NowOptions = {}): Promise<number> {
    return now(this.engine, this.state, opts, this.config.clock, this.config.replicas)
  }

  /** An agreed float in [0, 1). */
  random(opts: RandomOptions = {}): Promise<number> {
    try {
      return random(this.engine, this.state, opts.mode ?? this.config.random, opts.name, opts.args)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** An agreed RFC 4122 v4 UUID. */
  randomUUID(opts: { name?: string } = {}): Promise<string> {
    return agreedRandom(this.engine, this.state, opts.name ?? 'randomUUID', [], cryptoUUID)
  }

  /** Fill an integer typed array with agreed random bytes (like crypto.getRandomValues). */
  async getRandomValues<T extends ArrayBufferView>(array: T, opts: { name?: string } = {}): Promise<T> {
    const view = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
    const bytes = await agreedRandom(this.engine, this.state, opts.name ?? 'getRandomValues', [array.constructor.name, view.length], () =>
      crypto.getRandomValues(new Uint8Array(view.length)),
    )
    view.set(bytes)
    return array
  }
}

export interface ReplicaConfig {
  clock: () => number
  random: RandomMode
  replicas: number | undefined
}

export interface RunInfo {
  run: string
  replicaId: string
  /** Display name of this replica (who typed a line). */
  name: string
  program: string
  incarnation: string
  replicas: number | undefined
  /** True if this replica created the run. */
  created: boolean
  /** The run's agreed time zone (IANA name); undefined in runs created before RepJS recorded one. */
  timeZone: string | undefined
  /** The run's agreed default locale (BCP 47); undefined in runs created before RepJS recorded one. */
  locale: string | undefined
}

export class Replica extends Stream {
  private readonly streams = new Map<string, Stream>()
  private inputQueue: InputQueue | undefined

  /** @internal */
  constructor(
    engine: Engine,
    config: ReplicaConfig,
    readonly info: RunInfo,
  ) {
    super(engine, engine.stream(MAIN_STREAM), config)
  }

  /**
   * Make one call whose call site is known to the caller (e.g. a script in a worker thread whose
   * stack is not this thread's): `rep.withCallSite('app.js:12:3', () => rep.now())`.
   */
  withCallSite<T>(site: string, call: () => T): T {
    return this.engine.withSite(site, call)
  }

  /** An independent named stream: its own slot order, for flows whose order differs between replicas. */
  stream(name: string): Stream {
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(name) || name === MAIN_STREAM) {
      throw badArgument(`stream name must be 1-64 of [A-Za-z0-9._-] and not '${MAIN_STREAM}', got '${String(name)}'`)
    }
    let s = this.streams.get(name)
    if (!s) this.streams.set(name, (s = new Stream(this.engine, this.engine.stream(name), this.config)))
    return s
  }

  private get inputs(): InputQueue {
    return (this.inputQueue ??= new InputQueue(this.engine, this.engine.stream(INPUT_STREAM), this.info.name, this.config.clock))
  }

  /**
   * The next agreed input line (null once end of input is agreed, then on every later call, with no
   * slot taken). A line typed here (`typeLine`) races the other replicas' lines; one that loses
   * stays queued for the next call. Concurrent calls settle one after another, in call order.
   */
  async input(): Promise<string | null> {
    return (await this.inputs.next()).line
  }

  /** Like input(), with who typed the line. */
  inputLine(): Promise<InputLine> {
    return this.inputs.next()
  }

  /**
   * A line typed on this replica (a terminal line, the prompt element's Enter). Returns the line's
   * id: the line is acknowledged (in the log, exactly once) when an agreed line with this id is
   * returned by input()/inputLine() or emitted as 'input' here.
   */
  typeLine(line: string): string {
    return this.inputs.type(line)
  }

  /** End input for every replica, explicitly (Ctrl-D on a terminal, a button); once is enough. */
  endInput(): void {
    this.inputs.end()
  }

  /** Lines typed here that are not agreed yet (after end of input: never sent). */
  pendingInput(): Array<string | null> {
    return this.inputQueue?.pending() ?? []
  }

  on(event: 'status', listener: StatusListener): () => void
  on(event: 'input', listener: (line: InputLine) => void): () => void
  on(event: 'status' | 'input', listener: StatusListener | ((line: InputLine) => void)): () => void {
    if (event === 'status') return this.engine.status.on(listener as StatusListener)
    if (event === 'input') return this.inputs.onLine(listener as (line: InputLine) => void)
    throw badArgument(`unknown event '${String(event)}'; replicas emit 'status' and 'input'`)
  }

  get status(): Status {
    return this.engine.status.current
  }

  /**
   * The run's agreed time zone, the same on every replica: what `repjs run` and `runInWorker` make
   * a script's local time use. A program calling connect() itself is not patched: format with it,
   * e.g. `new Intl.DateTimeFormat(rep.locale, { timeZone: rep.timeZone })`.
   */
  get timeZone(): string | undefined {
    return this.info.timeZone
  }

  /** The run's agreed default locale, the same on every replica (see timeZone). */
  get locale(): string | undefined {
    return this.info.locale
  }

  close(): Promise<void> {
    return this.engine.close('closed by the program')
  }
}

export interface ReplicaOptions extends ZoneRequest {
  store: Store
  format: BinaryFormat
  run: string
  /** Program id recorded at run creation; replicas of another program get REPJS_VERSION_MISMATCH. */
  program: string
  allowProgramMismatch?: boolean
  /** Number of replicas, recorded at run creation (default quorum of median time). */
  replicas?: number
  replicaId?: string
  /** Display name shown with the lines this replica types (default: the replica id). */
  name?: string
  /**
   * Where this replica runs, shown with its presence (core/presence.ts): each adapter sets it
   * ('node' for connect() in Node, 'browser' for tabs and runInWorker, 'repjs-run', 'electron').
   * Default 'node'.
   */
  runtime?: ReplicaRuntime
  /** Announce this replica under its run (presence key; default true). */
  presence?: boolean
  /** A replica-local cache of decided records per stream (browser tabs: IndexedDB). */
  cache?: (incarnation: string) => (stream: string) => StreamCache
  random?: RandomMode
  onDiverged?: 'throw' | 'halt'
  clock?: () => number
  siteBase?: string
  callSites?: boolean
  /**
   * Also compare call sites (given with withCallSite) when checking a slot's identity, not only
   * kind, name and arguments: two same-name calls made in another order on another replica (from
   * callbacks that complete in another order) then diverge instead of swapping values. Only for
   * replicas that run the very same code: `repjs run` and `runInWorker()` turn it on when the
   * program id is the script's hash. Off when the run was opened with allowProgramMismatch.
   */
  compareSites?: boolean
  followWaitMs?: number
  /**
   * Status from the start, while connecting too (rep.on('status') exists only once connected):
   * 'connecting', then 'waiting-for-quorum' / 'reconnecting' while the store cannot open the run
   * (connecting retries those until the store is back), then the replica's status.
   */
  onStatus?: StatusListener
  /** Abandon connecting when this aborts: connecting then fails with REPJS_CLOSED. */
  signal?: AbortSignal
  /**
   * Create the run again if it was deleted or expired (REPJS_RUN_GONE otherwise), with a new
   * incarnation and an empty log; a live run is joined as usual.
   */
  newRun?: boolean
  /** If this replica creates the run: it expires once no replica has kept it open for this many ms (≥ 1000). */
  runTtlMs?: number
}

const RUN_RE = /^[A-Za-z0-9._-]{1,128}$/

/**
 * Open the run, retrying retryable store faults (no quorum, unreachable) as every later call does,
 * with their status, until it opens, fails for good, or `opts.signal` aborts (which closes the store).
 */
async function openRun(opts: ReplicaOptions, meta: Uint8Array): Promise<{ meta: Uint8Array; created: boolean }> {
  const status = new StatusEmitter()
  const listening = opts.onStatus && status.on(opts.onStatus)
  const signal = opts.signal ?? new AbortController().signal
  const retry: RetryContext = { signal, onFault: (state, reason) => status.set(state ?? 'connecting', 0, -1, reason) }
  // A gateway store retries by itself and reports its health meanwhile.
  const health = opts.store.onHealth?.((h, reason) => h !== 'failed' && retry.onFault(h === 'ok' ? undefined : h, reason))
  const abort = () => void opts.store.close()
  signal.addEventListener('abort', abort, { once: true })
  try {
    const how = { ...(opts.newRun ? { newRun: true } : {}), ...(opts.runTtlMs !== undefined ? { ttlMs: opts.runTtlMs } : {}) }
    return await withRetry(retry, () => opts.store.openRun(opts.run, meta, how))
  } finally {
    signal.removeEventListener('abort', abort)
    health?.()
    listening?.()
  }
}

/** Join (or create) a run and return the replica. */
export async function createReplica(opts: ReplicaOptions): Promise<Replica> {
  if (typeof opts.run !== 'string' || !RUN_RE.test(opts.run)) throw badArgument(`run must be 1-128 of [A-Za-z0-9._-], got '${String(opts.run)}'`)
  if (opts.replicas !== undefined && !(Number.isInteger(opts.replicas) && opts.replicas >= 1)) throw badArgument(`replicas must be a positive integer, got ${opts.replicas}`)
  if (opts.runTtlMs !== undefined && !(Number.isInteger(opts.runTtlMs) && opts.runTtlMs >= 1000)) throw badArgument(`runTtlMs must be a whole number of ms, at least 1000, got ${opts.runTtlMs}`)
  const codec = createCodec(opts.format)
  const proposed = { format: META_FORMAT, program: opts.program, incarnation: randomHex(16), replicas: opts.replicas ?? null }
  let opened: { meta: Uint8Array; created: boolean }
  try {
    // The run's time zone and locale: this replica's (chosen or its machine's) if it creates the run.
    opened = await openRun(opts, codec.encode({ ...proposed, ...proposedZone(opts) }))
  } catch (err) {
    await opts.store.close()
    throw err
  }
  let meta: ReturnType<typeof decodeMeta>
  let zone: ReturnType<typeof adoptZone>
  try {
    meta = decodeMeta(codec, opened.meta, opts.run)
    zone = adoptZone(opts.run, opts, meta)
  } catch (err) {
    await opts.store.close()
    throw err
  }
  if (meta.program !== opts.program && !opts.allowProgramMismatch) {
    await opts.store.close()
    throw new RepJSError(
      ErrorCodes.VERSION_MISMATCH,
      `Run '${opts.run}' was created by program '${meta.program}', but this replica is program '${opts.program}'. ` +
        `Run the same program version on every replica, start a new run id, or pass { allowProgramMismatch: true } if you know they are compatible.`,
      { details: { run: opts.run, recorded: meta.program, ours: opts.program } },
    )
  }
  const replicaId = opts.replicaId ?? randomHex(6)
  const engine = new Engine({
    store: opts.store, codec, run: opts.run, replicaId,
    onDiverged: opts.onDiverged, siteBase: opts.siteBase, callSites: opts.callSites, followWaitMs: opts.followWaitMs,
    compareSites: opts.compareSites === true && meta.program === opts.program,
    cache: opts.cache?.(meta.incarnation), legacyRecords: meta.format < META_FORMAT,
  })
  const config: ReplicaConfig = {
    clock: opts.clock ?? (() => Date.now()),
    random: opts.random ?? 'call',
    replicas: meta.replicas ?? undefined,
  }
  const info: RunInfo = {
    run: opts.run, replicaId, name: opts.name ?? replicaId, program: meta.program, incarnation: meta.incarnation,
    replicas: meta.replicas ?? undefined, created: opened.created, timeZone: zone?.timeZone, locale: zone?.locale,
  }
  const rep = new Replica(engine, config, info)
  if (opts.onStatus) engine.status.on(opts.onStatus)
  engine.updateStatus()
  if (opts.presence !== false) {
    announcePresence({ store: opts.store, format: opts.format, run: opts.run, replica: replicaId, name: info.name, runtime: opts.runtime ?? 'node', status: engine.status, clock: () => Date.now() })
  }
  return rep
}
