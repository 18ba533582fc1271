// The gateway's per-run counters are dropped once a run holds nothing, also when its last lease
// outlives its last connection (a detached lock keeps its count for one TTL).
import { expect, test } from 'vitest'
import { Counter, Usage } from '../../node-gateway/gateway/limits.js'

const limits = { maxConnections: 10, maxPendingPerIp: 10, maxStreams: 10, maxLeases: 10, maxRunConnections: 10, maxRunStreams: 10, maxRunLeases: 10, maxRunBytes: 1 << 20 }

test("a run's entry goes when its last connection and its last lease are given back, in either order", () => {
  const usage = new Usage(limits)
  const perConnection = new Counter(10, 'locks on one connection')
  const leave = usage.joinRun('a')
  const lease = usage.takeLease('a', perConnection)
  expect(usage.trackedRuns).toBe(1)
  leave()
  expect(usage.trackedRuns).toBe(1) // the lease is still counted
  lease()
  expect(usage.trackedRuns).toBe(0)
  const lease2 = usage.takeLease('b', perConnection)
  const leave2 = usage.joinRun('b')
  lease2()
  leave2()
  expect(usage.trackedRuns).toBe(0)
  expect(usage.leases.n).toBe(0)
  expect(perConnection.n).toBe(0)
})
