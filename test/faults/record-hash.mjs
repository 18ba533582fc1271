// The hash of a decided slot record, the same in a replica process (what it was given) and in the
// checker (what etcd holds): sha1 of a canonical JSON of [kind, name, argsHash, by, ok, value].
import { createHash } from 'node:crypto'

function canonical(v) {
  if (v === null || v === undefined) return v ?? null
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v)
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') }
  if (v instanceof Error) return { error: v.name, code: v.code ?? null, message: v.message }
  if (Array.isArray(v)) return v.map(canonical)
  if (typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]))
  return v
}

/** @param {{kind: string, name: string, argsHash: string, by: string, ok: boolean, value: unknown}} rec */
export function recordHash(rec) {
  const json = JSON.stringify(canonical([rec.kind, rec.name, rec.argsHash, rec.by, rec.ok, rec.value]))
  return createHash('sha1').update(json).digest('hex').slice(0, 16)
}
