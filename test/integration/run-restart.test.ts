// `repjs run` replicas killed mid-run and restarted: the restarted replica re-executes the script
// against the log, so its stdout ends identical to the others'; with --quiet-replay it prints
// only what comes after it is live (a strict suffix of the transcript).
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { outcome, runReplica, type Outcome } from '../helpers/run-script.js'

let etcd: Cluster
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await etcd?.stop()
})

const ok = (o: Outcome) => {
  expect(o.code, o.stderr).toBe(0)
  return o.stdout
}

function strictSuffix(part: string, whole: string) {
  expect(part.length).toBeGreaterThan(0)
  expect(part.length).toBeLessThan(whole.length)
  expect(whole.endsWith(part)).toBe(true)
}

test.concurrent('simulation: one replica SIGKILLed mid-run, restarted plain and with --quiet-replay', async () => {
  const o = { run: uniqueRun('sim-kill'), etcd: etcd.endpoint, args: ['50', '20'] }
  const a = runReplica('sim.js', o)
  const b = runReplica('sim.js', o)
  const c = runReplica('sim.js', o)
  await c.lines(10)
  await c.kill()
  const c2 = runReplica('sim.js', o)
  const c3 = runReplica('sim.js', { ...o, flags: ['--quiet-replay'] })
  const [oa, ob, oc2, oc3] = await Promise.all([a, b, c2, c3].map(outcome))
  const full = ok(oa!)
  expect(full.split('\n').filter(Boolean)).toHaveLength(52)
  expect(ok(ob!)).toBe(full)
  expect(ok(oc2!)).toBe(full)
  // a timer-paced script replays at its own pace: this one is live only at the end
  strictSuffix(ok(oc3!), full)
  expect(oc3!.stdout).toMatch(/done: 50 steps in \d+ ms\n$/)
})

test.concurrent('dice game: a replica killed mid-session; restarted with --quiet-replay it catches up and prints the rest live', async () => {
  const o = { run: uniqueRun('dice-kill'), etcd: etcd.endpoint }
  const a = runReplica('dice.js', { ...o, flags: ['--eof-ends-input'], stdin: 'pipe' })
  const b = runReplica('dice.js', o)
  const c = runReplica('dice.js', o)
  const roll = async (n: number, upTo: number) => {
    for (let i = 0; i < n; i++) a.write('roll\n')
    await Promise.all([a.lines(upTo), b.lines(upTo)])
  }
  await roll(4, 5)
  await c.lines(5)
  await c.kill()
  await roll(3, 8)
  const c2 = runReplica('dice.js', o)
  const c3 = runReplica('dice.js', { ...o, flags: ['--quiet-replay', '--verbose'] })
  await c2.lines(8) // replayed the session so far
  await c3.stderrHas('repjs: live')
  await roll(2, 10)
  a.write('stop\n')
  a.end()
  const [oa, ob, oc2, oc3] = await Promise.all([a, b, c2, c3].map(outcome))
  const full = ok(oa!)
  expect(full.split('\n').filter(Boolean)).toHaveLength(11)
  expect(ok(ob!)).toBe(full)
  expect(ok(oc2!)).toBe(full)
  // c3 printed only what came after it was live: the line printed after its last replayed call
  // (the 7th roll), then the two rolls typed after it went live, and the final score
  strictSuffix(ok(oc3!), full)
  expect(oc3!.stdout.split('\n').filter(Boolean)).toEqual(full.split('\n').filter(Boolean).slice(-4))
  // --verbose talks on stderr only
  expect(oc3!.stderr).toContain('repjs: ')
  expect(oc3!.stdout).not.toContain('repjs')
})
