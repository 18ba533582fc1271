/**
 * Under `repjs run` every replica runs the same script (the program id is its hash), so a call's
 * site is part of its identity, and so are a call's arguments such as randomInt's bounds: a
 * replica that makes another call at a slot stops with REPJS_DIVERGED (exit 70) instead of taking
 * another call's value. Before, both of these replayed silently with swapped or rescaled values.
 */
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { outcome, runReplica } from '../helpers/run-script.js'

const etcd = useEtcd()

test('same-name calls from callbacks that fire in another order diverge instead of swapping values', async () => {
  const run = uniqueRun('timers')
  const first = await outcome(runReplica('timers.js', { run, etcd: etcd.endpoint, env: { TIMERS_FIRST: 'a' } }))
  expect(first).toMatchObject({ code: 0, stderr: '' })
  expect(first.stdout).toMatch(/^a 0\.\d+\nb 0\.\d+\n$/)
  const same = await outcome(runReplica('timers.js', { run, etcd: etcd.endpoint, env: { TIMERS_FIRST: 'a' } }))
  expect(same.stdout).toBe(first.stdout)
  const other = await outcome(runReplica('timers.js', { run, etcd: etcd.endpoint, env: { TIMERS_FIRST: 'b' } }))
  expect(other.code).toBe(70)
  expect(other.stdout).toBe('')
  expect(other.stderr).toContain('REPJS_DIVERGED')
  expect(other.stderr).toContain('timers.js:6') // this replica's call (b's timer)
  expect(other.stderr).toContain('timers.js:5') // the logged call (a's timer)
})

test("crypto.randomInt's bounds are part of the call's identity", async () => {
  const run = uniqueRun('randint')
  const first = await outcome(runReplica('randint.js', { run, etcd: etcd.endpoint, env: { RANDINT_MAX: '10' } }))
  expect(first).toMatchObject({ code: 0, stderr: '' })
  const same = await outcome(runReplica('randint.js', { run, etcd: etcd.endpoint, env: { RANDINT_MAX: '10' } }))
  expect(same.stdout).toBe(first.stdout)
  const other = await outcome(runReplica('randint.js', { run, etcd: etcd.endpoint, env: { RANDINT_MAX: '1000' } }))
  expect(other.code).toBe(70)
  expect(other.stdout).toBe('')
  expect(other.stderr).toContain('REPJS_DIVERGED')
})
