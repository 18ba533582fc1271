/**
 * The hand-written protobuf codec of the lean transport (store/grpc/txn-codec.ts and friends)
 * against protobufjs with the same schema (test/helpers/pb-schema.ts) as the oracle: random requests must
 * encode to the very bytes protobufjs writes from the same etcd3-shaped object, and random
 * responses (with unknown fields mixed in) must decode to what protobufjs's toObject gives with
 * etcd3's options. Plus fixed vectors: varints at their size boundaries, negative int64s.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  AS_ETCD3, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseRevokeRequest, LeaseTimeToLiveResponse, RangeRequest, RangeResponse,
  TxnRequest, TxnResponse, WatchRequest, WatchResponse,
} from '../helpers/pb-schema.js'
import { decodeLeaseAnswer, encodeLeaseGrant, encodeLeaseId } from '../../node-gateway/store/grpc/lease-codec.js'
import { decodeRangePage } from '../../node-gateway/store/grpc/range-page.js'
import { decodeWatchResponse, encodeWatchCreate } from '../../node-gateway/store/grpc/watch-codec.js'
import { decodeRangeResponse, decodeTxnResponse, encodeRangeRequest, encodeTxnRequest } from '../../node-gateway/store/grpc/txn-codec.js'
import { PbReader } from '../../node-gateway/store/grpc/pb-reader.js'
import { writer } from '../../node-gateway/store/grpc/pb-writer.js'

const RUNS = 400

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))
/** Bytes as etcd3 accepts them: a Buffer, or a string protobufjs reads as base64; sometimes large (multi-byte lengths). */
const bytesIn = fc.oneof(bytes, bytes.map((b) => b.toString('base64')), fc.integer({ min: 120, max: 20000 }).map((n) => Buffer.alloc(n, 7)))
const i64big = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n })
/** int64 as etcd3 accepts it: a decimal string or a number (safe integers, and beyond). */
const int64In = fc.oneof(i64big.map(String), fc.integer({ min: -1000, max: 1000 }), fc.maxSafeInteger(), fc.integer({ min: 0, max: 0xffffffff }))
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })
const en = (names: string[]) => fc.oneof(fc.constantFrom(...names), fc.integer({ min: 0, max: names.length - 1 }))

const compare = fc.record(
  {
    result: en(['Equal', 'Greater', 'Less', 'NotEqual']), target: en(['Version', 'Create', 'Mod', 'Value', 'Lease']), key: bytesIn,
    version: int64In, create_revision: int64In, mod_revision: int64In, value: bytesIn, lease: int64In, range_end: bytesIn,
  },
  { requiredKeys: [] },
)
const range = fc.record(
  {
    key: bytesIn, range_end: bytesIn, limit: int64In, revision: int64In, sort_order: en(['None', 'Ascend', 'Descend']),
    sort_target: en(['Key', 'Version', 'Create', 'Mod', 'Value']), serializable: fc.boolean(), keys_only: fc.boolean(), count_only: fc.boolean(),
    min_mod_revision: int64In, max_mod_revision: int64In, min_create_revision: int64In, max_create_revision: int64In,
  },
  { requiredKeys: [] },
)
const put = fc.record({ key: bytesIn, value: bytesIn, lease: int64In, prev_kv: fc.boolean(), ignore_value: fc.boolean(), ignore_lease: fc.boolean() }, { requiredKeys: [] })
const del = fc.record({ key: bytesIn, range_end: bytesIn, prev_kv: fc.boolean() }, { requiredKeys: [] })
const op = (txn?: fc.Arbitrary<unknown>) =>
  fc.oneof(
    fc.record({ request_range: range }), fc.record({ request_put: put }), fc.record({ request_delete_range: del }),
    ...(txn ? [fc.record({ request_txn: txn })] : []),
  )
const txnOf = (o: fc.Arbitrary<unknown>) =>
  fc.record({ compare: fc.array(compare, { maxLength: 3 }), success: fc.array(o, { maxLength: 3 }), failure: fc.array(o, { maxLength: 3 }) }, { requiredKeys: [] })
const txnReq = txnOf(op(txnOf(op())))

