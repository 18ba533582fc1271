/**
 * Quorum aggregation (the paper's general form): every replica writes its value for the slot;
 * the outcome is `reduce` over the first `quorum` votes in commit order, recorded as the slot's
 * record so late replicas replay it without the votes (which are deleted when it is recorded).
 */
import type { Engine, StreamState } from './engine.js'
import { badArgument, type CallIdentity } from './errors.js'
import { decodeVote, encodeVote } from './record.js'

export type Reducer = 'median' | 'min' | 'max' | ((values: unknown[]) => unknown)

export interface VoteOptions {
  quorum: number
  reduce: Reducer
  name?: string
}

function numbers(values: unknown[], what: string): number[] {
  return values.map((v) => {
    if (typeof v !== 'number' || Number.isNaN(v)) throw badArgument(`${what} needs numeric votes, got ${typeof v === 'number' ? 'NaN' : typeof v}`)
    return v
  })
}

/** Apply a reducer. 'median' of an even count is the lower middle. */
export function reduceVotes(reduce: Reducer, values: unknown[]): unknown {
  if (typeof reduce === 'function') return reduce(values)
  const ns = numbers(values, reduce).sort((a, b) => a - b)
  if (reduce === 'min') return ns[0]
  if (reduce === 'max') return ns[ns.length - 1]
  return ns[Math.floor((ns.length - 1) / 2)]
}

export function checkQuorum(quorum: unknown): number {
  if (typeof quorum !== 'number' || !Number.isInteger(quorum) || quorum < 1) {
    throw badArgument(`quorum must be a positive integer, got ${String(quorum)}`)
  }
  return quorum
}

export function voteIdentity(engine: Engine, opts: VoteOptions, kind = 'vote'): CallIdentity {
  const reduce = typeof opts.reduce === 'function' ? opts.reduce.name || 'fn' : opts.reduce
  if (typeof reduce === 'string' && !['median', 'min', 'max'].includes(reduce) && typeof opts.reduce !== 'function') {
    throw badArgument(`reduce must be 'median', 'min', 'max' or a function, got ${String(opts.reduce)}`)
  }
  return engine.identity(kind, opts.name ?? 'vote', [checkQuorum(opts.quorum), reduce])
}

export async function vote(engine: Engine, stream: StreamState, value: unknown, opts: VoteOptions, ident: CallIdentity): Promise<unknown> {
  return engine.agreeBy(stream, ident, (slot) => decideByVote(engine, stream, slot, ident, value, opts))
}

/**
 * How many votes settle a slot when that depends on the votes: from `least` votes on, one more at a
 * time, until `settled` holds for their reduction or `quorum` votes are in (state checks).
 */
export interface VoteRound {
  least: number
  settled(outcome: unknown): boolean
}

/**
 * Settle `slot` by vote: write ours, wait for `quorum` votes (or the decision; or fewer, as `round`
 * says), propose their reduction.
 */
export async function decideByVote(engine: Engine, stream: StreamState, slot: number, ident: CallIdentity, value: unknown, opts: VoteOptions, round?: VoteRound): Promise<Uint8Array> {
  const ref = { run: engine.run, stream: stream.name, slot }
  const mine = encodeVote(engine.codec, ref, engine.replicaId, value)
  const decided = await engine.retryingStore.vote(ref, engine.replicaId, mine)
  if (decided) return decided
  const ac = new AbortController()
  const stop = () => ac.abort()
  const cancel = stream.log.onDecided(slot, stop)
  engine.signal.addEventListener('abort', stop, { once: true })
  const doneWaiting = engine.retryingStore.waitingForQuorum(`waiting for ${opts.quorum} votes at stream '${stream.name}' slot ${slot}`)
  try {
    for (let n = round?.least ?? opts.quorum; ; n++) {
      const votes = await engine.retryingStore.awaitVotes(ref, n, ac.signal)
      const values = votes.map((b) => decodeVote(engine.codec, b, ref).value)
      const outcome = await engine.runLocal(() => reduceVotes(opts.reduce, values))
      if (n >= opts.quorum || (outcome.ok && round?.settled(outcome.value))) return await engine.propose(stream, slot, ident, outcome, true)
    }
  } catch (err) {
    const hit = stream.log.peek(slot)
    if (ac.signal.aborted && hit) return hit
    throw err
  } finally {
    cancel()
    engine.signal.removeEventListener('abort', stop)
    doneWaiting()
  }
}
