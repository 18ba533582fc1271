/** A range read decoded to what the log's catch-up read needs: keys, values, the revision, `more`. */
import protobuf from 'protobufjs'

/** One page of a range read with only keys, values, the revision and `more`. */
export interface RangePage {
  revision: string
  more: boolean
  kvs: Array<{ key: Buffer; value: Buffer }>
}

const EMPTY: Buffer = Buffer.alloc(0)

/**
 * A RangeResponse read field by field into a RangePage: each KeyValue's key and value, the header's
 * revision and `more`; the int64 fields of every KeyValue are skipped, not converted (converting
 * them to strings was the largest cost of replaying a long log).
 */
export function decodeRangePage(buf: Uint8Array): RangePage {
  const r = protobuf.Reader.create(buf)
  const page: RangePage = { revision: '0', more: false, kvs: [] }
  while (r.pos < r.len) {
    const tag = r.uint32()
    const field = tag >>> 3
    if (field === 1 || field === 2) {
      const end = r.uint32() + r.pos
      let key = EMPTY
      let value = EMPTY
      while (r.pos < end) {
        const t = r.uint32()
        const f = t >>> 3
        if (field === 1 && f === 3) page.revision = r.int64().toString()
        else if (field === 2 && f === 1) key = r.bytes() as Buffer
        else if (field === 2 && f === 5) value = r.bytes() as Buffer
        else r.skipType(t & 7)
      }
      if (field === 2) page.kvs.push({ key, value })
    } else if (field === 3) page.more = r.bool()
    else r.skipType(tag & 7)
  }
  return page
}
