/**
 * Agreed state checks: `rep.check(hash)` takes the next slot of its stream like any call, and
 * every replica contributes the hash of its state at that point of the log.
 *
 * `quorum` is the number of replicas R the majority is taken over. R = 1 ("first decides"): the
 * first replica to reach the slot records its hash in the one create-if-absent Txn every call
 * uses; the others compare with it (from the watch, or the record their own Txn gets back).
 * R > 1 ("majority"): every replica that reaches the slot before it is decided writes one vote (its
 * hash); in commit order, the first hash to be held by a strict majority of R (⌊R/2⌋+1 votes) is
 * recorded as the slot's record; if all R votes are in without one, none is (null). A replica
 * arriving after the decision writes nothing and compares. A replica whose hash differs from the
 * recorded one (every replica, when it is null) gets REPJS_DIVERGED naming the slot and both
 * hashes. The check waits until ⌊R/2⌋+1 replicas agree (status waiting-for-quorum), so it goes on
 * with a minority of replicas stopped or gone.
 */
import type { Engine, StreamState } from './engine.js'
import { badArgument, ErrorCodes, RepJSError } from './errors.js'
import { placeKey } from './record.js'
import { checkQuorum, decideByVote, type VoteOptions } from './vote.js'

export interface CheckOptions {
  /**
   * The number of replicas R the majority is taken over: the hash ⌊R/2⌋+1 of them hold decides.
   * 1 = the first replica to reach the check decides. Default: the run's `replicas` (recorded when
   * the run was created), else 1.
   */
  quorum?: number
  /** Names the check in the log (default 'check'). */
  name?: string
}

/** What a check recorded: the decided hash (null: no strict majority) and the hashes it was decided from. */
export interface CheckResult {
  stream: string
  slot: number
  hash: string
  votes: string[]
}

interface Decided {
  hash: string | null
  votes: string[]
}

export const MAX_HASH_CHARS = 1024

/** A state hash as recorded: a string as is, bytes as lowercase hex. */
export function hashText(hash: unknown): string {
  let text: string | undefined
  if (typeof hash === 'string') text = hash
  else if (hash instanceof ArrayBuffer) text = hex(new Uint8Array(hash))
  else if (ArrayBuffer.isView(hash)) text = hex(new Uint8Array(hash.buffer, hash.byteOffset, hash.byteLength))
  if (text === undefined || text.length === 0 || text.length > MAX_HASH_CHARS) {
    throw badArgument(`check(hash) takes a non-empty string of at most ${MAX_HASH_CHARS} characters or at most ${MAX_HASH_CHARS / 2} bytes, got ${typeof hash === 'string' ? `${hash.length} characters` : String(hash)}`)
  }
  return text
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** The hash held by a strict majority of `replicas` (⌊replicas/2⌋+1 of the votes), or null. */
export function majority(votes: unknown[], replicas: number): Decided {
  const hashes = votes.map((v) => (typeof v === 'string' ? v : ''))
  const counts = new Map<string, number>()
  for (const h of hashes) counts.set(h, (counts.get(h) ?? 0) + 1)
  let hash: string | null = null
  for (const [h, n] of counts) if (h && 2 * n > replicas) hash = h
  return { hash, votes: hashes }
}

function decidedOf(value: unknown, key: string): Decided {
  const d = value as Decided
  const ok = typeof d === 'object' && d !== null && (d.hash === null || typeof d.hash === 'string') &&
    Array.isArray(d.votes) && d.votes.every((v) => typeof v === 'string')
  if (!ok) throw new RepJSError(ErrorCodes.CORRUPT, `the state check recorded at ${key} is not { hash, votes }; the run's log was written outside RepJS`, { details: { key } })
  return d
}

export function stateDivergedError(stream: string, slot: number, name: string, ours: string, decided: Decided): RepJSError {
  const n = decided.votes.length
  const agreed = decided.hash === null
    ? `the ${n} replicas' hashes (${decided.votes.join(', ')}) have no strict majority, so no replica's state is agreed`
    : `the agreed hash is ${decided.hash} (held by ${decided.votes.filter((v) => v === decided.hash).length} of the first ${n} replicas' hashes: ${decided.votes.join(', ')})`
  return new RepJSError(
    ErrorCodes.DIVERGED,
    `Replica state diverged at stream '${stream}' slot ${slot} (check '${name}'): this replica's state hash is ${ours}, but ${agreed}. ` +
      `Every call before this slot was agreed, so the state depends on something that is not: an environment variable, a local file, ` +
      `an unpatched source of time or randomness, or state kept from before the run. Find what differs between the replicas, ` +
      `make it agreed (or leave it out of the hash), and start a new run id.`,
    { details: { stream, slot, name, hash: ours, agreed: decided.hash, votes: decided.votes } },
  )
}

export async function check(engine: Engine, stream: StreamState, hash: unknown, opts: CheckOptions, replicas: number | undefined): Promise<CheckResult> {
  const ours = hashText(hash)
  const quorum = checkQuorum(opts.quorum ?? replicas ?? 1)
  const name = opts.name ?? 'check'
  const vopts: VoteOptions = { quorum, reduce: (votes) => majority(votes, quorum), name }
  const ident = engine.identity('check', name, [quorum, 'majority'])
  const least = Math.floor(quorum / 2) + 1
  const rec = await engine.slot(stream, ident, (slot) =>
    quorum === 1
      ? engine.propose(stream, slot, ident, { ok: true, value: majority([ours], 1) })
      : decideByVote(engine, stream, slot, ident, ours, vopts, { least, settled: (d) => (d as Decided).hash !== null }),
  )
  const slot = rec.slot!
  const decided = decidedOf(engine.unwrap(rec), placeKey({ run: engine.run, stream: stream.name, slot }))
  if (decided.hash !== ours) throw engine.diverged(stateDivergedError(stream.name, slot, name, ours, decided))
  return { stream: stream.name, slot, hash: ours, votes: decided.votes }
}
