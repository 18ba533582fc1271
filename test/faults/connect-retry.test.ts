// New defect found by this suite: connect() does not retry a retryable store fault while it opens
// the run. A replica that connects while etcd has no quorum (or during a leader change: seen in
// etcd-leader.test.ts) fails at once with REPJS_UNAVAILABLE, whose message even says "Retrying".
// Every later call blocks with status waiting-for-quorum and resumes; opening the run should too.
// it.fails until fixed (createReplica's openRun under withRetry, with status reporting).
import { expect, it } from 'vitest'
import { createRun, healthy, startFaultCluster } from './harness.js'

it.fails('connect() while etcd has no quorum waits for it instead of failing', { timeout: 60_000 }, async () => {
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
