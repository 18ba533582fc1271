// The one gRPC status table (store/grpc/status.ts): statuses from the lean client and errors from
// etcd3 read the same way, by code, through retryAs and storeError.
import { BrokenCircuitError } from 'cockatiel'
import { ClientClosedError, EtcdLeaseInvalidError, GRPCDeadlineExceededError, GRPCUnavailableError, GRPCUnknownError } from 'etcd3'
import { expect, test } from 'vitest'
import { storeError } from '../../node-gateway/store/etcd-errors.js'
import { codeOf, leaseNotFound, statusError } from '../../node-gateway/store/grpc/status.js'

test('one gRPC status table: statuses from either transport read as storeError expects', () => {
  const read = (err: unknown) => {
    const e = storeError(err, 'x')
    return e.details.tooLarge ? 'tooLarge' : e.details.noSpace ? 'noSpace' : e.retryable ? String(e.retryAs) : 'final'
  }
  // The lean client's: a status a server sent.
  const cls = (code: number, message: string) => read(statusError(code, message))
  expect(cls(14, 'etcdserver: no leader')).toBe('waiting-for-quorum')
  expect(cls(14, 'etcdserver: request timed out')).toBe('waiting-for-quorum')
  expect(cls(14, 'etcdserver: leader changed')).toBe('waiting-for-quorum')
  expect(cls(8, 'etcdserver: too many requests')).toBe('waiting-for-quorum')
  expect(cls(2, 'context deadline exceeded')).toBe('waiting-for-quorum') // our grpc-timeout ran out on the server
  expect(cls(4, 'deadline exceeded')).toBe('waiting-for-quorum')
  expect(cls(14, 'connection closed')).toBe('reconnecting')
  expect(cls(8, 'Received message larger than max (5242880 vs 4194304)')).toBe('tooLarge')
  expect(cls(8, 'etcdserver: mvcc: database space exceeded')).toBe('noSpace') // NOSPACE: the same status
  expect(cls(3, 'etcdserver: request is too large')).toBe('final')
  expect(cls(9, 'etcdserver: not leader')).toBe('waiting-for-quorum')
  expect(cls(5, 'etcdserver: requested lease not found')).toBe('final')
  expect(leaseNotFound(statusError(5, 'etcdserver: requested lease not found'))).toBe(true)
  // etcd3's (grpc-js): the same classes, read by the same table.
  expect(read(new GRPCUnavailableError('14 UNAVAILABLE: No connection established'))).toBe('reconnecting')
  expect(read(new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: no leader'))).toBe('waiting-for-quorum')
  expect(read(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'))).toBe('waiting-for-quorum')
  expect(read(new GRPCUnknownError('2 UNKNOWN: context deadline exceeded'))).toBe('waiting-for-quorum')
  expect(read(new GRPCUnknownError('2 UNKNOWN: something else'))).toBe('final')
  expect(leaseNotFound(new EtcdLeaseInvalidError('etcdserver: requested lease not found'))).toBe(true)
  expect(read(new BrokenCircuitError())).toBe('reconnecting')
  expect(read(new ClientClosedError('KV'))).toBe('final')
  // Every status has a row, and each row's class maps back to its code.
  for (let code = 1; code <= 16; code++) expect(codeOf(statusError(code, 'm'))).toBe(code)
})
