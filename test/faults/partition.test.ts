// Partition a minority of etcd members, with the replicas attached to them, from the majority:
// the minority's replicas block with status waiting-for-quorum, the majority's go on; after
// healing, the minority catches up and every history is a prefix of one history.
import { expect, it } from 'vitest'
import { allExited, countSlots, createRun, report, rowOf, sized, startFaultCluster } from './harness.js'

const SIZE = sized(3, 5)
const MINORITY = sized([2], [3, 4])
const ROUNDS = sized(1, 4)
const OPS = sized(40, 160)
const PROGRESS = sized(8, 15)
/** Between ops: the majority must not run far ahead while the minority catches up between rounds. */
const PAUSE_MS = sized(0, 40)
/**
 * Between ops of the minority's replicas: paced, not at full speed. Every replica runs until the test
 * releases it (untilReleased), so none finishes before a partition round begins.
 */
const MINORITY_PAUSE_MS = sized(5, 10)

it(`partition ${MINORITY.length} of ${SIZE} etcd members with their replicas, ${ROUNDS} time(s), then heal`, { timeout: sized(120_000, 900_000) }, async () => {
  const c = await startFaultCluster(SIZE)
  const run = createRun('partition')
  try {
    const majority = c.endpoints.filter((_, i) => !MINORITY.includes(i))
    const reps = [
      ...(await Promise.all([0, 1].map(() => run.spawn({ etcd: majority, ops: OPS, onceEvery: 9, pauseMs: PAUSE_MS, untilReleased: true })))),
      ...(await Promise.all(MINORITY.map((i) => run.spawn({ etcd: [c.endpoints[i]!], ops: OPS, onceEvery: 9, pauseMs: MINORITY_PAUSE_MS, untilReleased: true })))),
    ]
    const inside = reps.slice(2)
    await Promise.all(reps.map((r) => r.reached(0)))
    let blocked = 0
    for (let k = 0; k < ROUNDS; k++) {
      // Partition once the minority has caught up with where the majority was (else it would only
      // replay slots decided already, needing no quorum).
      await Promise.all(inside.map((r) => r.reached(Math.max(3, reps[0]!.ops()))))
      c.partition(MINORITY)
      // What was agreed when the partition began: at most one op beyond the replica furthest ahead.
      const frontier = Math.max(...reps.map((r) => r.ops())) + 1
      const marks = inside.map((r) => r.stdout.length)
      await Promise.all(inside.map((r, i) => r.says('status waiting-for-quorum', 60_000, marks[i])))
      blocked += inside.length
      await reps[0]!.reached(frontier + PROGRESS)
      // The majority went on while the minority's replicas went no further than that frontier
      // (a replica behind it may still replay slots its member already had).
      for (const r of inside) expect(r.ops()).toBeLessThanOrEqual(frontier)
      c.heal()
    }
    // After the last heal the minority catches up with the majority before anyone finishes.
    await Promise.all(inside.map((r) => r.reached(reps[0]!.ops())))
    run.release()
    expect(await allExited(reps)).toEqual(reps.map(() => 0))
    const checked = await run.check(c.endpoints)
    const operations = countSlots((await run.etcdLog(c.endpoints)).slots)
    report(rowOf(`partition minority (${MINORITY.length}/${SIZE} members)`, checked, operations, c.faults()), checked,
      `${reps.length} replicas x ${OPS}+ ops; ${ROUNDS} partition(s) of members ${MINORITY.join(',')}: ${blocked} replica blockings (waiting-for-quorum) seen, majority advanced ${PROGRESS} ops each time, healed, all caught up`)
    expect(checked.violations).toEqual([])
  } finally {
    await run.stop()
    await c.stop()
  }
})
