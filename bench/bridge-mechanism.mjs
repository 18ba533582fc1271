/**
 * The `repjs run` bridge's own cost per live call (issue 14), without etcd: a worker thread makes N
 * Date.now()-shaped calls through core/script/script-call.js (site read, request, Atomics.wait), and
 * the host answers each through serveRequests + answerRequest with a perform that returns at once
 * (the replica only names the site's scope). Beside it, the bare mechanism (bench/bridge.mjs's
 * bareRoundTrip). Prints µs per call, interleaved rounds, for each dist/ root given.
 *
 *   node bench/bridge-mechanism.mjs <N> <rounds> <root> [<root> ...]
 */
import { Worker } from 'node:worker_threads'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { bareRoundTrip } from './bridge.mjs'

const [nArg, roundsArg, ...roots] = process.argv.slice(2)
const N = Number(nArg)

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
;(async () => {
  const d = (f) => workerData.dist + f
  const { ScriptBridge } = await import(d('core/script/bridge.js'))
  const { createScriptCall } = await import(d('core/script/script-call.js'))
  const { createSiteReader } = await import(d('core/script/site.js'))
  const sites = createSiteReader({ isOwn: (f) => f.includes('/dist/'), base: () => '/', frames: true })
  const call = createScriptCall({ bridge: new ScriptBridge(workerData.sab), site: sites, stopped: (e) => { throw e } })
  const loop = (n) => { let last = 0; for (let i = 0; i < n; i++) last = call('now', 'Date.now', []); return last }
  loop(2000)
  const t0 = process.hrtime.bigint()
  loop(workerData.n)
  parentPort.postMessage(Number(process.hrtime.bigint() - t0) / 1e3 / workerData.n)
})()`

async function once(root) {
  const dist = pathToFileURL(join(root, 'dist') + '/').href
  const { ScriptBridge } = await import(dist + 'core/script/bridge.js')
  const { answerRequest, serveRequests } = await import(dist + 'core/script/answer.js')
  const bridge = ScriptBridge.create()
  const rep = { withCallSite: (site, f) => f() }
  let t = 1e12
  const perform = () => Promise.resolve(++t)
  let ended = false
  const w = new Worker(WORKER, { eval: true, workerData: { dist, sab: bridge.sab, n: N } })
  const serving = serveRequests(bridge, () => answerRequest({ bridge, rep, perform, stop: () => {}, stoppedWith: () => undefined }), () => ended)
  const us = await new Promise((r, j) => (w.once('message', r), w.once('error', j)))
  ended = true
  await w.terminate()
  bridge.interrupt()
  await serving
  return us
}

const res = {}
for (let r = 0; r < Number(roundsArg); r++) {
  for (const root of roots) (res[root] ??= []).push(await once(root))
  ;(res.bare ??= []).push(await bareRoundTrip(N))
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
for (const [k, xs] of Object.entries(res)) console.log(`${k.padEnd(26)} ${median(xs).toFixed(1)} µs/call  [${xs.map((x) => x.toFixed(1)).join(' ')}]`)
