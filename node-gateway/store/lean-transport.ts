/**
 * The hot-path transport: Txn and Range through the lean client (`kv-client.ts`: hand-written
 * HTTP/2), watches through the lean watch on its connections (`watch-client.ts`), leases as unary
 * calls on the same connections (`lean-leases.ts`). Plaintext (http://) endpoints only; never loads
 * etcd3 nor node:http2.
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
    txnBytes: (request) => kv.txnBytes(request),
    range: (req) => kv.range(req),
    rangePage: (req) => kv.rangePage(req),
    watch: (req, h) => watch(kv, req, h),
    ...leanLeases(kv),
    close: () => kv.close(),
  }
}
