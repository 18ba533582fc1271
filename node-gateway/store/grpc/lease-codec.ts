/**
 * etcd's Lease messages by hand (pb-writer.ts / pb-reader.ts), for the lean transport's leases
 * (lean-leases.ts): requests carrying a lease ID or a TTL, and the few response fields read (ID,
 * TTL, grantedTTL; int64 as decimal strings). Hand-written so a replica on plaintext endpoints
 * needs neither protobufjs nor etcd3's client for its leases. Field numbers: etcd's rpc.proto.
 */
import { PbReader } from './pb-reader.js'
import { writer } from './pb-writer.js'

export const LEASE_GRANT = '/etcdserverpb.Lease/LeaseGrant'
export const LEASE_REVOKE = '/etcdserverpb.Lease/LeaseRevoke'
export const LEASE_KEEPALIVE = '/etcdserverpb.Lease/LeaseKeepAlive'
export const LEASE_TTL = '/etcdserverpb.Lease/LeaseTimeToLive'

/** LeaseGrantRequest { TTL = 1 } (etcd picks the ID). */
export function encodeLeaseGrant(ttlSec: number): Buffer {
  const w = writer()
  w.int64Field(1, ttlSec)
  return w.finish()
}

/** LeaseRevokeRequest, LeaseKeepAliveRequest and LeaseTimeToLiveRequest (keys: false): { ID = 1 }. */
export function encodeLeaseId(id: string): Buffer {
  const w = writer()
  w.int64Field(1, id)
  return w.finish()
}

export interface LeaseAnswer {
  /** The lease's ID. */
  ID: string
  /** Seconds left (LeaseKeepAlive: the renewed TTL, 0 if the lease is gone; LeaseTimeToLive: -1 if gone). */
  TTL: string
  /** LeaseTimeToLive only: the TTL the lease was granted with. */
  grantedTTL: string
}

/** LeaseGrantResponse, LeaseKeepAliveResponse or LeaseTimeToLiveResponse: ID = 2, TTL = 3, grantedTTL = 4 (the rest skipped). */
export function decodeLeaseAnswer(bytes: Uint8Array): LeaseAnswer {
  const r = new PbReader(bytes)
  const a: LeaseAnswer = { ID: '0', TTL: '0', grantedTTL: '0' }
  while (r.more()) {
    const tag = r.tag()
    if (tag === 16) a.ID = r.int64()
    else if (tag === 24) a.TTL = r.int64()
    else if (tag === 32) a.grantedTTL = r.int64()
    else r.skip(tag)
  }
  return a
}
