/**
 * The proposal's Txn (EtcdStore.propose, the one write of every agreed call) written straight to
 * protobuf, and its answer read only as far as `succeeded`: the shape never changes, so the generic
 * path (etcd3-shaped objects for each compare and op, walked field by field by txn-codec.ts, and a
 * response decoded whole with int64 strings for every header) is work a fresh process pays per call
 * and V8 compiles (issue 14). The bytes are the generic encoder's for the same ops
 * (test/unit/propose-txn.test.ts); a lost proposal's answer is decoded by txn-codec.ts as before.
 *
 * TxnRequest: compare [key absent, the snapshot key's compare, the run record's create revision
 * (guarded)], success [put key = record (on the run's lease)], failure [get key, count of the
 * snapshot key, get the run record (guarded)]. Field numbers: etcd's rpc.proto.
 */
import { PbReader } from './pb-reader.js'
import { writer, type PbWriter } from './pb-writer.js'

export interface ProposeTxn {
  key: Uint8Array
  record: Uint8Array
  /** The run's lease (decimal), attached to the put; none if the run has no TTL. */
  lease: string | undefined
  snapKey: Uint8Array
  /** The snapshot compare: absent (undefined), or its value below this bound (a snapshot at or before the slot). */
  snapBelow: Uint8Array | undefined
  /** The guard: the run record's key and create revision (decimal), compared and read on failure. */
  meta: { key: Uint8Array; createRevision: string } | undefined
}

// Compare.result / Compare.target values (rpc.proto).
const EQUAL = 0
const LESS = 2
const CREATE = 1
const VALUE = 3

/** Compare { result, target, key, create_revision (CREATE) | value (VALUE) } as field 1 of the TxnRequest. */
function compare(w: PbWriter, result: number, target: number, key: Uint8Array, createRevision: string | undefined, value: Uint8Array | undefined): void {
  const at = w.begin(1)
  w.varintField(1, result)
  w.varintField(2, target)
  w.bytesField(3, key)
  if (createRevision !== undefined) w.int64Field(5, createRevision)
  if (value !== undefined) w.bytesField(7, value)
  w.end(at)
}

/** RequestOp { request_range: { key, count_only? } } as a failure op (field 3). */
function rangeOp(w: PbWriter, key: Uint8Array, countOnly: boolean): void {
  const op = w.begin(3)
  const range = w.begin(1)
  w.bytesField(1, key)
  if (countOnly) w.varintField(9, 1)
  w.end(range)
  w.end(op)
}

export function encodeProposeTxn(t: ProposeTxn): Buffer {
  const w = writer()
  compare(w, EQUAL, CREATE, t.key, '0', undefined)
  if (t.snapBelow) compare(w, LESS, VALUE, t.snapKey, undefined, t.snapBelow)
  else compare(w, EQUAL, CREATE, t.snapKey, '0', undefined)
  if (t.meta) compare(w, EQUAL, CREATE, t.meta.key, t.meta.createRevision, undefined)
  const op = w.begin(2)
  const put = w.begin(2)
  w.bytesField(1, t.key)
  w.bytesField(2, t.record)
  if (t.lease !== undefined) w.int64Field(3, t.lease)
  w.end(put)
  w.end(op)
  rangeOp(w, t.key, false)
  rangeOp(w, t.snapKey, true)
  if (t.meta) rangeOp(w, t.meta.key, false)
  return w.finish()
}

/** A TxnResponse's `succeeded` (field 2), the rest skipped unread. */
export function txnSucceeded(bytes: Uint8Array): boolean {
  const r = new PbReader(bytes)
  let succeeded = false
  while (r.more()) {
    const tag = r.tag()
    if (tag === 16) succeeded = r.bool()
    else r.skip(tag)
  }
  return succeeded
}
