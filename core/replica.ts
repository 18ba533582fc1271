/**
 * A replica (`Replica`: the main stream's calls plus named streams, input, status events and
 * `close`) and `createReplica`, which opens or creates the run. Runtime adapters (node-gateway,
 * browser) build a Store and a BinaryFormat and call `createReplica`. The calls themselves are in
 * stream.ts.
 */
import { createCodec, type BinaryFormat } from './codec.js'
import { Engine, MAIN_STREAM, type StreamState } from './engine.js'
import { badArgument, ErrorCodes, RepJSError } from './errors.js'
import { randomHex } from './prng.js'
import type { RandomMode } from './random.js'
import { StatusEmitter, type Status, type StatusListener } from './status.js'
import { withRetry, type RetryContext } from './retry.js'
import { InputQueue, INPUT_STREAM, type InputLine } from './input.js'
import type { RunMetaSource, Store } from './store.js'
import type { StreamCache } from './stream-log.js'
import { decodeMeta, META_FORMAT, PLACED_FORMAT } from './record.js'
import { announcePresence, type ReplicaRuntime } from './presence.js'
import { Stream, type ReplicaConfig } from './stream.js'
import { adoptZone, proposedZone, type ZoneRequest } from './script/zone-run.js'

export { Stream } from './stream.js'
export type { DistributedOptions, LockedOptions, RandomOptions, ReplicaConfig } from './stream.js'

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

  /**
   * @internal What a plain script's replay window needs (core/script/replay-host.ts): the engine,
   * the main stream's state (its log, agreed time), the run, and whether call sites are compared.
   */
  get scriptView(): { engine: Engine; state: StreamState; run: string; compareSites: boolean } {
    return { engine: this.engine, state: this.state, run: this.engine.run, compareSites: this.engine.comparesSites }
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
async function openRun(opts: ReplicaOptions, meta: RunMetaSource): Promise<{ meta: Uint8Array; created: boolean }> {
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
    // The run's time zone and locale: this replica's (chosen or its machine's) if it creates the run,
    // worked out only then (the machine's zone costs Intl's start-up: a joiner skips it).
    opened = await openRun(opts, () => codec.encode({ ...proposed, ...proposedZone(opts) }))
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
    cache: opts.cache?.(meta.incarnation), legacyRecords: meta.format < PLACED_FORMAT,
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
