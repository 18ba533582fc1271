/**
 * One slot's record: what was called, where, by whom, and the agreed outcome.
 *   record := [version=1, kind, name, argsHash, site, by, ok, outcome]
 * `outcome` is the value when ok, else the error (as the codec's ERROR node).
 */
import { fromWire, toWire, type Codec } from './codec.js'
import { corruptError as corrupt, type CallIdentity } from './errors.js'

export interface SlotRecord extends CallIdentity {
  /** The slot it was read from (set by the engine). */
  slot?: number
  by: string
  ok: boolean
  value: unknown
}

export function encodeRecord(codec: Codec, r: SlotRecord): Uint8Array {
  return codec.format.encode([1, r.kind, r.name, r.argsHash, r.site, r.by, r.ok, toWire(r.value)])
}

export function decodeRecord(codec: Codec, bytes: Uint8Array, key: string): SlotRecord {
  let tree: unknown
  try {
    tree = codec.format.decode(bytes)
  } catch (cause) {
    throw corrupt(key, cause)
  }
  if (!Array.isArray(tree) || tree.length !== 8 || tree[0] !== 1) throw corrupt(key, new Error('not a slot record'))
  const [, kind, name, argsHash, site, by, ok, outcome] = tree
  if (typeof kind !== 'string' || typeof name !== 'string' || typeof argsHash !== 'string' || typeof site !== 'string' || typeof by !== 'string' || typeof ok !== 'boolean') {
    throw corrupt(key, new Error('bad slot record fields'))
  }
  let value: unknown
  try {
    value = fromWire(outcome)
  } catch (cause) {
    throw corrupt(key, cause)
  }
  return { kind, name, argsHash, site, by, ok, value }
}

