// The script's stdin under `repjs run` is fed on demand: the host takes the next agreed line (or the
// agreed end of input) only when the script's stream asks for one, so how fast lines are agreed
// never changes what the script sees. Before, every agreed line was pushed into the worker at once:
// lines agreed while the script's readline interface was closed piled up in the stream and reached
// the next interface in one burst, dropping all but the first (and delivering the end of input early).
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { outcome, runReplica, threeReplicas } from '../helpers/run-script.js'

const etcd = useEtcd()

const want = 'name? checked ada\ncolor? pet? ada likes blue and has a cat\n'

test('lines agreed while no interface reads wait for the next read; a replica started after the input ended sees the same', async () => {
  const run = uniqueRun('signup')
  // every line (and the end of input) is agreed long before the script's second interface asks
  const outs = await threeReplicas('signup.mjs', { run, etcd: etcd.endpoint, input: 'ada\nblue\ncat\n', args: ['300'] })
  for (const o of outs) expect(o).toEqual({ code: 0, stdout: want, stderr: '' })
  // the whole input is in the log before this one starts
  const late = await outcome(runReplica('signup.mjs', { run, etcd: etcd.endpoint, args: ['300'] }))
  expect(late).toEqual({ code: 0, stdout: want, stderr: '' })
})
