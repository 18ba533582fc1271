/**
 * A run's index entry, /repjs/runs/v1/<run>: written in the transaction that creates the run record,
 * outside the run's prefix and with no lease, so it outlives the run as its tombstone. Data (a CBOR
 * map through core's codec), never code:
 *
 *   { v: 1, incarnation, program, created (ms), ttlMs (ms | null), lease (etcd lease id | null),
 *     gone (ms the run was deleted | null), active (ms: last opened or stamped by a writer) }
 *
 * A run is live while its run record (meta) exists. An entry whose run record is absent says the run
 * existed: it was deleted (`gone` set) or expired (its lease ran out; `gone` stays null): opening
 * it fails with REPJS_RUN_GONE unless the open asks for a new run (`newRun`).
 */
import { createCodec } from '../../core/codec.js'
import { corruptError, ErrorCodes, RepJSError } from '../../core/errors.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { runIndexKey } from './keys.js'

export interface RunEntry {
  v: 1
  incarnation: string
  program: string
  created: number
  ttlMs: number | null
  lease: string | null
  gone: number | null
  active: number
}

const codec = createCodec(createCborFormat())

export function encodeRunEntry(e: RunEntry): Uint8Array {
  return codec.encode(e)
}

const isNum = (x: unknown) => typeof x === 'number' && Number.isFinite(x)
const numOrNull = (x: unknown) => x === null || isNum(x)

/** Decode an index entry; REPJS_CORRUPT if it is not one. */
export function decodeRunEntry(bytes: Uint8Array, run: string): RunEntry {
  const key = runIndexKey(run)
  const e = codec.decode(bytes, key) as Partial<RunEntry> | null
  const ok =
    typeof e === 'object' && e !== null && e.v === 1 && typeof e.incarnation === 'string' && typeof e.program === 'string' &&
    isNum(e.created) && numOrNull(e.ttlMs) && (e.lease === null || typeof e.lease === 'string') && numOrNull(e.gone) && isNum(e.active)
  if (!ok) throw corruptError(key, new Error('not a run index entry'))
  return e as RunEntry
}

/** When a run whose run record is absent went: deleted at `gone`, or expired after its TTL of idleness. */
export function goneSince(e: RunEntry): string {
  if (e.gone !== null) return `was deleted at ${new Date(e.gone).toISOString()}`
  if (e.ttlMs === null) return 'was deleted (its keys were removed without repjs runs rm, at a time not recorded)'
  const at = e.ttlMs !== null ? `about ${new Date(e.active + e.ttlMs).toISOString()}` : 'an unknown time'
  return `expired (idle for its TTL of ${e.ttlMs ?? '?'} ms) at ${at}`
}

/** REPJS_RUN_GONE for a run that existed (its tombstone `e`) and is deleted, expired or being deleted. */
export function runGoneError(run: string, e: RunEntry, beingDeleted = false): RepJSError {
  const what = beingDeleted ? `is being deleted (since ${new Date(e.gone!).toISOString()}); once it is,` : goneSince(e) + '.'
  return new RepJSError(
    ErrorCodes.RUN_GONE,
    `Run '${run}' ${what} Start it again explicitly with --new (repjs run) or { newRun: true } (connect), ` +
      `which creates a new incarnation with an empty log, or use another run id.`,
    { details: { run, incarnation: e.incarnation, gone: e.gone, ttlMs: e.ttlMs } },
  )
}
