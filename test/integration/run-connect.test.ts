// `repjs run` pointed at an etcd that does not answer waits for it (connect() retries), and says so
// on stderr after a few seconds even without --verbose, instead of hanging silently.
import { expect, test } from 'vitest'
import { freePort, uniqueRun } from '../helpers/etcd.js'
import { runReplica } from '../helpers/run-script.js'

test('repjs run waiting for an unreachable etcd says so on stderr, then keeps waiting', async () => {
  const port = await freePort() // nothing listens there
  const p = runReplica('pi.js', { run: uniqueRun('unreachable'), etcd: `http://127.0.0.1:${port}` })
  try {
    await p.stderrHas('still connecting to the run (reconnecting')
    await p.stderrHas('npx repjs start') // what to do: a local etcd is one command away
    expect(p.proc.exitCode).toBeNull()
    expect(p.stdout).toBe('')
  } finally {
    await p.kill()
  }
}, 30_000)
