/**
 * A/B of the `repjs run` bridge (issue 14): one run of N Date.now() calls is recorded live, then
 * replayed under `repjs run` by each build in turn (interleaved rounds), and by the async API's
 * replay (bench/replica.mjs on a log of its own). Per kind: the script's loop time per call
 * (bench/date-loop.mjs's figure) and the wall time of the whole process, spawn to exit.
 *
 *   node bench/bridge-replay-ab.mjs <etcd endpoint> <N> <rounds> <build A root> [<build B root> ...]
 */
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const [endpoint, nArg, roundsArg, ...roots] = process.argv.slice(2)
const N = Number(nArg)
const ID = Date.now().toString(36)
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

function runScript(root, run, label) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [join(root, 'dist/node-gateway/cli/main.js'), 'run', '--run', run, '--etcd', endpoint, join(HERE, 'date-loop.mjs'), String(N)], { encoding: 'utf8' })
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
  const done = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((m) => m.type === 'done')
  if (r.status !== 0 || !done) throw new Error(`${label}: exit ${r.status}: ${r.stderr}`)
  return { loopUs: (done.elapsedMs * 1000) / N, p50Us: done.p50Us, wallMs, cpuUs: done.cpuUsPerCall }
}

function runAsync(root, run) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [join(root, 'bench/replica.mjs'), run, String(N), endpoint], { encoding: 'utf8' })
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
  const done = JSON.parse(r.stdout.trim().split('\n').pop())
  return { loopUs: (done.elapsedMs * 1000) / N, p50Us: done.p50Us, wallMs, cpuUs: done.cpuUsPerCall }
}

const runs = roots.map((root, i) => {
  const run = `ab-${ID}-${i}`
  runScript(root, run, `record ${root}`)
  return run
})
const asyncRun = `ab-async-${ID}`
runAsync(roots[0], asyncRun)
const res = {}
for (let r = 0; r < Number(roundsArg); r++) {
  for (const [i, root] of roots.entries()) (res[root] ??= []).push(runScript(root, runs[i], root))
  ;(res.async ??= []).push(runAsync(roots[0], asyncRun))
}
for (const [k, xs] of Object.entries(res)) {
  console.log(`${k.padEnd(28)} replay loop ${median(xs.map((x) => x.loopUs)).toFixed(1)} µs/call (p50 ${median(xs.map((x) => x.p50Us)).toFixed(1)}), process CPU in the loop ${median(xs.map((x) => x.cpuUs)).toFixed(1)} µs/call, process wall ${median(xs.map((x) => x.wallMs)).toFixed(0)} ms  [${xs.map((x) => x.loopUs.toFixed(1)).join(' ')}]`)
}
