// Found by this suite: connect() did not retry a retryable store fault while it opened the run. A
// replica that connected while etcd had no quorum (or during a leader change: seen in
// etcd-leader.test.ts) failed at once with REPJS_UNAVAILABLE, whose message even said "Retrying".
// Every later call blocks with status waiting-for-quorum and resumes; opening the run now does too
// (createReplica opens it under withRetry, reporting status to onStatus).
import { expect, it } from 'vitest'
import { createRun, healthy, startFaultCluster } from './harness.js'

it('connect() while etcd has no quorum waits for it instead of failing', { timeout: 60_000 }, async () => {
  const c = await startFaultCluster(3)
  const run = createRun('connect')
  try {
    const down = c.cluster.members.slice(1)
    for (const m of down) await m.stop()
    const r = await run.spawn({ etcd: c.endpoints, ops: 3 })
    // Give it time to fail (the current code exits within etcd's request timeout), then bring quorum back.
    await Promise.race([r.exited, new Promise((resolve) => setTimeout(resolve, 8000))])
    for (const m of down) await m.start()
    for (const m of down) await healthy(m.client)
    const code = await r.exited
    console.log(`[faults] connect without quorum: exit ${code}; ${r.stderr.split('\n')[0]}`)
    expect(code).toBe(0)
  } finally {
    await run.stop()
    await c.stop()
  }
})
