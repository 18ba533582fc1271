/**
 * Which transport a store uses, chosen once from its options: the lean one (hand-written HTTP/2) when every
 * endpoint is plaintext (http://), else etcd3's; `hotPath` forces one. Also the etcd3 client a
 * store may need for what the transport does not do (maintenance, admin reads, listings): created,
 * and etcd3 + grpc-js + cockatiel loaded (~300 ms in a fresh process), on first use only, so a
 * replica on plaintext endpoints never loads them.
 */
import { createRequire } from 'node:module'
import type { Etcd3 } from 'etcd3'
import { badArgument } from '../../core/errors.js'
import { etcd3 } from './etcd3-load.js'
import { etcd3Transport } from './etcd3-transport.js'
import { allPlaintext } from './grpc/session.js'
import { leanTransport } from './lean-transport.js'
import type { Transport } from './transport.js'

export type HotPath = 'http2' | 'etcd3'

export interface Clients {
  readonly transport: Transport
  /** etcd3's client for these endpoints, created on first use. */
  client(): Etcd3
  /** Close etcd3's client if it was created. */
  closeClient(): void
}

const req = createRequire(import.meta.url)

function newEtcd3(endpoints: string | string[], timeoutMs: number): Etcd3 {
  const { Etcd3, isRecoverableError } = etcd3()
  const { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop } = req('cockatiel') as typeof import('cockatiel')
  return new Etcd3({
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
}

export function createClients(endpoints: string | string[], timeoutMs: number, hotPath: HotPath | undefined): Clients {
  const plaintext = allPlaintext(endpoints)
  if (hotPath !== undefined && hotPath !== 'http2' && hotPath !== 'etcd3') {
    throw badArgument(`hotPath must be 'http2' or 'etcd3', not ${JSON.stringify(hotPath)}`)
  }
  if (hotPath === 'http2' && !plaintext) {
    throw badArgument("hotPath 'http2' needs plaintext (http://) etcd endpoints; use 'etcd3' for https://")
  }
  let made: Etcd3 | undefined
  const client = () => (made ??= newEtcd3(endpoints, timeoutMs))
  const transport = (hotPath ?? (plaintext ? 'http2' : 'etcd3')) === 'http2' ? leanTransport(endpoints, timeoutMs) : etcd3Transport(client())
  return { transport, client, closeClient: () => made?.close() }
}
