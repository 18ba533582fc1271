/**
 * Under `repjs run` every replica runs the same script (the program id is its hash), so a call's
 * site is part of its identity, and so are a call's arguments such as randomInt's bounds: a
 * replica that makes another call at a slot stops with REPJS_DIVERGED (exit 70) instead of taking
 * another call's value. Before, both of these replayed silently with swapped or rescaled values.
 */
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { outcome, runReplica, type Outcome } from '../helpers/run-script.js'

const etcd = useEtcd()

/**
 * One run of `script`: a first replica with env `ours`, a second that replays it with the same env
 * (and must print the same), then one with env `other`; returns the first and the last outcomes.
 */
async function replayWith(script: string, ours: Record<string, string>, other: Record<string, string>): Promise<[Outcome, Outcome]> {
  const run = uniqueRun(script.replace(/\W/g, '-'))
  const first = await outcome(runReplica(script, { run, etcd: etcd.endpoint, env: ours }))
  expect(first).toMatchObject({ code: 0, stderr: '' })
  const same = await outcome(runReplica(script, { run, etcd: etcd.endpoint, env: ours }))
  expect(same.stdout).toBe(first.stdout)
  const last = await outcome(runReplica(script, { run, etcd: etcd.endpoint, env: other }))
  expect(last).toMatchObject({ code: 70, stdout: '' })
  expect(last.stderr).toContain('REPJS_DIVERGED')
  return [first, last]
}

test('same-name calls from callbacks that fire in another order diverge instead of swapping values', async () => {
  const [first, other] = await replayWith('timers.js', { TIMERS_FIRST: 'a' }, { TIMERS_FIRST: 'b' })
  expect(first.stdout).toMatch(/^a 0\.\d+\nb 0\.\d+\n$/)
  expect(other.stderr).toContain('timers.js:6') // this replica's call (b's timer)
  expect(other.stderr).toContain('timers.js:5') // the logged call (a's timer)
})

test("crypto.randomInt's bounds are part of the call's identity", async () => {
  const [first] = await replayWith('randint.js', { RANDINT_MAX: '10' }, { RANDINT_MAX: '1000' })
  expect(first.stdout).toMatch(/^drew \d\n$/)
})
