/**
 * The run's agreed time zone and locale under `repjs run`: the replica that creates the run records
 * its machine's (or --tz / --locale), the others adopt it whatever their own TZ and LANG, so a
 * script's local-time and locale output is the same on every replica, and equal to plain node's in
 * the recorded zone. A replica asking for another zone is refused with REPJS_ZONE_MISMATCH.
 */
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { outcome, plain, runReplica } from '../helpers/run-script.js'
import { connect } from '../../node-gateway/connect.js'

const etcd = useEtcd()
const TOKYO = { TZ: 'Asia/Tokyo', LANG: 'en_US.UTF-8', LC_ALL: 'en_US.UTF-8' }
const NEW_YORK = { TZ: 'America/New_York', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' }
/** The transcript without its last line (the agreed now, which plain node cannot know). */
const fixedPart = (s: string) => s.split('\n').slice(0, -2).join('\n')

test('replicas in different zones print the run creator\'s local time; another --tz is refused', async () => {
  const run = uniqueRun('zone')
  const first = await outcome(runReplica('local-time.js', { run, etcd: etcd.endpoint, env: TOKYO }))
  expect(first).toMatchObject({ code: 0, stderr: '' })
  const [second, mismatch, tokyo] = await Promise.all([
    outcome(runReplica('local-time.js', { run, etcd: etcd.endpoint, env: NEW_YORK })),
    outcome(runReplica('local-time.js', { run, etcd: etcd.endpoint, env: NEW_YORK, flags: ['--tz', 'America/New_York'] })),
    outcome(plain('local-time.js', [], { env: TOKYO })),
  ])
  expect(second).toEqual(first)
  expect(first.stdout).toContain('GMT+0900 (Japan Standard Time)')
  expect(fixedPart(first.stdout)).toBe(fixedPart(tokyo.stdout))
  expect(mismatch.code).not.toBe(0)
  expect(mismatch.stdout).toBe('')
  expect(mismatch.stderr).toContain('REPJS_ZONE_MISMATCH')
  expect(mismatch.stderr).toContain("'Asia/Tokyo'")
  // A library replica (not patched) reads the run's zone, whatever its own machine's.
  const rep = await connect({ run, etcd: etcd.endpoint, program: 'zone-reader', allowProgramMismatch: true, presence: false })
  try {
    expect([rep.timeZone, rep.locale, rep.info.timeZone]).toEqual(['Asia/Tokyo', 'en-US', 'Asia/Tokyo'])
  } finally {
    await rep.close()
  }
  const refused = connect({ run, etcd: etcd.endpoint, program: 'zone-reader', allowProgramMismatch: true, presence: false, locale: 'de-DE' })
  await expect(refused).rejects.toMatchObject({ code: 'REPJS_ZONE_MISMATCH', details: { what: 'locale', recorded: 'en-US', asked: 'de-DE' } })
})

test('--tz and --locale choose the run\'s zone and locale when this replica creates it', async () => {
  const run = uniqueRun('zone-tz')
  const flags = ['--tz', 'Europe/Paris', '--locale', 'fr-FR']
  const [ours, paris, bad] = await Promise.all([
    outcome(runReplica('local-time.js', { run, etcd: etcd.endpoint, env: NEW_YORK, flags })),
    outcome(plain('local-time.js', [], { env: { TZ: 'Europe/Paris', LANG: 'fr_FR.UTF-8', LC_ALL: 'fr_FR.UTF-8' } })),
    outcome(runReplica('local-time.js', { run: uniqueRun('zone-bad'), etcd: etcd.endpoint, flags: ['--tz', 'Mars/Olympus'] })),
  ])
  expect(ours).toMatchObject({ code: 0, stderr: '' })
  expect(ours.stdout).toMatch(/^1\s234,5$/mu) // fr-FR groups with a narrow no-break space
  expect(fixedPart(ours.stdout)).toBe(fixedPart(paris.stdout))
  expect(bad.code).not.toBe(0)
  expect(bad.stderr).toContain('REPJS_BAD_ARGUMENT')
  expect(bad.stderr).toContain('Mars/Olympus')
})
