/**
 * What a run stores, as data: one slot's record and the run record (meta).
 *
 *   record := [version=2, run, stream, slot, kind, name, argsHash, site, by, ok, outcome]
 *
 * `outcome` is the value when ok, else the error (as the codec's ERROR node). A record names the
 * place it is stored at (run, stream, slot), and every reader checks it against the place it read
 * it from: a record read at slot k that names another place is REPJS_CORRUPT, never a value (a
 * record moved, copied or delivered for the wrong slot by a store, a gateway or a hand).
 *
 * A vote names its place and its voter the same way:
 *
 *   vote := [version=1, run, stream, slot, voter, value]
 *
 * Runs created before records named their place (run record `format: 1`) hold version-1 records,
 * `[1, kind, name, argsHash, site, by, ok, outcome]`; they are read only in such runs.
 */
import { fromWire, toWire, type Codec } from './codec.js'
import { corruptError as corrupt, ErrorCodes, RepJSError, type CallIdentity } from './errors.js'
import { metaKey, slotKey, votePrefix } from './keys.js'

export interface SlotRecord extends CallIdentity {
  /** The slot it was read from (set by the engine). */
  slot?: number
  by: string
  ok: boolean
  value: unknown
}

/** Where a record is stored. */
export interface RecordPlace {
  run: string
  stream: string
  slot: number
}

export const RECORD_VERSION = 2
/** The run record's format: 2 since records name their place; 1 before. */
export const META_FORMAT = 2
/** Runs of a format below this one hold version-1 records, which do not name their place. */
export const PLACED_FORMAT = 2

/** The key a record is stored at (core/keys.ts), as error messages show it. */
export function placeKey(at: RecordPlace): string {
  return slotKey(at.run, at.stream, at.slot)
}

function describePlace(run: unknown, stream: unknown, slot: unknown): string {
  return `run '${String(run)}' stream '${String(stream)}' slot ${String(slot)}`
}

export function encodeRecord(codec: Codec, at: RecordPlace, r: SlotRecord): Uint8Array {
  return codec.format.encode([RECORD_VERSION, at.run, at.stream, at.slot, r.kind, r.name, r.argsHash, r.site, r.by, r.ok, toWire(r.value)])
}

export interface DecodeRecordOptions {
  /** Accept version-1 records, which do not name their place (runs of meta format 1 only). */
  legacy?: boolean
}

/**
 * Decode the record read at `at`. Throws REPJS_CORRUPT if the bytes are not a record or the
 * record names another run, stream or slot.
 */
export function decodeRecord(codec: Codec, bytes: Uint8Array, at: RecordPlace, opts: DecodeRecordOptions = {}): SlotRecord {
  // The key is named only in errors: not built for every record read.
  const bad = (cause: unknown) => corrupt(placeKey(at), cause)
  let tree: unknown
  try {
    tree = codec.format.decode(bytes)
  } catch (cause) {
    throw bad(cause)
  }
  if (!Array.isArray(tree)) throw bad(new Error('not a slot record'))
  let f: number // index of the fields after the place (kind, name, argsHash, site, by, ok, outcome)
  if (tree.length === 11 && tree[0] === RECORD_VERSION) {
    const run: unknown = tree[1], stream: unknown = tree[2], slot: unknown = tree[3]
    if (run !== at.run || stream !== at.stream || slot !== at.slot) throw misplaced(placeKey(at), at, run, stream, slot)
    f = 4
  } else if (tree.length === 8 && tree[0] === 1 && opts.legacy) {
    f = 1
  } else if (tree.length === 8 && tree[0] === 1) {
    throw bad(new Error('a version-1 slot record (it does not name its slot) in a run created for version-2 records'))
  } else {
    throw bad(new Error('not a slot record'))
  }
  const kind: unknown = tree[f], name: unknown = tree[f + 1], argsHash: unknown = tree[f + 2], site: unknown = tree[f + 3], by: unknown = tree[f + 4], ok: unknown = tree[f + 5]
  if (typeof kind !== 'string' || typeof name !== 'string' || typeof argsHash !== 'string' || typeof site !== 'string' || typeof by !== 'string' || typeof ok !== 'boolean') {
    throw bad(new Error('bad slot record fields'))
  }
  let value: unknown
  try {
    value = fromWire(tree[f + 6])
  } catch (cause) {
    throw bad(cause)
  }
  return { kind, name, argsHash, site, by, ok, value }
}

