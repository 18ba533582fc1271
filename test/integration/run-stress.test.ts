/**
 * The bridge race of issue 11, on the real thing: three `repjs run` replicas of a script making
 * 4,000 Math.random() calls, started together beside a CPU-bound process (the late wake-up that
 * made one replica diverge silently needs a descheduled host). Every trial's replicas must print
 * the same line and exit 0. Two trials here; REPJS_LONG=1 (npm run test:long) runs 100.
 */
import { spawn } from 'node:child_process'
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { outcome, runReplica, settled } from '../helpers/run-script.js'

const etcd = useEtcd()
const TRIALS = process.env.REPJS_LONG ? 100 : 2
/** A trial takes ~10 s here beside the burner and the rest of the suite: 30 s each, 2 minutes at least. */
const TIMEOUT_MS = Math.max(120_000, TRIALS * 30_000)

test(`3 replicas of a 4,000-call script agree in each of ${TRIALS} trials beside a CPU-bound process`, async () => {
  // Busy for at most the test's timeout, and stopped (by PID) as soon as the trials are done.
  const burner = spawn(process.execPath, ['-e', `const end = Date.now() + ${TIMEOUT_MS}; while (Date.now() < end);`], { stdio: 'ignore' })
  const burnerDone = settled(burner)
  try {
    for (let t = 0; t < TRIALS; t++) {
      const run = uniqueRun('pi')
      // stdin open and silent, as a FIFO that never sends
      const outs = await Promise.all([0, 1, 2].map(() => outcome(runReplica('pi.js', { run, etcd: etcd.endpoint, stdin: 'pipe' }))))
      for (const o of outs) expect(o, `trial ${t}`).toMatchObject({ code: 0, stderr: '' })
      expect(outs[0]!.stdout).toMatch(/^pi ~ [\d.]+ from 4000 values; fingerprint \d+\n$/)
      expect(outs.map((o) => o.stdout), `trial ${t}`).toEqual([outs[0]!.stdout, outs[0]!.stdout, outs[0]!.stdout])
    }
  } finally {
    burner.kill('SIGKILL')
    await burnerDone
  }
}, TIMEOUT_MS)