describe('requests: the bytes protobufjs writes', () => {
  test('TxnRequest', () => {
    fc.assert(
      fc.property(txnReq, (req) => {
        expect(hex(encodeTxnRequest(req as never))).toBe(hex(TxnRequest.encode(TxnRequest.fromObject(req)).finish()))
      }),
      { numRuns: RUNS },
    )
  })
  test('RangeRequest', () => {
    fc.assert(
      fc.property(range, (req) => {
        expect(hex(encodeRangeRequest(req as never))).toBe(hex(RangeRequest.encode(RangeRequest.fromObject(req)).finish()))
      }),
      { numRuns: RUNS },
    )
  })
  test("the store's proposal Txn", () => {
    const key = Buffer.from('/repjs/v1/r/s/main/000000000042')
    const req = {
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }, { key: Buffer.from('snap'), target: 'Value', result: 'Less', value: Buffer.from('x') }],
      success: [{ request_put: { key, value: Buffer.alloc(300, 1), lease: '7587866666666666666' } }],
      failure: [{ request_range: { key } }, { request_range: { key: Buffer.from('snap'), count_only: true } }],
    }
    expect(hex(encodeTxnRequest(req as never))).toBe(hex(TxnRequest.encode(TxnRequest.fromObject(req)).finish()))
  })
})

// ---- responses ----
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String)
const header = fc.record({ cluster_id: u64, member_id: u64, revision: i64big.map(String), raft_term: u64 }, { requiredKeys: [] })
const kv = fc.record({ key: bytes, create_revision: i64big.map(String), mod_revision: int64In, version: int64In, value: bytes, lease: int64In }, { requiredKeys: [] })
const rangeRes = fc.record({ header, kvs: fc.array(kv, { maxLength: 3 }), more: fc.boolean(), count: int64In }, { requiredKeys: [] })
const resOp = (txn?: fc.Arbitrary<unknown>) =>
  fc.oneof(
    fc.record({ response_range: rangeRes }),
    fc.record({ response_put: fc.record({ header, prev_kv: kv }, { requiredKeys: [] }) }),
    fc.record({ response_delete_range: fc.record({ header, deleted: int64In, prev_kvs: fc.array(kv, { maxLength: 2 }) }, { requiredKeys: [] }) }),
    ...(txn ? [fc.record({ response_txn: txn })] : []),
    fc.constant({}),
  )
const txnResOf = (o: fc.Arbitrary<unknown>) => fc.record({ header, succeeded: fc.boolean(), responses: fc.array(o, { maxLength: 3 }) }, { requiredKeys: [] })
const txnRes = txnResOf(resOp(txnResOf(resOp())))

/** Unknown fields (numbers etcd does not use here), of every wire type, to append to a message. */
const unknown = fc.array(
  fc.oneof(
    fc.tuple(fc.integer({ min: 100, max: 2000 }), fc.nat()).map(([no, v]) => { const w = writer(); w.varintField(no, v); return w.finish() }),
    fc.tuple(fc.integer({ min: 100, max: 2000 }), bytes).map(([no, v]) => { const w = writer(); w.bytesField(no, v); return w.finish() }),
    fc.integer({ min: 100, max: 2000 }).map((no) => { const w = writer(); w.varint((no << 3) | 1); w.raw(Buffer.alloc(8, 9)); return w.finish() }),
    fc.integer({ min: 100, max: 2000 }).map((no) => { const w = writer(); w.varint((no << 3) | 5); w.raw(Buffer.alloc(4, 9)); return w.finish() }),
  ),
  { maxLength: 3 },
).map((parts) => Buffer.concat(parts))

