/**
 * Leases over the lean transport: LeaseGrant, LeaseRevoke and LeaseTimeToLive as unary calls on
 * the KvClient's sessions, and each keep-alive as one request and one response on a short
 * LeaseKeepAlive stream (etcd answers each request before it reads the end of the stream), so a
 * replica on plaintext endpoints never loads etcd3's client. lease-keeper.ts schedules them.
 */
import { decodeLeaseAnswer, encodeLeaseGrant, encodeLeaseId, LEASE_GRANT, LEASE_KEEPALIVE, LEASE_REVOKE, LEASE_TTL } from './grpc/lease-codec.js'
import type { KvClient } from './kv-client.js'
import { keepLease } from './lease-keeper.js'
import type { Transport } from './transport.js'

export function leanLeases(kv: KvClient): Pick<Transport, 'leaseGrant' | 'leaseRevoke' | 'leaseTimeToLive' | 'keepLease'> {
  const revoke = async (id: string) => void (await kv.unary(LEASE_REVOKE, encodeLeaseId(id)))
  return {
    leaseGrant: async (ttlSec) => decodeLeaseAnswer(await kv.unary(LEASE_GRANT, encodeLeaseGrant(ttlSec))).ID,
    leaseRevoke: revoke,
    leaseTimeToLive: async (id) => {
      const res = decodeLeaseAnswer(await kv.unary(LEASE_TTL, encodeLeaseId(id)))
      return { ttlSec: Number(res.TTL), grantedSec: Number(res.grantedTTL) }
    },
    keepLease: (id, ttlSec, granted) => {
      const message = encodeLeaseId(id)
      const renewer = {
        keepAlive: async () => Number(decodeLeaseAnswer(await kv.unary(LEASE_KEEPALIVE, message)).TTL),
        revoke: () => revoke(id),
        close: () => {},
      }
      return keepLease(renewer, id, ttlSec, granted)
    },
  }
}
