// Kill the etcd leader (kill -9) at several points of a run and restart it each time: replicas
// block while there is no leader, resume, and their histories stay prefixes of one history.
import { expect, it } from 'vitest'
import { allExited, countSlots, createRun, healthy, report, rowOf, sized, startFaultCluster } from './harness.js'

const SIZE = sized(3, 5)
const KILLS = sized(2, 10)
const OPS = sized(30, 150)
const REPLICAS = 3

it(`kill the etcd leader ${KILLS} times and restart it (${SIZE} members, ${REPLICAS} replicas)`, { timeout: sized(120_000, 900_000) }, async () => {
  const c = await startFaultCluster(SIZE)
  const run = createRun('leader')
  try {
    const reps = await Promise.all(Array.from({ length: REPLICAS }, () => run.spawn({ etcd: c.endpoints, ops: OPS, onceEvery: 7, untilReleased: true })))
    // Every replica has joined before the first kill: connect() is not retried on a leader change (see connect-retry.test.ts).
    await Promise.all(reps.map((r) => r.reached(0)))
    let kills = 0
    for (let k = 0; k < KILLS; k++) {
      const at = Math.floor(((k + 1) * OPS) / (KILLS + 2))
      await reps[0]!.reached(at)
      const leader = c.cluster.members[await c.leader()]!
      await leader.stop()
      kills++
      // The others elect a new leader and the run goes on without the killed member...
      await reps[0]!.reached(at + 2)
      // ...which then comes back with its data and catches up.
      await leader.start()
      await healthy(leader.client)
    }
    run.release()
    expect(await allExited(reps)).toEqual(reps.map(() => 0))
    const checked = await run.check(c.endpoints)
    const operations = countSlots((await run.etcdLog(c.endpoints)).slots)
    report(rowOf(`etcd leader kill -9 + restart (${SIZE} members)`, checked, operations, kills + c.faults()), checked,
      `${REPLICAS} replicas x ${OPS}+ ops; killed the leader ${kills} times, each restarted after the run moved on`)
    expect(checked.violations).toEqual([])
    expect(checked.records).toBeGreaterThan(0)
  } finally {
    await run.stop()
    await c.stop()
  }
})
