/**
 * The synchronous bridge of a plain script's worker (core/script/bridge.ts, the one `repjs run` and
 * `runInWorker` share), with a real worker thread on the built module: every call gets its own
 * answer, also when the host's wake-up for one answer arrives late, after the worker has already
 * taken that answer (it saw the state change before it waited) and is waiting for the next one.
 * Before the fix the late wake-up was taken for the next answer: the Node worker read its own
 * request as the answer, the browser worker the previous answer again. The host here reads a
 * request as soon as it sees the state REQUEST: the browser bridge once took the request's id from
 * a counter bumped after the state, and a host that read in between answered with the previous id
 * (REPJS_CORRUPT, about 1 run in 8 under load). The Chromium twin is in test/e2e/run-in-worker.test.ts.
 */
import { Worker } from 'node:worker_threads'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it, test } from 'vitest'

const dist = (f: string) => new URL(`../../dist/${f}`, import.meta.url).href
const fixture = new URL('../fixtures/bridge-worker.mjs', import.meta.url)
const REQUEST = 1

/** The host side of one bridge, as the test drives it. */
interface Host {
  sab: SharedArrayBuffer
  state(): number
  /** Read the pending request's number and answer it with twice that number. */
  answer(): void
  /** Answer without reading the request: a response that names no request of the worker's. */
  answerBlind(): void
}

async function hostOf(wake: (notify: () => void) => void): Promise<Host> {
  const { ScriptBridge } = await import(dist('core/script/bridge.js'))
  const bridge = ScriptBridge.create(1 << 16, { wake })
  return {
    sab: bridge.sab,
    state: () => bridge.state,
    answer: () => bridge.respond({ value: (bridge.request().args[0] as number) * 2 }),
    answerBlind: () => bridge.respond({ value: 0 }),
  }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setImmediate(r))
  }
}

/**
 * `calls` calls; with `late`, the host holds back its wake-up for every even call's answer until
 * the worker has written its next request (and has had time to block on it).
 */
async function exercise(calls: number, late: boolean, blindAt = -1) {
  let pending: (() => void) | undefined
  const wake = (notify: () => void) => (pending = notify)
  const host = await hostOf(wake)
  const worker = new Worker(fixture, { workerData: { module: dist('core/script/bridge.js'), sab: host.sab, calls, deschedule: late } })
  const values: unknown[] = []
  let error: { code?: string; message: string } | undefined
  let finished = false
  worker.on('message', (m: { value?: unknown; done?: true; error?: { code?: string; message: string } }) => {
    if ('value' in m) values.push(m.value)
    if (m.error) error = m.error
    if (m.done || m.error) finished = true
  })
  worker.once('error', (err) => ((error = { message: String(err) }), (finished = true)))
  try {
    for (let i = 0; i < calls && !finished; i++) {
      await until(() => host.state() === REQUEST || finished, `request ${i}`)
      if (finished) break
      if (i === blindAt) host.answerBlind()
      else host.answer()
      const notify = pending!
      if (late && i % 2 === 0) {
        // The worker takes this answer without blocking; wake it only once it waits for the next.
        await until(() => host.state() === REQUEST || finished, `request ${i + 1}`)
        await sleep(20)
      }
      notify()
    }
    await until(() => finished, 'the worker to finish')
  } catch (err) {
    error ??= { message: (err as Error).message }
  } finally {
    await worker.terminate()
  }
  return { values, error }
}

const expected = (n: number) => Array.from({ length: n }, (_, i) => i * 2)

describe('the plain-script bridge', () => {
  it('answers each call with its own response', async () => {
    const r = await exercise(200, false)
    expect(r.values).toEqual(expected(200))
    expect(r.error).toBeUndefined()
  })

  it('a late wake-up of an answer already taken does not answer the next call', async () => {
    const r = await exercise(40, true)
    expect(r.values).toEqual(expected(40))
    expect(r.error).toBeUndefined()
  })

  it('an answer that names another request is REPJS_CORRUPT, never a value', async () => {
    const r = await exercise(10, false, 3)
    expect(r.values).toEqual(expected(3))
    expect(r.error).toMatchObject({ code: 'REPJS_CORRUPT' })
  })
})

test('values of every kind cross the bridge as data, with new names and sites; an error crosses with its name', async () => {
  const { ScriptBridge } = await import(dist('core/script/bridge.js'))
  const bridge = ScriptBridge.create(1 << 16)
  const values = ['text ü', new Uint8Array([1, 2, 3]), null, undefined, { a: [1, 'b'], n: -0 }, 2.5, new Map([[1, 'one']]), 'the error']
  const worker = new Worker(fixture, { workerData: { module: dist('core/script/bridge.js'), sab: bridge.sab, values } })
  const got: unknown[] = []
  const seen: unknown[] = []
  const finished = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { done?: true }) => (m.done ? resolve() : got.push(m)))
    worker.once('error', reject)
  })
  for (let i = 0; i < values.length; i++) {
    await until(() => bridge.state === REQUEST, `request ${i}`)
    const r = bridge.request() as { op: string; name: string; args: unknown[]; site: string }
    seen.push([r.op, r.name, r.site])
    bridge.respond(r.name === 'throw' ? { error: new RangeError(String(r.args[0])) } : { value: r.args[0] })
  }
  await finished
  await worker.terminate()
  expect(seen).toEqual(values.map((_, i) => ['now', i === values.length - 1 ? 'throw' : `value-${i}`, `values.mjs:${i}`]))
  expect(got).toEqual([...values.slice(0, -1).map((value) => ({ value })), { error: { name: 'RangeError', message: 'the error', stopped: false } }])
})
