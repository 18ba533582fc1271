/**
 * The proposal's hand-written Txn (grpc/propose-txn.ts) against the generic encoder it stands in
 * for: the very bytes encodeTxnRequest writes for the same compares and ops (which pb-codec.test.ts
 * holds to protobufjs's), for every shape EtcdStore.propose sends; and `succeeded` read as the whole
 * decode reads it, with other fields and unknown ones around it.
 */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { encodeProposeTxn, txnSucceeded } from '../../node-gateway/store/grpc/propose-txn.js'
import { writer } from '../../node-gateway/store/grpc/pb-writer.js'
import { decodeTxnResponse, encodeTxnRequest } from '../../node-gateway/store/grpc/txn-codec.js'
import { absent, countOf, createdAt, get, put, valueBelow } from '../../node-gateway/store/txn-ops.js'
import { TxnResponse } from '../helpers/pb-schema.js'

const buf = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a))
/** Sometimes large: lengths of one, two and three varint bytes. */
const record = fc.oneof(buf(100), fc.integer({ min: 120, max: 40_000 }).map((n) => Buffer.alloc(n, 5)))
const decimal = fc.oneof(fc.integer({ min: 1, max: 0xffffffff }), fc.maxSafeInteger()).map(String)

test('the proposal Txn is the generic encoder\'s bytes for the same compares and ops', () => {
  fc.assert(
    fc.property(buf(60), record, fc.option(decimal, { nil: undefined }), buf(60), fc.option(buf(30), { nil: undefined }), fc.option(fc.record({ key: buf(60), createRevision: decimal }), { nil: undefined }), (key, rec, lease, snapKey, snapBelow, meta) => {
      const compare = [absent(key), snapBelow ? valueBelow(snapKey, snapBelow) : absent(snapKey), ...(meta ? [createdAt(meta.key, meta.createRevision)] : [])]
      const failure = [get(key), countOf(snapKey), ...(meta ? [get(meta.key)] : [])]
      const generic = encodeTxnRequest({ compare, success: [put(key, rec, lease)], failure })
      expect(encodeProposeTxn({ key, record: rec, lease, snapKey, snapBelow, meta }).equals(generic)).toBe(true)
    }),
    { numRuns: 300 },
  )
})

test('succeeded is read as the whole decode reads it', () => {
  const unknown = fc.array(fc.tuple(fc.integer({ min: 100, max: 2000 }), buf(20)).map(([no, v]) => { const w = writer(); w.bytesField(no, v); return w.finish() }), { maxLength: 3 }).map((parts) => Buffer.concat(parts))
  const kv = fc.record({ key: buf(20), value: buf(40), create_revision: decimal })
  const response = fc.record({ header: fc.record({ revision: decimal }), succeeded: fc.boolean(), responses: fc.array(fc.record({ response_range: fc.record({ kvs: fc.array(kv, { maxLength: 2 }), count: decimal }) }), { maxLength: 3 }) }, { requiredKeys: [] })
  fc.assert(
    fc.property(response, unknown, (res, extra) => {
      const b = Buffer.concat([extra, TxnResponse.encode(TxnResponse.fromObject(res)).finish(), extra])
      expect(txnSucceeded(b)).toBe(decodeTxnResponse(b).succeeded)
    }),
    { numRuns: 300 },
  )
})
