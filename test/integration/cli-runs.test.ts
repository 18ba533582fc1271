// The run lifecycle commands as a user types them (built dist/): `repjs run --run-ttl`, `repjs runs`
// (table and --json), `repjs runs rm`, a replica of a deleted run failing with REPJS_RUN_GONE, `--new`.
import { expect, test } from 'vitest'
import { useEtcd, uniqueRun } from '../helpers/etcd.js'
import { parseDuration } from '../../node-gateway/cli/runs.js'
import { cli, outcome, runReplica, spawnNode } from '../helpers/run-script.js'

const etcd = useEtcd()
const repjs = (...args: string[]) => outcome(spawnNode([cli, ...args], {}))

test('repjs run --run-ttl, repjs runs, repjs runs rm, then REPJS_RUN_GONE and --new', async () => {
  const run = uniqueRun('cli-runs')
  const first = await outcome(runReplica('randint.js', { run, etcd: etcd.endpoint, flags: ['--run-ttl', '1h'] }))
  expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/^drew \d/) })

  const table = await repjs('runs', '--etcd', etcd.endpoint)
  expect(table.code).toBe(0)
  expect(table.stdout.split('\n')[0]).toMatch(/^RUN +PROGRAM +PRESENT +SLOTS +SIZE +CREATED +LAST ACTIVITY +TTL +GONE$/)
  const row = table.stdout.split('\n').find((l) => l.startsWith(run))!
  expect(row).toMatch(new RegExp(`^${run} +script:\\S+ +0 +main=1 +\\d+ B +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d .* 1h +-$`))
  const json = await repjs('runs', '--etcd', etcd.endpoint, '--json')
  const listed = json.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { run: string })
  expect(listed.find((r) => r.run === run)).toMatchObject({ run, ttlMs: 3_600_000, gone: false, present: 0, streams: { main: 1 } })

  const rm = await repjs('runs', 'rm', run, '--etcd', etcd.endpoint)
  expect(rm).toMatchObject({ code: 0, stdout: expect.stringContaining(`deleted run ${run}: 2 keys`) })
  const gone = await outcome(runReplica('randint.js', { run, etcd: etcd.endpoint }))
  expect(gone.code).toBe(1)
  expect(gone.stderr).toMatch(/Run '.*' was deleted at .*--new.*\[REPJS_RUN_GONE\]/)

  const again = await outcome(runReplica('randint.js', { run, etcd: etcd.endpoint, flags: ['--new', '--verbose'] }))
  expect(again).toMatchObject({ code: 0, stderr: expect.stringContaining('(created the run)') })

  expect(await repjs('runs', 'rm', uniqueRun('nothing'), '--etcd', etcd.endpoint)).toMatchObject({ code: 1, stderr: expect.stringContaining('does not exist') })
}, 60_000)

test('--run-ttl durations', () => {
  expect([parseDuration('1500ms', '--run-ttl'), parseDuration('90s', '--run-ttl'), parseDuration('1.5h', '--run-ttl'), parseDuration('2d', '--run-ttl')])
    .toEqual([1500, 90_000, 5_400_000, 172_800_000])
  for (const bad of ['5', '1 week', '-1s', 'h']) expect(() => parseDuration(bad, '--run-ttl')).toThrow(/--run-ttl takes a duration with a unit/)
})
