// The `repjs run` patches (and the --audit watching patches) change a worker thread only, answer
// through the bridge function while installed (also for ESM named imports of builtins), and are
// fully undone by their uninstall function.
import { Worker } from 'node:worker_threads'
import { expect, test } from 'vitest'

const dist = (f: string) => new URL(`../../dist/node-gateway/run/${f}`, import.meta.url).href

const WORKER = `
const { parentPort } = require('node:worker_threads')
;(async () => {
  const { installPatches } = await import(${JSON.stringify(dist('patches.js'))})
  const { installAudit } = await import(${JSON.stringify(dist('audit.js'))})
  const crypto = require('node:crypto'), fs = require('node:fs'), os = require('node:os'), readline = require('node:readline')
  const webProto = Object.getPrototypeOf(globalThis.crypto)
  const desc = (o, k) => { const d = Object.getOwnPropertyDescriptor(o, k); return d && (d.get ?? d.value) }
  const snapshot = () => ({
    Date, now: Date.now, random: Math.random, perf: performance.now, uuid: crypto.randomUUID, randomBytes: crypto.randomBytes,
    randomInt: crypto.randomInt, randomFillSync: crypto.randomFillSync, getRandomValues: webProto.getRandomValues,
    webUUID: webProto.randomUUID, renameSync: fs.renameSync, rename: fs.rename, promisesRename: fs.promises.rename,
    unlinkSync: fs.unlinkSync, readFileSync: fs.readFileSync, stdin: desc(process, 'stdin'), prompt: desc(globalThis, 'prompt'),
    hostname: os.hostname, loadavg: os.loadavg, env: process.env, pid: desc(process, 'pid'), hrtime: process.hrtime,
    memoryUsage: process.memoryUsage, createInterface: readline.createInterface, consoleTime: console.time,
  })
  const same = (a, b) => Object.keys(a).filter((k) => a[k] !== b[k])
  const before = snapshot()
  const esmBefore = (await import('node:crypto')).randomInt

  const calls = []
  const answer = { now: 1700000000000, perf: 1700000000250, random: 0.5, uuid: '00000000-0000-4000-8000-000000000000', once: 'renamed', input: 'typed' }
  const un = installPatches((op, name, args) => {
    calls.push(op + ' ' + name)
    if (op === 'bytes') return new Uint8Array(args[0]).fill(7)
    return answer[op]
  }, { once: ['fs.renameSync'], stdin: () => 'our stdin' })
  const during = {
    dateNow: Date.now(), newDate: new Date().getTime(), dateString: Date() === new Date(1700000000000).toString(),
    dateArgs: new Date(2020, 0, 2).getFullYear(), instance: new Date() instanceof Date,
    perf: performance.now(), random: Math.random(), randomInt: crypto.randomInt(10), randomIntRange: crypto.randomInt(10, 20),
    esmRandomInt: (await import('node:crypto')).randomInt(10), uuid: crypto.randomUUID(), webUUID: globalThis.crypto.randomUUID(),
    bytes: [...crypto.randomBytes(3)], gv: [...globalThis.crypto.getRandomValues(new Uint8Array(2))], nodeGv: [...crypto.getRandomValues(new Uint8Array(2))],
    rename: fs.renameSync('a', 'b'), renameP: await fs.promises.rename('a', 'b'),
    renameCb: await new Promise((r) => fs.rename('a', 'b', (err, v) => r(err ? String(err) : v))),
    prompt: globalThis.prompt(), stdin: process.stdin,
  }
  un()
  const afterRun = same(before, snapshot())
  const esmAfter = (await import('node:crypto')).randomInt === esmBefore

  const seen = []
  const unAudit = installAudit((name, mark) => seen.push(mark + ' ' + name), { once: ['fs.renameSync'], stdin: () => 'audit stdin' })
  Date.now(); new Date(); Math.random(); os.hostname(); process.pid; process.hrtime.bigint(); crypto.randomInt(3)
  try { fs.renameSync('/nonexistent/a', '/nonexistent/b') } catch {}
  unAudit()
  const afterAudit = same(before, snapshot())
  Date.now()
  parentPort.postMessage({ calls, during, afterRun, esmAfter, seen, afterAudit })
})().catch((err) => parentPort.postMessage({ error: String(err.stack) }))
`

test('run patches answer through the bridge while installed and are undone; audit patches likewise; the host is untouched', async () => {
  const realNow = Date.now
  const worker = new Worker(WORKER, { eval: true })
  const result = (await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })) as Record<string, unknown>
  await worker.terminate()
  expect(result.error).toBeUndefined()
  expect(result.during).toEqual({
    dateNow: 1700000000000, newDate: 1700000000000, dateString: true, dateArgs: 2020, instance: true,
    perf: 1700000000250, random: 0.5, randomInt: 5, randomIntRange: 15, esmRandomInt: 5,
    uuid: '00000000-0000-4000-8000-000000000000', webUUID: '00000000-0000-4000-8000-000000000000',
    bytes: [7, 7, 7], gv: [7, 7], nodeGv: [7, 7], rename: 'renamed', renameP: 'renamed', renameCb: 'renamed',
    prompt: 'typed', stdin: 'our stdin',
  })
  expect(result.calls).toEqual([
    'now Date.now', 'now new Date', 'now Date', 'now new Date', 'perf performance.now', 'random Math.random',
    'random crypto.randomInt', 'random crypto.randomInt', 'random crypto.randomInt', 'uuid crypto.randomUUID', 'uuid crypto.randomUUID',
    'bytes crypto.randomBytes', 'bytes crypto.getRandomValues', 'bytes crypto.getRandomValues',
    'once fs.renameSync', 'once fs.renameSync', 'once fs.renameSync', 'input prompt',
  ])
  expect(result.afterRun).toEqual([]) // every patched property is the original again
  expect(result.esmAfter).toBe(true)
  expect(result.seen).toEqual([
    'agreed Date.now()', 'agreed new Date()', 'agreed Math.random()', 'NOT replicated os.hostname()', 'NOT replicated process.pid',
    'NOT replicated process.hrtime.bigint()', 'agreed crypto.randomInt()', 'run once fs.renameSync()',
  ])
  expect(result.afterAudit).toEqual([])
  expect(Date.now).toBe(realNow)
  expect(Date.now()).toBeGreaterThan(1700000000000 + 1000)
})
