/**
 * The call API of one stream (`Stream`; the replica itself is the main stream): `distributed`,
 * `distributedLocked`, `vote`, `check`, `snapshot`/`restore`/`collect`, `now`, `random`,
 * `randomUUID`, `getRandomValues`. Each call computes its identity and agrees its outcome through
 * the engine (`agree`); the replica and how it is opened are in replica.ts.
 */
import { check, type CheckOptions, type CheckResult } from './check.js'
import type { Engine, StreamState } from './engine.js'
import { badArgument } from './errors.js'
import { decideOnce, type OnceOptions } from './once.js'
import { cryptoUUID } from './prng.js'
import { agreedRandom, random, type RandomMode } from './random.js'
import { now, type NowOptions } from './time.js'
import { vote, voteIdentity, type VoteOptions } from './vote.js'
import { collect, restore, takeSnapshot } from './snapshot.js'

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
      return engine.agree(state, ident, () => local)
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
      return engine.agreeBy(state, ident, (slot) => decideOnce(engine, state, slot, ident, (signal) => fn.apply(this, [...args, signal]), opts))
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
