// Terminal replicas: a line typed into one process's stdin is echoed on the other as if typed
// there; the end of a pipe does not end input for others unless asked to.
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { finished, startReplica } from '../helpers/replicas.js'

const etcd = useEtcd()

test('lines typed on either terminal reach both; a pipe that ends only stops contributing', async () => {
  const run = uniqueRun('term')
  const a = startReplica('prompt.mjs', { REPJS_RUN: run, REPJS_ETCD: etcd.endpoint, PROMPT_NAME: 'alpha', EOF_ENDS: '1' }, [], 'pipe')
  const b = startReplica('prompt.mjs', { REPJS_RUN: run, REPJS_ETCD: etcd.endpoint, PROMPT_NAME: 'bravo' }, [], 'pipe')
  a.proc.stdin!.write('heading 270\n')
  await b.lines(2)
  b.proc.stdin!.write('roll\n')
  b.proc.stdin!.end() // bravo's pipe ends: it keeps following
  await a.lines(2)
  a.proc.stdin!.end() // alpha was started with eofEndsInput: this ends input for everyone
  const [oa, ob] = await Promise.all([finished(a), finished(b)])
  expect(oa).toBe('got heading 270\nroll   [typed on bravo]\ngot roll\nend\n')
  expect(ob).toBe('heading 270   [typed on alpha]\ngot heading 270\ngot roll\nend\n')
})
