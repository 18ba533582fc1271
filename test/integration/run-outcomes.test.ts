// How `repjs run` replicas end: a script that branches on something RepJS does not agree stops
// with REPJS_DIVERGED naming both call sites; the script's exit code is every replica's exit code;
// an uncaught exception ends every replica the same way.
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { EXIT_STOPPED } from '../../node-gateway/run/host.js'
import { outcome, runReplica, tempDir, threeReplicas } from '../helpers/run-script.js'

let etcd: Cluster
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await etcd?.stop()
})


test.concurrent('a branch on an unagreed file read: the second replica stops with REPJS_DIVERGED showing both call sites', async () => {
  const dir = tempDir('repjs-visits-')
  const o = { run: uniqueRun('visits'), etcd: etcd.endpoint, args: [dir] }
  const first = await outcome(runReplica('visits.js', o))
  expect(first.code, first.stderr).toBe(0)
  expect(first.stdout).toMatch(/^welcome, first visitor!/)
  const second = await outcome(runReplica('visits.js', o))
  expect(second.code).toBe(EXIT_STOPPED)
  expect(second.stdout).toBe('') // nothing unagreed was printed
  expect(second.stderr).toContain('REPJS_DIVERGED')
  // this replica's call (Math.random, line 14) and the logged one (new Date(), line 12)
  expect(second.stderr).toMatch(/this replica called random .* at visits\.js:14, but the log holds now .* at visits\.js:12/)
})

test.concurrent('a run-once rename to a name built from process.pid: same site, other arguments, REPJS_DIVERGED', async () => {
  const dir = tempDir('repjs-claim-')
  writeFileSync(join(dir, 'job'), 'work\n')
  const o = { run: uniqueRun('claim'), etcd: etcd.endpoint, args: [dir] }
  const first = await outcome(runReplica('claim.js', o))
  expect(first.code, first.stderr).toBe(0)
  const second = await outcome(runReplica('claim.js', o))
  expect(second.code).toBe(EXIT_STOPPED)
  expect(second.stdout).toBe(first.stdout.split('\n')[0] + '\n') // the agreed clock line, then it stopped
  expect(second.stderr).toMatch(/REPJS_DIVERGED.*this replica called once 'fs\.renameSync' \(args \w+\) at claim\.js:9, but the log holds once 'fs\.renameSync' \(args \w+\) at claim\.js:9/)
  // the rename happened once, under the first replica's name
  const left = readdirSync(dir)
  expect(left).toHaveLength(1)
  expect(left[0]).toMatch(/^job\.claimed-by-\d+$/)
  expect(existsSync(join(dir, 'job'))).toBe(false)
})

test.concurrent('process.exit(3) after 5000 lines: every replica exits 3 with the whole output', async () => {
  const outs = await threeReplicas('exitcode.js', { run: uniqueRun('exit'), etcd: etcd.endpoint, args: ['5000'] })
  for (const o of outs) {
    expect(o.code, o.stderr).toBe(3)
    expect(o.stderr).toBe('')
    expect(o.stdout.split('\n').filter(Boolean)).toHaveLength(5001)
  }
  expect(outs[1]!.stdout).toBe(outs[0]!.stdout)
  expect(outs[2]!.stdout).toBe(outs[0]!.stdout)
})

test.concurrent('an agreed uncaught exception (ENOENT from a run-once rename) ends every replica with exit 1 and the same error', async () => {
  const dir = tempDir('repjs-crash-')
  const outs = await threeReplicas('crash.js', { run: uniqueRun('crash'), etcd: etcd.endpoint, args: [dir] })
  const message = /^Error: ENOENT: no such file or directory, rename '.*missing-\d+' -> '.*done'\n {4}at .*crash\.js:10:/m
  for (const o of outs) {
    expect(o.code).toBe(1)
    expect(o.stderr).toMatch(message)
    expect(o.stderr).not.toContain('node-gateway') // the script's stack, not RepJS's
  }
  expect(outs[1]!.stdout).toBe(outs[0]!.stdout)
  expect(outs[2]!.stdout).toBe(outs[0]!.stdout)
  expect(outs[1]!.stderr.match(message)![0]).toBe(outs[0]!.stderr.match(message)![0])
})
