// SIGSTOP the replica holding a run-once call, in the middle of the call, until its lease has
// expired: another replica takes the lock, finds the started marker and records REPJS_IN_DOUBT
// (the side effect is not run again); when the holder resumes, fencing refuses its late result
// (its lease is gone) and it gets the recorded REPJS_IN_DOUBT like everyone else.
import { expect, it } from 'vitest'
import { allExited, countSlots, createRun, report, rowOf, sized, startFaultCluster } from './harness.js'

const ROUNDS = sized(1, 5)
const EVERY = 4
const OPS = EVERY * (ROUNDS + 1)

it(`SIGSTOP a run-once holder past its lease, ${ROUNDS} time(s)`, { timeout: sized(120_000, 600_000) }, async () => {
  const c = await startFaultCluster(3)
  const run = createRun('sigstop')
  try {
    const reps = await Promise.all([0, 1, 2].map(() => run.spawn({ etcd: c.endpoints, ops: OPS, onceEvery: EVERY, onceHoldMs: 1500, ttlMs: 1000 })))
    const stopped: string[] = []
    for (let k = 0; k < ROUNDS; k++) {
      const call = k * EVERY + EVERY - 1
      await Promise.race(reps.map((r) => r.says(`effect ${call}`)))
      const holder = reps.find((r) => r.stdout.split('\n').includes(`effect ${call}`))!
      holder.proc.kill('SIGSTOP')
      stopped.push(holder.id)
      const others = reps.filter((r) => r !== holder)
      await Promise.all(others.map((r) => r.says(`once ${call} REPJS_IN_DOUBT`)))
      holder.proc.kill('SIGCONT')
      await holder.says(`once ${call} REPJS_IN_DOUBT`)
    }
    expect(await allExited(reps)).toEqual([0, 0, 0])
    const checked = await run.check(c.endpoints)
    const effects = run.effects()
    // Each stopped call ran once, on its holder; the calls nobody stopped ran once and succeeded.
    for (let k = 0; k <= ROUNDS; k++) expect(effects.filter((e) => e.k === k * EVERY + EVERY - 1)).toHaveLength(1)
    const operations = countSlots((await run.etcdLog(c.endpoints)).slots)
    report(rowOf('SIGSTOP run-once holder past lease', checked, operations, ROUNDS), checked,
      `3 replicas x ${OPS} ops, run-once every ${EVERY} (hold 1.5 s, lease 1 s); stopped holders ${stopped.join(', ')} mid-call until the others recorded REPJS_IN_DOUBT, resumed: late results fenced, ${effects.length} side effects for ${ROUNDS + 1} calls`)
    expect(checked.violations).toEqual([])
  } finally {
    for (const r of run.replicas) r.proc.kill('SIGCONT')
    await run.stop()
    await c.stop()
  }
})
