/** The replicas present in a run: its presence keys (core/presence.ts), decoded; malformed ones are skipped. */
import type { Etcd3 } from 'etcd3'
import { decodePresence, type Presence } from '../../core/presence.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { etcdCall } from './etcd-errors.js'
import { presencePrefix } from './keys.js'

const format = createCborFormat()

export async function listPresence(client: Etcd3, run: string): Promise<Presence[]> {
  const found = await etcdCall('reading presence', () => client.getAll().prefix(presencePrefix(run)).buffers())
  const out: Presence[] = []
  for (const value of Object.values(found)) {
    try {
      out.push(decodePresence(format, new Uint8Array(value.buffer, value.byteOffset, value.byteLength)))
    } catch {
      // Not written by a replica of this version: not listed.
    }
  }
  return out.sort((a, b) => a.replica.localeCompare(b.replica))
}
