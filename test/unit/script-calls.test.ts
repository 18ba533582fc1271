// The plain-script contract is one table (core/script/calls.ts): `repjs run`'s worker
// (node-gateway/run/patches.ts, which adds node:crypto and the run-once calls) and runInWorker's
// (browser/worker-boot.ts, core's installAgreedGlobals alone) make the same calls, under the same
// names and ops, for what a script does in both runtimes; every name either side makes is in the
// table, and the browser side makes every call the table does not mark Node-only. Real builtins,
// patched in a worker thread (built modules), with a bridge call that records.
import { Worker } from 'node:worker_threads'
import { expect, test } from 'vitest'
import { CALLS } from '../../core/script/calls.js'

const dist = (f: string) => JSON.stringify(new URL(`../../dist/${f}`, import.meta.url).href)

const WORKER = `
const { parentPort } = require('node:worker_threads')
;(async () => {
  const { installPatches } = await import(${dist('node-gateway/run/patches.js')})
  const { installAgreedGlobals } = await import(${dist('core/script/patches.js')})
  const { Patcher } = await import(${dist('core/script/patcher.js')})
  const answers = { now: 1700000000000, perf: 5, random: 0.25, uuid: '00000000-0000-4000-8000-000000000000', input: null }
  const recorder = (calls) => (op, name, args) => {
    calls.push(op + ' ' + name)
    return op === 'bytes' ? new Uint8Array(args[0]) : answers[op]
  }
  // What a plain script does in either runtime
  const script = () => {
    Date.now(); new Date(); Date(); new Date(2020, 1, 2); performance.now(); Math.random()
    crypto.randomUUID(); crypto.getRandomValues(new Uint32Array(2)); prompt('name?')
    const f = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'long' })
    formatted.push(f.format(), f.formatToParts().map((part) => part.value).join(''), f.format(0))
    if (f.format !== f.format) throw new Error('format is not one bound function')
  }
  const formatted = []
  const node = []
  const undo = installPatches(recorder(node), { once: ['fs.renameSync'], stdin: () => null })
  script()
  undo()
  const browser = []
  const p = new Patcher()
  installAgreedGlobals(p, recorder(browser), { write: () => {} })
  script()
  p.restore()
  parentPort.postMessage({ node, browser, formatted })
})().catch((err) => parentPort.postMessage({ error: String(err.stack) }))
`

test('repjs run and runInWorker install the same calls for what a script does in both, as the call table names them', async () => {
  const worker = new Worker(WORKER, { eval: true })
  const result = (await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })) as { node: string[]; browser: string[]; formatted: string[]; error?: string }
  await worker.terminate()
  expect(result.error).toBeUndefined()
  expect(result.browser).toEqual([
    'now Date.now', 'now new Date', 'now Date', 'perf performance.now', 'random Math.random',
    'uuid crypto.randomUUID', 'bytes crypto.getRandomValues', 'input prompt',
    'now Intl.DateTimeFormat', 'now Intl.DateTimeFormat',
  ])
  // Intl.DateTimeFormat's format() without a date formats the agreed time (1700000000000), not the clock's
  // (the script runs twice: under repjs run's patches, then the browser's)
  expect(result.formatted).toEqual([1, 2].flatMap(() => ['November 14, 2023', 'November 14, 2023', 'January 1, 1970']))
  expect(result.node).toEqual(result.browser)
  const table = CALLS as Record<string, { op: string; nodeOnly?: true }>
  const nameOf = (call: string) => call.slice(call.indexOf(' ') + 1)
  for (const call of result.browser) expect(table[nameOf(call)]?.op, call).toBe(call.split(' ')[0])
  expect(new Set(result.browser.map(nameOf))).toEqual(new Set(Object.keys(table).filter((n) => !table[n]!.nodeOnly)))
})
