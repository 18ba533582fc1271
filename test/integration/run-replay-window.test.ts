/**
 * The replay window (core/script/replay-window.ts, replay-host.ts): a plain script's worker answers
 * a call whose slot is already decided from the decided records the host shares with it, with no
 * host round trip, and the host still takes every such slot itself, in order (its log position and
 * status are what they would have been). A call that does not match its decided slot still goes to
 * the host, which stops the replica with REPJS_DIVERGED naming the script's site. A real worker
 * thread (test/fixtures/replay-window-worker.mjs) on the built modules, a real etcd.
 */
import { Worker } from 'node:worker_threads'
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import type { Replica } from '../../core/replica.js'
import type { RepJSError } from '../../core/errors.js'

const etcd = useEtcd()
const dist = new URL('../../dist/', import.meta.url).href
const fixture = new URL('../fixtures/replay-window-worker.mjs', import.meta.url)
// All from dist/, as the worker loads them (one codec, one class of each).
const { connect } = (await import(`${dist}node-gateway/index.js`)) as typeof import('../../node-gateway/index.js')
const { ScriptBridge } = (await import(`${dist}core/script/bridge.js`)) as typeof import('../../core/script/bridge.js')
const { answerRequest, serveRequests } = (await import(`${dist}core/script/answer.js`)) as typeof import('../../core/script/answer.js')
const { createPerform } = (await import(`${dist}core/script/calls.js`)) as typeof import('../../core/script/calls.js')
const { ReplayHost } = (await import(`${dist}core/script/replay-host.js`)) as typeof import('../../core/script/replay-host.js')

const CYCLE = ['Date.now', 'Math.random', 'performance.now', 'crypto.randomUUID', 'new Date'] as const
const calls = (n: number) => Array.from({ length: n }, (_, i) => CYCLE[i % CYCLE.length]!)

/** Run `names` in a worker against `rep`, counting the requests that reach the host. */
async function script(rep: Replica, names: string[]) {
  const bridge = ScriptBridge.create(1 << 16)
  const perform = createPerform({ rep, random: 'call' })
  let stoppedWith: RepJSError | undefined
  const stop = (err: RepJSError) => void (stoppedWith ??= err)
  const replay = new ReplayHost({ decided: bridge.replay, rep, perform, random: 'call', stop })
  let requests = 0
  let ended = false
  const worker = new Worker(fixture, { workerData: { dist, sab: bridge.sab, calls: names } })
  const serving = serveRequests(bridge, () => (requests++, answerRequest({ bridge, rep, perform, stop, stoppedWith: () => stoppedWith, replay })), () => ended, { host: replay, stopped: () => stoppedWith !== undefined })
  const result = await new Promise<{ values?: unknown[]; stopped?: { code: string; message: string } }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  await worker.terminate()
  ended = true
  bridge.interrupt()
  await serving
  return { ...result, requests, stoppedWith }
}

test('a replaying worker answers decided slots itself; the host takes each of them, in order', async () => {
  const run = uniqueRun('replay-window')
  const names = calls(300)
  const first = await connect({ run, etcd: etcd.endpoint, program: 'replay-window' })
  const live = await script(first, names)
  expect(live.stoppedWith).toBeUndefined()
  expect(live.requests).toBe(300) // nothing decided ahead: every call crosses
  await first.close()

  const again = await connect({ run, etcd: etcd.endpoint, program: 'replay-window' })
  const replayed = await script(again, names)
  expect(replayed.stoppedWith).toBeUndefined()
  expect(replayed.values).toEqual(live.values)
  // Without the window every call is a request; with it only the first (nothing granted yet) and
  // one each time the worker runs past what the host has granted.
  expect(replayed.requests).toBeLessThan(30)
  expect(again.status).toMatchObject({ slot: 300, head: 299, state: 'live' })
  // The next call takes slot 300 (a new one), and agreed time goes on from the replayed log's.
  const t = await again.now({ name: 'Date.now' })
  expect(t).toBeGreaterThanOrEqual(live.values![295] as number)
  expect(again.status.slot).toBe(301)
  await again.close()
})

test('a call that does not match its decided slot in the window still diverges, with its site', async () => {
  const run = uniqueRun('replay-window-diverge')
  const first = await connect({ run, etcd: etcd.endpoint, program: 'replay-window' })
  const names = calls(100)
  expect((await script(first, names)).stoppedWith).toBeUndefined()
  await first.close()

  const other = await connect({ run, etcd: etcd.endpoint, program: 'replay-window' })
  const changed = [...names]
  changed[57] = 'Math.random' // slot 57 was crypto.randomUUID's
  const r = await script(other, changed)
  expect(r.values).toBeUndefined()
  expect(r.stopped?.code).toBe('REPJS_DIVERGED')
  expect(r.stoppedWith?.code).toBe('REPJS_DIVERGED')
  expect(r.stoppedWith?.message).toContain('slot 57')
  expect(r.stoppedWith?.message).toContain('replay-window-worker.mjs:') // the script's call site
  expect(r.requests).toBeLessThan(10)
  await other.close()
})
