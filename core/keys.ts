/**
 * The etcd key layout: the one module that names keys (the etcd store, the gateway, error messages
 * and tools all build them here). Everything of a run is under /repjs/v1/<run>/:
 *   meta                          run record: program id, incarnation, replicas (created once)
 *   s/<stream>/<slot:12 digits>   decided slot records (the log), ordered by key
 *   v/<stream>/<slot>/<voter>     votes of a pending vote slot (deleted when it is decided)
 *   l/<stream>/<slot>             run-once lock, attached to the holder's lease
 *   m/<stream>/<slot>             run-once "started" marker (deleted when the outcome is recorded)
 *   snap/<stream>                 latest snapshot of a stream: [1, run, stream, slot, state] (snapshot.ts)
 *   p/<replicaId>                 presence (presence.ts): lease-bound CBOR map
 *                                 {v:1, replica, name, runtime, status, slot, head, at}
 * Slots are 12 decimal digits wherever they appear. Outside the run's prefix, so it outlives the
 * run (node-gateway/store/run-entry.ts):
 *   /repjs/runs/v1/<run>          run index entry / tombstone: CBOR map {v:1, incarnation, program,
 *                                 created, ttlMs, lease, gone, active} (no lease of its own)
 * The layout is stored data: existing runs are read with it, so it never changes within v1.
 */
export const ROOT = '/repjs/v1/'
const SLOT_DIGITS = 12
/** Slots are keys of 12 decimal digits: higher slot numbers cannot be stored in order. */
export const MAX_SLOT = 10 ** SLOT_DIGITS - 1

/** A slot as it appears in keys: 12 digits, zero-padded, so keys sort in slot order. */
export function pad(slot: number): string {
  return String(slot).padStart(SLOT_DIGITS, '0')
}

/** Where the run index entries (tombstones) live. */
export const RUNS_ROOT = '/repjs/runs/v1/'
export function runIndexKey(run: string): string {
  return RUNS_ROOT + run
}

export function runPrefix(run: string): string {
  return `${ROOT}${run}/`
}
export function metaKey(run: string): string {
  return `${runPrefix(run)}meta`
}
export function slotPrefix(run: string, stream: string): string {
  return `${runPrefix(run)}s/${stream}/`
}
export function slotKey(run: string, stream: string, slot: number): string {
  return slotPrefix(run, stream) + pad(slot)
}
export function votePrefix(run: string, stream: string, slot: number): string {
  return `${runPrefix(run)}v/${stream}/${pad(slot)}/`
}
export function lockKey(run: string, stream: string, slot: number): string {
  return `${runPrefix(run)}l/${stream}/${pad(slot)}`
}
export function markerKey(run: string, stream: string, slot: number): string {
  return `${runPrefix(run)}m/${stream}/${pad(slot)}`
}

export function snapKey(run: string, stream: string): string {
  return `${runPrefix(run)}snap/${stream}`
}
export function presencePrefix(run: string): string {
  return `${runPrefix(run)}p/`
}
export function presenceKey(run: string, replica: string): string {
  return presencePrefix(run) + replica
}

/** The slot number of a slot key, or -1 if it is not one. */
export function slotOf(key: string): number {
  const tail = key.slice(key.lastIndexOf('/') + 1)
  return tail.length === SLOT_DIGITS && /^\d+$/.test(tail) ? Number(tail) : -1
}
