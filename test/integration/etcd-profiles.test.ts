/**
 * The clusters RepJS starts really run with the profile's Raft timings and with auto-compaction:
 * etcd logs the configuration it parsed when it starts ("starting an etcd server"), read back here.
 */
import { describe, expect, it } from 'vitest'
import { startCluster } from '../helpers/etcd.js'

async function startedWith(opts: Parameters<typeof startCluster>[1]): Promise<string> {
  let log = ''
  // --log-level info comes after RepJS's own flags (extraArgs win): etcd then logs its parsed config.
  const c = await startCluster(1, { ...opts, extraArgs: ['--log-level', 'info'], onLog: (l) => (log += l) })
  await c.stop()
  return log
}

describe('local etcd flags', () => {
  it('--profile us-japan: etcd runs with heartbeat 400 ms, election 4 s; compaction keeps 10,000 revisions', async () => {
    const log = await startedWith({ profile: 'us-japan' })
    expect(log).toContain('"heartbeat-interval":"400ms","election-timeout":"4s"')
    // etcd prints a revision retention as a duration in ns: 10000 -> "10µs".
    expect(log).toContain('"auto-compaction-mode":"revision","auto-compaction-retention":"10µs"')
  })

  it('no profile: the test timing, heartbeat 50 ms, election 500 ms', async () => {
    const log = await startedWith({})
    expect(log).toContain('"heartbeat-interval":"50ms","election-timeout":"500ms"')
  })

  it('an unknown profile fails before anything is spawned', async () => {
    await expect(startCluster(1, { profile: 'moon' })).rejects.toMatchObject({ code: 'REPJS_BAD_ARGUMENT' })
  })
})
