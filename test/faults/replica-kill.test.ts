// kill -9 replicas at random points of a run, many times, and restart each at once as a new
// incarnation that replays the run from its log: a seeded schedule (printed; REPJS_FAULTS_SEED
// replays it), run-once calls that a kill may interrupt mid-way (then REPJS_IN_DOUBT, never run
// twice), and every replica's links through a proxy that resets a connection now and then.
import { expect, it } from 'vitest'
import { allExited, countSlots, createRun, report, rowOf, seeded, sized, startFaultCluster, type ReplicaProc, type ReplicaSpec } from './harness.js'

const KILLS = sized(6, 40)
const OPS = sized(50, 300)
const REPLICAS = 3
const DROP = 0.002

it(`kill -9 and restart replicas ${KILLS} times at random points`, { timeout: sized(150_000, 900_000) }, async () => {
  const rng = seeded('replica kill -9')
  const c = await startFaultCluster(3)
  const run = createRun('kill')
  try {
    const spec: ReplicaSpec = { etcd: c.endpoints, ops: OPS, onceEvery: 5, onceHoldMs: 150, ttlMs: 2000, proxied: true, untilReleased: true }
    const start = async (slot: number, inc: number) => {
      const r = await run.spawn(spec, `r${slot}.${inc}`)
      for (const l of r.links) l.drop(DROP, rng.float)
      return r
    }
    const live: ReplicaProc[] = await Promise.all(Array.from({ length: REPLICAS }, (_, i) => start(i, 0)))
    const incarnation = live.map(() => 0)
    let kills = 0
    const schedule: string[] = []
    while (kills < KILLS) {
      const candidates = live.map((r, i) => i).filter((i) => live[i]!.proc.exitCode === null)
      if (candidates.length === 0) break
      const v = candidates[rng.int(candidates.length)]!
      const victim = live[v]!
      const at = victim.ops() + rng.int(6)
      const within = rng.int(60)
      try {
        await victim.reached(at)
      } catch {
        continue // it finished first: pick another
      }
      await new Promise((r) => setTimeout(r, within)) // a random point inside the next op
      if (victim.proc.exitCode !== null) continue
      await victim.kill()
      kills++
      schedule.push(`${victim.id}@op${at}+${within}ms`)
      live[v] = await start(v, ++incarnation[v]!)
    }
    console.log(`[faults] kill schedule: ${schedule.join(' ')}`)
    run.release()
    const codes = await allExited(live)
    expect(codes).toEqual(live.map(() => 0))
    const checked = await run.check(c.endpoints)
    const operations = countSlots((await run.etcdLog(c.endpoints)).slots)
    const resets = run.replicas.reduce((n, r) => n + r.links.reduce((m, l) => m + l.faults, 0), 0)
    const inDoubt = new Set(run.histories().flatMap((h) => h.events.flatMap((e) => (e.t === 'once' && !e.ok ? [e.k] : [])))).size
    report(rowOf('replica kill -9 + restart (random)', checked, operations, kills + resets), checked,
      `${REPLICAS} replicas x ${OPS}+ ops, seed ${rng.seed}: ${kills} kills -9 and restarts, ${resets} link resets; ${inDoubt} run-once call(s) in doubt, ${run.effects().length} side effects`)
    expect(kills).toBe(KILLS)
    expect(checked.violations).toEqual([])
  } finally {
    await run.stop()
    await c.stop()
  }
})
