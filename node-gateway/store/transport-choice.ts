/**
 * Which transport a store uses, chosen once from its options: the lean node:http2 one when every
 * endpoint is plaintext (http://), else etcd3's; `hotPath` forces one. Also the etcd3 client every
 * store has (leases, presence, maintenance, admin reads).
 */
import { Etcd3, isRecoverableError } from 'etcd3'
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop } from 'cockatiel'
import { badArgument } from '../../core/errors.js'
import { etcd3Transport } from './etcd3-transport.js'
import { allPlaintext } from './grpc/session.js'
import { leanTransport } from './lean-transport.js'
import type { Transport } from './transport.js'

export type HotPath = 'http2' | 'etcd3'

export function createClients(endpoints: string | string[], timeoutMs: number, hotPath: HotPath | undefined): { client: Etcd3; transport: Transport } {
  const plaintext = allPlaintext(endpoints)
  if (hotPath !== undefined && hotPath !== 'http2' && hotPath !== 'etcd3') {
    throw badArgument(`hotPath must be 'http2' or 'etcd3', not ${JSON.stringify(hotPath)}`)
  }
  if (hotPath === 'http2' && !plaintext) {
    throw badArgument("hotPath 'http2' needs plaintext (http://) etcd endpoints; use 'etcd3' for https://")
  }
  const client = new Etcd3({
    hosts: endpoints,
    dialTimeout: timeoutMs,
    // A watch message over grpc-js's 4 MiB default is dropped and retried forever without an
    // 'error' (big records written fast): lift the cap; range reads are paged anyway.
    grpcOptions: { 'grpc.max_receive_message_length': -1 },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    faultHandling: {
      global: noop,
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      // etcd3 reads `.duration` off this, so hand it a started backoff, not the factory.
      watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 2000 }).next(),
    },
  })
  const transport = (hotPath ?? (plaintext ? 'http2' : 'etcd3')) === 'http2' ? leanTransport(endpoints, timeoutMs, client) : etcd3Transport(client)
  return { client, transport }
}
