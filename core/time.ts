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

/** A stream's agreed time so far, and the last now() call (each settles after the one before it). */
interface StreamTime {
  last: number
  chain: Promise<unknown>
}
const times = new WeakMap<StreamState, StreamTime>()

function timeOf(stream: StreamState): StreamTime {
  let t = times.get(stream)
  if (!t) times.set(stream, (t = { last: -Infinity, chain: Promise.resolve() }))
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
  const prev = t.chain
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
    agreed = engine.agree(stream, ident, async () => {
      await prev
      return { ok: true, value: Math.max(clock(), t.last) }
    })
  } else {
    return Promise.reject(badArgument(`now() mode must be 'monotonic' or 'median', got ${String(opts.mode)}`))
  }
  const out = agreed.then(async (v) => {
    await prev
    if (typeof v !== 'number') throw new RepJSError(ErrorCodes.CORRUPT, `agreed time is not a number (${typeof v}); the run's log was written outside RepJS`)
    t.last = Math.max(v, t.last)
    return t.last
  })
  t.chain = out.catch(() => {})
  return out
}
