// Unmodified scripts under `repjs run`: three replicas of test/faults/run-script.cjs, kill -9 at
// random points (seeded) and restarted, while the etcd leader is killed and restarted too. Each
// process's printed lines are its history (the i-th agreed Math.random and Date.now): all must be
// prefixes of one history, with Date.now never going back.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { uniqueRun } from '../helpers/etcd.js'
import { cli, track, type Proc } from '../helpers/run-script.js'
import { checkHistories, type History, type HistoryEvent } from './history.js'
import { healthy, report, rowOf, seeded, sized, startFaultCluster } from './harness.js'

const STEPS = sized(150, 1000)
const KILLS = sized(4, 20)
const script = fileURLToPath(new URL('./run-script.cjs', import.meta.url))

function history(id: string, p: Proc): History {
  const events: HistoryEvent[] = []
  for (const line of p.stdout.split('\n').slice(0, -1)) {
    const [i, r, t] = line.split(' ')
    events.push({ t: 'rec', s: 'Math.random', n: Number(i), h: r! }, { t: 'rec', s: 'Date.now', n: Number(i), h: t! }, { t: 'now', v: Number(t) })
  }
  return { id, events }
}

it(`repjs run: kill -9 and restart replicas ${KILLS} times and the etcd leader once`, { timeout: sized(150_000, 900_000) }, async () => {
  const rng = seeded('repjs run kill -9')
  const c = await startFaultCluster(3)
  const run = uniqueRun('faults-repjs-run')
  const procs: Array<{ id: string; p: Proc }> = []
  const start = (id: string) => {
    const p = track(spawn(process.execPath, [cli, 'run', '--run', run, '--etcd', c.endpoints.join(','), script, String(STEPS)], { stdio: ['ignore', 'pipe', 'pipe'] }))
    procs.push({ id, p })
    return p
  }
  const lines = (p: Proc) => p.stdout.split('\n').length - 1
  try {
    const live = [0, 1, 2].map((i) => start(`r${i}.0`))
    const inc = [0, 0, 0]
    let kills = 0
    let leaderKilled = false
    while (kills < KILLS) {
      const v = rng.int(3)
      const victim = live[v]!
      const at = lines(victim) + 1 + rng.int(20)
      const line = await victim.lines(at).then(() => true, () => false)
      if (!line) break // finished: stop the schedule
      await victim.kill()
      kills++
      live[v] = start(`r${v}.${++inc[v]!}`)
    }
    // Then the etcd leader, while the replicas run (not while one opens the run: connect() is not
    // retried on a leader change, see connect-retry.test.ts).
    await Promise.all(live.map((p) => p.lines(1)))
    const running = live.find((p) => p.proc.exitCode === null && lines(p) < STEPS - 10)
    if (running) {
      const leader = c.cluster.members[await c.leader()]!
      await leader.stop()
      await running.lines(lines(running) + 5)
      await leader.start()
      await healthy(leader.client)
      leaderKilled = true
    }
    const codes = await Promise.all(live.map((p) => p.exited))
    live.forEach((p, i) => codes[i] !== 0 && console.log(`[faults] repjs run replica ${i} exited ${codes[i]}: ${p.stderr.slice(-1500)}`))
    expect(codes).toEqual([0, 0, 0])
    const checked = checkHistories({ histories: procs.map(({ id, p }) => history(id, p)), effects: [] })
    for (const v of checked.violations) console.log(`[faults] VIOLATION ${v}`)
    report(rowOf('repjs run: kill -9 replicas + etcd leader', checked, 2 * STEPS, kills + (leaderKilled ? 1 : 0)), checked,
      `3 \`repjs run\` replicas of a ${STEPS}-step Math.random/Date.now script, seed ${rng.seed}: ${kills} kills -9 and restarts, then the etcd leader ${leaderKilled ? 'killed and restarted' : 'not killed (the run had ended)'}`)
    expect(live.every((p) => lines(p) === STEPS)).toBe(true)
    expect(checked.violations).toEqual([])
  } finally {
    await Promise.all(procs.map(({ p }) => p.kill()))
    await c.stop()
  }
})
