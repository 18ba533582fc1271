/** A range read decoded to what the log's catch-up read needs: keys, values, the revision, `more`. */
import { PbReader } from './pb-reader.js'

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
  const r = new PbReader(buf)
  const page: RangePage = { revision: '0', more: false, kvs: [] }
  while (r.more()) {
    const tag = r.tag()
    if (tag === 10 || tag === 18) {
      const m = r.nested()
      let key = EMPTY
      let value = EMPTY
      while (m.more()) {
        const t = m.tag()
        if (tag === 10 && t === 24) page.revision = m.int64()
        else if (tag === 18 && t === 10) key = m.bytes()
        else if (tag === 18 && t === 42) value = m.bytes()
        else m.skip(t)
      }
      if (tag === 18) page.kvs.push({ key, value })
    } else if (tag === 24) page.more = r.bool()
    else r.skip(tag)
  }
  return page
}
