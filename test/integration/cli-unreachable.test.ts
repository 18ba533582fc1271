// The CLI against an etcd that is not there: a one-shot command (inspect, runs, cluster list) exits
// at once with status 1 and says what happened and what to do, never that it is retrying; a command
// that waits (run, replay) says it is waiting and how to start a local etcd, and keeps waiting.
import { expect, test } from 'vitest'
import { freePort, uniqueRun } from '../helpers/etcd.js'
import { cli, legacy, outcome, spawnNode } from '../helpers/run-script.js'

test('one-shot commands against an unreachable etcd exit 1, say so and say how to start one, without "retrying"', async () => {
  const etcd = `http://127.0.0.1:${await freePort()}` // nothing listens there
  const results = await Promise.all([
    ['inspect', '--run', 'x', '--etcd', etcd],
    ['runs', '--etcd', etcd],
    ['cluster', 'list', '--etcd', etcd],
  ].map((args) => outcome(spawnNode([cli, ...args], {}))))
  for (const r of results) {
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain(`etcd at ${etcd} is not reachable`)
    expect(r.stderr).toContain('npx repjs start')
    expect(r.stderr).not.toMatch(/retrying/i)
    expect(r.stderr).toContain('[REPJS_UNAVAILABLE]')
  }
}, 30_000)

test('repjs replay waiting for an unreachable etcd says so on stderr with how to start one, and keeps waiting', async () => {
  const etcd = `http://127.0.0.1:${await freePort()}`
  const p = spawnNode([cli, 'replay', '--run', uniqueRun('unreachable'), '--etcd', etcd, legacy('pi.js')], {})
  try {
    await p.stderrHas('still connecting')
    await p.stderrHas('npx repjs start')
    expect(p.proc.exitCode).toBeNull()
  } finally {
    await p.kill()
  }
}, 30_000)
