/**
 * What the gateway writes to etcd is checked first: a token for a run lets a client add to that
 * run's log, not write garbage into it, nor a record for another place, nor one in another
 * replica's name. Checked (PROTOCOL.md, "What the gateway stores"):
 *   slot record (PROPOSE, DECIDE_LOCKED) and run-once marker (MARK_STARTED): a version-2 record
 *     (core/record.ts) naming the run, stream and slot it is written to, `by` the connection's
 *     replica id;
 *   run record (HELLO meta): a run record (core/record.ts decodeMeta);
 *   vote (VOTE): a vote (core/record.ts) naming the run, stream and slot and the connection's replica;
 *   snapshot (WRITE_SNAPSHOT): a snapshot (core/snapshot.ts) naming the run, stream and slot it is for;
 *   each at most `maxBytes`.
 * A refusal is REPJS_BAD_ARGUMENT (REPJS_LIMIT when too large), not retryable; nothing is written.
 */
import { createCodec } from '../../core/codec.js'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { decodeMeta, decodeRecord, decodeVote, placeKey, type RecordPlace } from '../../core/record.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { metaKey, snapKey } from '../../core/keys.js'
import { decodeSnapshot, snapshotPrefix } from '../../core/snapshot.js'

/** Largest record, run record or vote the gateway stores (etcd refuses requests over 1.5 MiB by default). */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024

const codec = createCodec(createCborFormat())

function refused(what: string, key: string, reason: string, cause?: unknown): RepJSError {
  return new RepJSError(
    ErrorCodes.BAD_ARGUMENT,
    `The gateway refused to store this ${what} at ${key}: ${reason}. Nothing was written; send what a RepJS replica of this version encodes.`,
    { cause, details: { key, reason } },
  )
}

function checkSize(what: string, key: string, bytes: Uint8Array, maxBytes: number): void {
  if (bytes.length <= maxBytes) return
  throw new RepJSError(
    ErrorCodes.LIMIT,
    `The gateway refused to store this ${what} at ${key}: ${bytes.length} bytes, over its limit of ${maxBytes}. Nothing was written; keep agreed values small (store large data elsewhere and agree on its key).`,
    { details: { key, bytes: bytes.length, max: maxBytes } },
  )
}

/** Why a decode failed, in a few words. */
function reasonOf(err: unknown, what = 'a slot record'): string {
  if (RepJSError.is(err) && err.details.found) {
    const f = err.details.found as Record<string, unknown>
    return `it names run '${String(f.run)}' stream '${String(f.stream)}' slot ${String(f.slot)}`
  }
  const cause = (err as { cause?: unknown }).cause
  return `it is not ${what} (${cause instanceof Error ? cause.message : String(cause ?? err)})`
}

/** A slot record or run-once marker written at `at` by the connection of `replica`. */
export function checkRecord(what: 'record' | 'marker', at: RecordPlace, replica: string, bytes: Uint8Array, maxBytes: number): void {
  // The key names the place in a refusal only: not built for every record that passes (one per agreed call).
  if (bytes.length > maxBytes) checkSize(what, placeKey(at), bytes, maxBytes)
  let by: string
  try {
    by = decodeRecord(codec, bytes, at).by
  } catch (err) {
    throw refused(what, placeKey(at), reasonOf(err), err)
  }
  if (by !== replica) throw refused(what, placeKey(at), `it is written as replica '${by}' on the connection of replica '${replica}'`)
}

/** The run record a HELLO proposes. */
export function checkMeta(run: string, bytes: Uint8Array, maxBytes: number): void {
  const key = metaKey(run)
  checkSize('run record', key, bytes, maxBytes)
  try {
    decodeMeta(codec, bytes, run)
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause
    throw refused('run record', key, `it is not a run record (${cause instanceof Error ? cause.message : (err as Error).message})`, err)
  }
}

/** A vote for the slot `at` by the connection of `replica`. */
export function checkVote(at: RecordPlace, replica: string, bytes: Uint8Array, maxBytes: number): void {
  const key = `${placeKey(at)} vote`
  checkSize('vote', key, bytes, maxBytes)
  let voter: string
  try {
    voter = decodeVote(codec, bytes, at).voter
  } catch (err) {
    throw refused('vote', key, reasonOf(err, 'a vote'), err)
  }
  if (voter !== replica) throw refused('vote', key, `it is cast as replica '${voter}' on the connection of replica '${replica}'`)
}

/** A snapshot written for the slot `at` (its stream's latest snapshot if it is the latest). */
export function checkSnapshotWrite(at: RecordPlace, bytes: Uint8Array, maxBytes: number): void {
  const key = snapKey(at.run, at.stream)
  checkSize('snapshot', key, bytes, maxBytes)
  let slot: number
  try {
    slot = decodeSnapshot(codec, bytes, at.run, at.stream).slot
  } catch (err) {
    throw refused('snapshot', key, reasonOf(err, 'a snapshot'), err)
  }
  if (slot !== at.slot) throw refused('snapshot', key, `it names slot ${slot}, not slot ${at.slot}`)
  // Stores compare snapshots by their leading bytes: they must be encoded as RepJS encodes them.
  const prefix = snapshotPrefix(codec, at.run, at.stream, at.slot)
  if (!prefix.every((b, i) => bytes[i] === b)) throw refused('snapshot', key, 'its run, stream and slot are not encoded canonically')
}
