// Clock faults inside replica processes (Date.now, new Date(), performance.now patched in that
// process before connect; the machine's clock is never touched): one replica 3 h behind, one 5 h
// ahead, one whose clock jumps 2 h backwards mid-run (and, in the long form, forwards again).
// Agreed time never decreases on any replica, and the histories agree.
import { expect, it } from 'vitest'
import { allExited, countSlots, createRun, report, rowOf, sized, startFaultCluster } from './harness.js'

const OPS = sized(30, 150)
const H = 3600_000

it('replica clocks hours off and jumping backwards', { timeout: sized(120_000, 600_000) }, async () => {
  const c = await startFaultCluster(3)
  const run = createRun('clock')
  try {
    const clocks = [`offset:${-3 * H}`, `offset:${5 * H}`, `jump:${Math.floor(OPS / 3)}:${-2 * H}`, ...sized([], [`jump:${Math.floor(OPS / 2)}:${7 * H}`])]
    const reps = await Promise.all(clocks.map((clock) => run.spawn({ etcd: c.endpoints, ops: OPS, clock, onceEvery: 10 })))
    expect(await allExited(reps)).toEqual(reps.map(() => 0))
    const checked = await run.check(c.endpoints)
    const times = run.histories().flatMap((h) => h.events.flatMap((e) => (e.t === 'now' ? [e.v] : [])))
    const ahead = (Math.max(...times) - Date.now()) / H
    const operations = countSlots((await run.etcdLog(c.endpoints)).slots)
    report(rowOf('replica clock skew / jumps', checked, operations, clocks.length), checked,
      `${reps.length} replicas x ${OPS} ops with clocks ${clocks.join(', ')}; ${times.length} agreed times, never decreasing; the latest is ${ahead.toFixed(2)} h ahead of the machine (monotonic mode follows the fastest clock; median mode bounds it)`)
    expect(checked.timeRegressions).toBe(0)
    expect(checked.violations).toEqual([])
  } finally {
    await run.stop()
    await c.stop()
  }
})
