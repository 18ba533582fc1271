/** The compares and operations EtcdStore's transactions are made of (etcd3's request shapes). */
import type { ICompare, IRequestOp } from 'etcd3'
import { prefixEnd } from './keys.js'

/** A key as bytes (a key already in bytes, e.g. used by several ops of one Txn, as it is). */
export const b = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s) : s)
/** A stored value as bytes, without a copy. */
export const bytes = (v: Buffer): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength)

export const absent = (key: string | Buffer): ICompare => ({ key: b(key), target: 'Create', result: 'Equal', create_revision: 0 })
export const createdAt = (key: string | Buffer, rev: string): ICompare => ({ key: b(key), target: 'Create', result: 'Equal', create_revision: rev })
export const modifiedAt = (key: string | Buffer, rev: string): ICompare => ({ key: b(key), target: 'Mod', result: 'Equal', mod_revision: rev })
export const holds = (key: string | Buffer, token: string): ICompare => ({ key: b(key), target: 'Value', result: 'Equal', value: b(token) })
export const valueBelow = (key: string | Buffer, bound: Uint8Array): ICompare => ({ key: b(key), target: 'Value', result: 'Less', value: Buffer.from(bound) })

export const get = (key: string | Buffer): IRequestOp => ({ request_range: { key: b(key) } })
export const countOf = (key: string | Buffer): IRequestOp => ({ request_range: { key: b(key), count_only: true } })
export const del = (key: string | Buffer): IRequestOp => ({ request_delete_range: { key: b(key) } })
export const delPrefix = (prefix: string): IRequestOp => ({ request_delete_range: { key: b(prefix), range_end: prefixEnd(prefix) } })
export const put = (key: string | Buffer, value: Uint8Array, lease?: string): IRequestOp => ({
  request_put: { key: b(key), value: Buffer.from(value.buffer, value.byteOffset, value.byteLength), lease },
})