describe('responses: what protobufjs decodes with etcd3 options', () => {
  test('TxnResponse', () => {
    fc.assert(
      fc.property(txnRes, unknown, (res, extra) => {
        const b = Buffer.concat([extra, TxnResponse.encode(TxnResponse.fromObject(res)).finish(), extra])
        expect(decodeTxnResponse(b)).toEqual(TxnResponse.toObject(TxnResponse.decode(b), AS_ETCD3))
      }),
      { numRuns: RUNS },
    )
  })
  test('RangeResponse', () => {
    fc.assert(
      fc.property(rangeRes, unknown, (res, extra) => {
        const b = Buffer.concat([TxnResponse.encode(RangeResponse.fromObject(res)).finish(), extra])
        expect(decodeRangeResponse(b)).toEqual(RangeResponse.toObject(RangeResponse.decode(b), AS_ETCD3))
      }),
      { numRuns: RUNS },
    )
  })
  test('RangePage: keys, values, revision, more', () => {
    fc.assert(
      fc.property(rangeRes, unknown, (res, extra) => {
        const b = Buffer.concat([RangeResponse.encode(RangeResponse.fromObject(res)).finish(), extra])
        const o = RangeResponse.toObject(RangeResponse.decode(b), AS_ETCD3)
        expect(decodeRangePage(b)).toEqual({ revision: o.header?.revision ?? '0', more: o.more, kvs: o.kvs.map((k: { key: Buffer; value: Buffer }) => ({ key: k.key, value: k.value })) })
      }),
      { numRuns: RUNS },
    )
  })
  test('WatchResponse, in the Transport shape', () => {
    const event = fc.record({ type: fc.integer({ min: 0, max: 1 }), kv, prev_kv: kv }, { requiredKeys: [] })
    const watchRes = fc.record(
      { header, watch_id: int64In, created: fc.boolean(), canceled: fc.boolean(), compact_revision: int64In, cancel_reason: fc.string(), fragment: fc.boolean(), events: fc.array(event, { maxLength: 3 }) },
      { requiredKeys: [] },
    )
    const zero = { key: Buffer.alloc(0), create_revision: '0', mod_revision: '0', version: '0', value: Buffer.alloc(0), lease: '0' }
    fc.assert(
      fc.property(watchRes, unknown, (res, extra) => {
        const b = Buffer.concat([WatchResponse.encode(WatchResponse.fromObject(res)).finish(), extra])
        const o = WatchResponse.toObject(WatchResponse.decode(b), AS_ETCD3)
        const events = o.events.map((e: { type: string; kv: unknown; prev_kv: unknown }) => ({ type: e.type, kv: e.kv ?? zero, ...(e.prev_kv ? { prev_kv: e.prev_kv } : {}) }))
        expect(decodeWatchResponse(b)).toEqual({ ...o, header: o.header ?? { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' }, events })
      }),
      { numRuns: RUNS },
    )
  })
  test('WatchCreateRequest', () => {
    const req = fc.record({ key: fc.oneof(bytes, fc.string()), range_end: fc.oneof(bytes, fc.string()), start_revision: fc.oneof(fc.nat(), i64big), progress_notify: fc.boolean(), prev_kv: fc.boolean() }, { requiredKeys: ['key'] })
    fc.assert(
      fc.property(req, (r) => {
        const create: Record<string, unknown> = { key: Buffer.from(r.key) }
        if (r.range_end !== undefined) create.range_end = Buffer.from(r.range_end)
        if (r.start_revision !== undefined) create.start_revision = String(r.start_revision)
        if (r.progress_notify) create.progress_notify = true
        if (r.prev_kv) create.prev_kv = true
        expect(hex(encodeWatchCreate(r))).toBe(hex(WatchRequest.encode(WatchRequest.fromObject({ create_request: create })).finish()))
      }),
      { numRuns: RUNS },
    )
  })
  test('Lease responses: ID, TTL, grantedTTL', () => {
    const lease = fc.record({ header, ID: i64big.map(String), TTL: int64In, grantedTTL: int64In, keys: fc.array(bytes, { maxLength: 2 }), error: fc.string() }, { requiredKeys: [] })
    fc.assert(
      fc.property(lease, unknown, (res, extra) => {
        for (const T of [LeaseGrantResponse, LeaseKeepAliveResponse, LeaseTimeToLiveResponse]) {
          const b = Buffer.concat([T.encode(T.fromObject(res)).finish(), extra])
          const o = T.toObject(T.decode(b), AS_ETCD3)
          expect(decodeLeaseAnswer(b)).toEqual({ ID: o.ID, TTL: o.TTL, grantedTTL: o.grantedTTL ?? '0' })
        }
      }),
      { numRuns: 200 },
    )
  })
  test('a truncated message is an error, not a wrong answer', () => {
    const b = RangeResponse.encode(RangeResponse.fromObject({ kvs: [{ key: Buffer.from('abc'), value: Buffer.alloc(50) }] })).finish()
    expect(() => decodeRangeResponse(b.subarray(0, b.length - 3))).toThrow(RangeError)
  })
})

test('Lease requests', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1e9 }), i64big.map(String), (ttl, id) => {
      expect(hex(encodeLeaseGrant(ttl))).toBe(hex(LeaseGrantRequest.encode(LeaseGrantRequest.fromObject({ TTL: ttl })).finish()))
      expect(hex(encodeLeaseId(id))).toBe(hex(LeaseRevokeRequest.encode(LeaseRevokeRequest.fromObject({ ID: id })).finish()))
    }),
    { numRuns: 200 },
  )
})

test('varints and int64s at their boundaries', () => {
  for (const v of ['0', '1', '127', '128', '16383', '16384', '2147483647', '2147483648', '4294967295', '4294967296', '9007199254740991', '9007199254740993', '9223372036854775807', '-1', '-9223372036854775808']) {
    const w = writer()
    w.int64Field(1, v)
    const b = w.finish()
    expect(hex(b), v).toBe(hex(RangeRequest.encode(RangeRequest.fromObject({ limit: v })).finish()).replace(/^18/, '08'))
    const r = new PbReader(b)
    r.tag()
    expect(r.int64()).toBe(v)
  }
})
