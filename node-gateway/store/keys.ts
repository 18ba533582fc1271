/**
 * The etcd key layout is core's (core/keys.ts, the one module that names keys); this adds what
 * only the etcd store needs: the end of a prefix range as bytes.
 */
export * from '../../core/keys.js'

/** The end of the range of keys starting with `prefix` (etcd's range_end). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix)
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = b.subarray(0, i + 1)
      out[i]!++
      return out
    }
  }
  return Buffer.from([0])
}
