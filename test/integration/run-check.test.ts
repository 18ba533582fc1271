// `repjs run --check-every N`: every N agreed calls the replicas agree a hash of what each script
// consumed and printed (rep.check). A replica whose output depends on state that is not agreed
// (its argument) stops with REPJS_DIVERGED, exit 70; without the option it exits 0 unnoticed.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { EXIT_STOPPED } from '../../node-gateway/run/host.js'
import { outcome, runReplica } from '../helpers/run-script.js'

let etcd: Cluster
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await etcd?.stop()
})

/** Three replicas of scaled.js, the third with scale 2. */
function three(flags: string[]) {
  const run = uniqueRun('scaled')
  return Promise.all(['1', '1', '2'].map((scale) => outcome(runReplica('scaled.js', { run, etcd: etcd.endpoint, flags, args: [scale] }))))
}

test('without --check-every the replica with another scale prints other numbers and exits 0', async () => {
  const [a, b, c] = await three([])
  for (const o of [a, b, c]) expect(o.code, o.stderr).toBe(0)
  expect(b.stdout).toBe(a.stdout)
  expect(c.stdout).not.toBe(a.stdout)
}, 120_000)

test('--check-every 2 --check-quorum 3: the diverging replica stops at the first check (slot 2) with exit 70; the other two finish alike', async () => {
  const [a, b, c] = await three(['--check-every', '2', '--check-quorum', '3'])
  for (const o of [a, b]) expect(o.code, o.stderr).toBe(0)
  expect(b.stdout).toBe(a.stdout)
  expect(a.stdout.split('\n').filter(Boolean)).toHaveLength(6)
  expect(c.code, c.stderr).toBe(EXIT_STOPPED)
  expect(c.stderr).toMatch(/^repjs: REPJS_DIVERGED: Replica state diverged at stream 'main' slot 2 \(check 'repjs\.check'\): this replica's state hash is [0-9a-f]{32}, but the agreed hash is [0-9a-f]{32} \(held by 2 /)
  expect(c.stdout).toMatch(/^0: \d\.\d{6}\n$/) // it printed one line (not a's), then stopped
  expect(c.stdout).not.toBe(a.stdout.split('\n')[0] + '\n')
}, 120_000)

test('--check-every with equal replicas changes nothing they print', async () => {
  const run = uniqueRun('scaled')
  const flags = ['--check-every', '1', '--check-quorum', '3']
  const outs = await Promise.all([0, 1, 2].map(() => outcome(runReplica('scaled.js', { run, etcd: etcd.endpoint, flags }))))
  for (const o of outs) expect(o.code, o.stderr).toBe(0)
  expect(new Set(outs.map((o) => o.stdout)).size).toBe(1)
}, 120_000)

test('late replicas replay the checks against the recorded hashes (quorum 1: the first replica decided them)', async () => {
  const o = { run: uniqueRun('scaled'), etcd: etcd.endpoint, flags: ['--check-every', '2'] }
  const first = await outcome(runReplica('scaled.js', { ...o, args: ['1'] }))
  expect(first.code, first.stderr).toBe(0)
  const same = await outcome(runReplica('scaled.js', { ...o, args: ['1'] }))
  expect(same.code, same.stderr).toBe(0)
  expect(same.stdout).toBe(first.stdout)
  const other = await outcome(runReplica('scaled.js', { ...o, args: ['2'] }))
  expect(other.code).toBe(EXIT_STOPPED)
  expect(other.stderr).toMatch(/REPJS_DIVERGED: Replica state diverged at stream 'main' slot 2 .*held by 1 of the first 1 /)
}, 120_000)

test('--check-every and --check-quorum take whole numbers ≥ 1', async () => {
  const cases = [['--check-every', '0'], ['--check-every', '1.5'], ['--check-every', '2', '--check-quorum', 'x'], ['--check-quorum', '3']]
  const outs = await Promise.all(cases.map((flags) => outcome(runReplica('scaled.js', { run: uniqueRun('scaled'), etcd: etcd.endpoint, flags }))))
  for (const o of outs) {
    expect(o.code).not.toBe(0)
    expect(o.stderr).toContain('REPJS_BAD_ARGUMENT')
  }
}, 120_000)
