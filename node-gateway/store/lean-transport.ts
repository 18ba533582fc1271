/**
 * The hot-path transport: Txn and Range through the lean node:http2 client (`kv-client.ts`),
 * watches through the lean watch on its sessions (`watch-client.ts`), leases as unary calls on the
 * same sessions (`lean-leases.ts`). Plaintext (http://) endpoints only; never loads etcd3.
 */
import { KvClient } from './kv-client.js'
import { leanLeases } from './lean-leases.js'
import type { Transport } from './transport.js'
import { watch } from './watch-client.js'

export function leanTransport(endpoints: string | string[], callTimeoutMs: number): Transport & { readonly kv: KvClient } {
  const kv = new KvClient({ endpoints, callTimeoutMs })
  return {
    kind: 'http2',
    kv,
    txn: (req) => kv.txn(req),
    range: (req) => kv.range(req),
    rangePage: (req) => kv.rangePage(req),
    watch: (req, h) => watch(kv, req, h),
    ...leanLeases(kv),
    close: () => kv.close(),
  }
}