function misplaced(key: string, at: RecordPlace, run: unknown, stream: unknown, slot: unknown): RepJSError {
  return new RepJSError(
    ErrorCodes.CORRUPT,
    `The record read at ${key} names ${describePlace(run, stream, slot)}, not ${describePlace(at.run, at.stream, at.slot)}: ` +
      `it was stored or delivered for another place, and was not used. A store, gateway or hand put it there: ` +
      `inspect the key with etcdctl (repjs log), or start a new run id.`,
    { details: { key, expected: { ...at }, found: { run, stream, slot } } },
  )
}

export function encodeVote(codec: Codec, at: RecordPlace, voter: string, value: unknown): Uint8Array {
  return codec.format.encode([1, at.run, at.stream, at.slot, voter, toWire(value)])
}

/** Decode a vote read for `at`. Throws REPJS_CORRUPT if it is not a vote or names another place. */
export function decodeVote(codec: Codec, bytes: Uint8Array, at: RecordPlace): { voter: string; value: unknown } {
  const key = votePrefix(at.run, at.stream, at.slot)
  let tree: unknown
  try {
    tree = codec.format.decode(bytes)
  } catch (cause) {
    throw corrupt(key, cause)
  }
  if (!Array.isArray(tree) || tree.length !== 6 || tree[0] !== 1 || typeof tree[4] !== 'string') throw corrupt(key, new Error('not a vote'))
  const [, run, stream, slot, voter, wire] = tree
  if (run !== at.run || stream !== at.stream || slot !== at.slot) throw misplaced(key, at, run, stream, slot)
  try {
    return { voter, value: fromWire(wire) }
  } catch (cause) {
    throw corrupt(key, cause)
  }
}

/**
 * The run record: which program created the run, its incarnation, the number of replicas, and the
 * run's agreed time zone and default locale (absent in runs created before RepJS recorded them).
 */
export interface RunMeta {
  format: number
  program: string
  incarnation: string
  replicas: number | null
  timeZone?: string
  locale?: string
}

/** Decode a run record. Throws REPJS_CORRUPT if malformed, REPJS_VERSION_MISMATCH for a newer format. */
export function decodeMeta(codec: Codec, bytes: Uint8Array, run: string): RunMeta {
  const key = metaKey(run)
  const m = codec.decode(bytes, key) as Partial<RunMeta> | null
  if (typeof m !== 'object' || m === null || typeof m.format !== 'number') throw corrupt(key, new Error('not a run record'))
  if (m.format > META_FORMAT) {
    throw new RepJSError(
      ErrorCodes.VERSION_MISMATCH,
      `Run '${run}' was created by a newer RepJS (run record format ${m.format}; this one reads up to ${META_FORMAT}): upgrade RepJS on this replica.`,
      { details: { run, format: m.format } },
    )
  }
  const replicasOk = m.replicas === null || (Number.isInteger(m.replicas) && (m.replicas as number) >= 1)
  const optional = (v: unknown) => v === undefined || typeof v === 'string'
  if (m.format < 1 || !Number.isInteger(m.format) || typeof m.program !== 'string' || typeof m.incarnation !== 'string' || !replicasOk || !optional(m.timeZone) || !optional(m.locale)) {
    throw corrupt(key, new Error('bad run record fields'))
  }
  return {
    format: m.format, program: m.program, incarnation: m.incarnation, replicas: m.replicas as number | null,
    ...(m.timeZone !== undefined ? { timeZone: m.timeZone } : {}), ...(m.locale !== undefined ? { locale: m.locale } : {}),
  }
}
