/**
 * Agreed time. Monotonic mode: each replica proposes max(own clock, last agreed time), and the
 * agreed value is raised to the last agreed time when read, so time never decreases even when a
 * replica's clock is far behind. Median mode: a vote whose outcome is the median of the first
 * `quorum` clocks in commit order (robust to a minority of bad clocks), then raised likewise.
 */
import type { Engine, StreamState } from './engine.js'
import { badArgument, ErrorCodes, RepJSError } from './errors.js'
import { vote, voteIdentity } from './vote.js'

export interface NowOptions {
  mode?: 'monotonic' | 'median'
  /** Votes to wait for in median mode; defaults to the run's `replicas`. */
  quorum?: number
  /** Names the call in the log (default 'now'), e.g. 'Date.now' vs 'performance.now'. */
  name?: string
}

/** One now() call's place in its stream's order: settled (`done`), or the promise it settles with. */
interface Link {
  done: boolean
  settled: Promise<unknown>
}

/**
 * A stream's agreed time so far, and the last now() call (each settles after the one before it;
 * when that one has settled already, the next goes on without waiting a turn for it).
 */
interface StreamTime {
  last: number
  tail: Link
}
const times = new WeakMap<StreamState, StreamTime>()

function timeOf(stream: StreamState): StreamTime {
  let t = times.get(stream)
  if (!t) times.set(stream, (t = { last: -Infinity, tail: { done: true, settled: Promise.resolve() } }))
  return t
}

/** The stream's last agreed time (-Infinity before any). */
export function agreedTime(stream: StreamState): number {
  return timeOf(stream).last
}

/** Start the stream's agreed time over at `time` (a snapshot's). */
export function restartTime(stream: StreamState, time: number): void {
  timeOf(stream).last = time
}

export function now(engine: Engine, stream: StreamState, opts: NowOptions, clock: () => number, replicas: number | undefined): Promise<number> {
  const t = timeOf(stream)
  const prev = t.tail
  let agreed: Promise<unknown>
  if (opts.mode === 'median') {
    const quorum = opts.quorum ?? replicas
    if (quorum === undefined) {
      return Promise.reject(badArgument("now({ mode: 'median' }) needs a quorum: pass { quorum: n } or connect with { replicas: n } when creating the run"))
    }
    const vopts = { quorum, reduce: 'median' as const, name: `${opts.name ?? 'now'}.median` }
    agreed = vote(engine, stream, clock(), vopts, voteIdentity(engine, vopts, 'now'))
  } else if (opts.mode === undefined || opts.mode === 'monotonic') {
    const ident = engine.identity('now', opts.name ?? 'now')
    const ours = () => ({ ok: true, value: Math.max(clock(), t.last) })
    agreed = engine.agree(stream, ident, () => (prev.done ? ours() : prev.settled.then(ours)))
  } else {
    return Promise.reject(badArgument(`now() mode must be 'monotonic' or 'median', got ${String(opts.mode)}`))
  }
  const settle = (v: unknown) => {
    if (typeof v !== 'number') throw new RepJSError(ErrorCodes.CORRUPT, `agreed time is not a number (${typeof v}); the run's log was written outside RepJS`)
    t.last = Math.max(v, t.last)
    return t.last
  }
  const out = agreed.then((v) => (prev.done ? settle(v) : prev.settled.then(() => settle(v))))
  const link: Link = { done: false, settled: out }
  const done = () => {
    link.done = true
  }
  link.settled = out.then(done, done)
  t.tail = link
  return out
}
