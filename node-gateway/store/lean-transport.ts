/**
 * The hot-path transport: Txn and Range through the lean node:http2 client (`kv-client.ts`),
 * watches through the lean watch on its sessions (`watch-client.ts`), leases through etcd3's
 * LeaseClient (`etcd3Leases`: not on the hot path). Plaintext (http://) endpoints only.
 */
import type { Etcd3 } from 'etcd3'
import { etcd3Leases } from './etcd3-transport.js'
import { KvClient } from './kv-client.js'
import type { Transport } from './transport.js'
import { watch } from './watch-client.js'

export function leanTransport(endpoints: string | string[], callTimeoutMs: number, leases: Etcd3): Transport & { readonly kv: KvClient } {
  const kv = new KvClient({ endpoints, callTimeoutMs })
  return {
    kind: 'http2',
    kv,
    txn: (req) => kv.txn(req),
    range: (req) => kv.range(req),
    rangePage: (req) => kv.rangePage(req),
    watch: (req, h) => watch(kv, req, h),
    ...etcd3Leases(leases),
    close: () => kv.close(),
  }
}
