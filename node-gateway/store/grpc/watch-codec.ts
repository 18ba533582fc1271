/**
 * etcd's Watch messages by hand (pb-writer.ts / pb-reader.ts): the WatchCreateRequest a lean watch
 * opens with, and each WatchResponse decoded straight into the Transport's shapes (transport.ts:
 * int64 as strings, events' key-values as etcd3's IKeyValue). Hand-written for the same reason as
 * txn-codec.ts: a leader's watch sees its own writes come back, one response per agreed call, and
 * protobufjs's decode + Long conversions were most of its cost. Checked against protobufjs in
 * test/unit/pb-codec.test.ts.
 */
import type { WatchEvent, WatchRequest, WatchResponse } from '../transport.js'
import { PbReader } from './pb-reader.js'
import { readHeader, readKeyValue } from './txn-codec.js'
import { writer } from './pb-writer.js'

const asBuffer = (v: Buffer | string): Buffer => (typeof v === 'string' ? Buffer.from(v) : v)

/** A WatchRequest with its create_request (string keys are UTF-8 here, as etcd3's watch builder). */
export function encodeWatchCreate(req: WatchRequest): Buffer {
  const w = writer()
  const at = w.begin(1)
  w.bytesField(1, asBuffer(req.key))
  if (req.range_end !== undefined) w.bytesField(2, asBuffer(req.range_end))
  if (req.start_revision !== undefined) w.int64Field(3, String(req.start_revision))
  if (req.progress_notify) w.varintField(4, 1)
  if (req.prev_kv) w.varintField(6, 1)
  w.end(at)
  return w.finish()
}

const EMPTY: Buffer = Buffer.alloc(0)

function readEvent(r: PbReader): WatchEvent {
  let type = 0
  let kv: WatchEvent['kv'] | undefined
  let prev: WatchEvent['kv'] | undefined
  while (r.more()) {
    const tag = r.tag()
    if (tag === 8) type = r.uint32()
    else if (tag === 18) kv = readKeyValue(r.nested())
    else if (tag === 26) prev = readKeyValue(r.nested())
    else r.skip(tag)
  }
  const ev: WatchEvent = {
    type: type === 1 ? 'Delete' : 'Put',
    kv: kv ?? { key: EMPTY, create_revision: '0', mod_revision: '0', version: '0', value: EMPTY, lease: '0' },
  }
  if (prev) ev.prev_kv = prev
  return ev
}

/** A WatchResponse in the Transport's shape (absent header: zeros; absent kv: an empty one). */
export function decodeWatchResponse(bytes: Uint8Array): WatchResponse {
  const r = new PbReader(bytes)
  const res: WatchResponse = {
    header: { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' },
    watch_id: '0',
    created: false,
    canceled: false,
    compact_revision: '0',
    cancel_reason: '',
    fragment: false,
    events: [],
  }
  while (r.more()) {
    const tag = r.tag()
    if (tag === 10) res.header = readHeader(r.nested())
    else if (tag === 16) res.watch_id = r.int64()
    else if (tag === 24) res.created = r.bool()
    else if (tag === 32) res.canceled = r.bool()
    else if (tag === 40) res.compact_revision = r.int64()
    else if (tag === 50) res.cancel_reason = r.string()
    else if (tag === 56) res.fragment = r.bool()
    else if (tag === 90) res.events.push(readEvent(r.nested()))
    else r.skip(tag)
  }
  return res
}
