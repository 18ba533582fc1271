// Several replica processes of the sample program agree on every value; a killed replica that is
// restarted, and a fourth replica started after the others finished, replay the same transcript.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { finished, startReplica } from '../helpers/replicas.js'

const etcd = useEtcd()

const sharedFile = () => join(mkdtempSync(join(tmpdir(), 'repjs-sample-')), 'shared.log')

test('3 replicas print identical transcripts; without RepJS they differ', async () => {
  const env = { REPJS_RUN: uniqueRun('sample'), REPJS_ETCD: etcd.endpoint, SAMPLE_STEPS: '12', SAMPLE_FILE: sharedFile() }
  const outs = await Promise.all([0, 1, 2].map(() => finished(startReplica('sample.mjs', env))))
  expect(outs[0]!.split('\n').filter(Boolean)).toHaveLength(12)
  expect(outs[1]).toBe(outs[0])
  expect(outs[2]).toBe(outs[0])
  expect(outs[0]).toContain('err=Error:E_LUCK:bad luck')
  // the run-once call ran exactly once per slot across the three replicas
  expect(readFileSync(env.SAMPLE_FILE, 'utf8').split('\n').filter(Boolean)).toEqual(['step 0', 'step 3', 'step 6', 'step 9'])

  const plain = { ...env, SAMPLE_PLAIN: '1', SAMPLE_FILE: sharedFile() }
  const [p1, p2] = await Promise.all([finished(startReplica('sample.mjs', plain)), finished(startReplica('sample.mjs', plain))])
  expect(p1).not.toBe(p2)
})

test('a killed replica restarts and replays; a late fourth replica gets the same transcript', async () => {
  const env = { REPJS_RUN: uniqueRun('restart'), REPJS_ETCD: etcd.endpoint, SAMPLE_STEPS: '30', SAMPLE_DELAY: '40', SAMPLE_FILE: sharedFile() }
  const a = startReplica('sample.mjs', env)
  const b = startReplica('sample.mjs', env)
  const c = startReplica('sample.mjs', env)
  await c.lines(8)
  await c.kill()
  const c2 = startReplica('sample.mjs', env)
  const [oa, ob, oc] = await Promise.all([finished(a), finished(b), finished(c2)])
  expect(oa.split('\n').filter(Boolean)).toHaveLength(30)
  expect(ob).toBe(oa)
  expect(oc).toBe(oa)
  const late = await finished(startReplica('sample.mjs', env))
  expect(late).toBe(oa)
  const lines = readFileSync(env.SAMPLE_FILE, 'utf8').split('\n').filter(Boolean)
  expect(lines).toEqual([...new Set(lines)])
})
