// The runInWorker e2e page: exposes `window.rw` for the test to drive. Served with COOP/COEP
// (index.html) or without (plain.html, not crossOriginIsolated).
import { connect, runInWorker, type RunInWorkerOptions, type WorkerRun } from '../../../browser/index.js'
import { REQUEST, ScriptBridge } from '../../../core/script/bridge.js'

export interface Finished {
  exitCode: number
  stdout: string
  stderr: string
  error?: { code?: string; message: string }
  /** performance.now() on the page when each stdout line arrived. */
  at: number[]
}

export interface WorkerHarness {
  crossOriginIsolated: boolean
  /** Start a script; returns a handle id. */
  start(url: string, opts: RunInWorkerOptions): Promise<number>
  /** Wait for a started script to end. */
  finish(id: number): Promise<Finished>
  /** start + finish. */
  run(url: string, opts: RunInWorkerOptions): Promise<Finished>
  /** Type a line on a started script's replica (what <repjs-prompt> does on Enter). */
  type(id: number, line: string | null): void
  /** runInWorker's error, as data. */
  startError(url: string, opts: RunInWorkerOptions): Promise<{ code?: string; message: string; details?: unknown } | undefined>
  /** `warm` then N timed awaited rep.now() on the page (no worker), with this program id: ms elapsed for the N. */
  pageNow(opts: { gateway: string; run: string; program: string }, warm: number, n: number): Promise<{ ms: number; values: number[] }>
  /** The bridge's mechanism alone, no RepJS: µs per round trip of a worker blocking in Atomics.wait, answered at once. */
  bareRoundTrip(n: number): Promise<number>
  /**
   * `calls` calls through runInWorker's bridge from a Web Worker, the page holding back its wake-up
   * for every even call's answer until the worker waits for the next call: the answers it got.
   */
  lateWake(calls: number): Promise<{ values: unknown[]; error?: { code?: string; message: string } }>
}

declare global {
  interface Window {
    rw: WorkerHarness
  }
}

const handles = new Map<number, { job: WorkerRun; at: number[] }>()
let next = 1

window.rw = {
  crossOriginIsolated: globalThis.crossOriginIsolated,
  async start(url, opts) {
    const at: number[] = []
    const pre = document.getElementById('out')!
    const job = await runInWorker(url, {
      ...opts,
      onOutput(text, stream) {
        if (stream === 'stdout') at.push(performance.now())
        pre.append(text)
      },
    })
    const id = next++
    handles.set(id, { job, at })
    return id
  },
  async finish(id) {
    const { job, at } = handles.get(id)!
    const exit = await job.done
    const err = exit.error as (Error & { code?: string }) | undefined
    return {
      exitCode: exit.exitCode,
      stdout: job.stdout(),
      stderr: job.output.filter((o) => o.stream === 'stderr').map((o) => o.text).join(''),
      ...(err ? { error: { code: err.code, message: err.message } } : {}),
      at,
    }
  },
  async run(url, opts) {
    return this.finish(await this.start(url, opts))
  },
  type(id, line) {
    const rep = handles.get(id)!.job.replica
    if (line === null) rep.endInput()
    else rep.typeLine(line)
  },
  async startError(url, opts) {
    try {
      const job = await runInWorker(url, opts)
      job.terminate()
      return undefined
    } catch (e) {
      const err = e as Error & { code?: string; details?: unknown }
      return { code: err.code, message: err.message, details: err.details }
    }
  },
  async pageNow(opts, warm, n) {
    const rep = await connect({ ...opts, name: 'page' })
    const values: number[] = []
    for (let i = 0; i < warm; i++) values.push(await rep.now({ name: 'Date.now' }))
    const t = performance.now()
    for (let i = 0; i < n; i++) values.push(await rep.now({ name: 'Date.now' })) // as the worker's Date.now() is logged
    const ms = performance.now() - t
    await rep.close()
    return { ms, values }
  },
  async lateWake(calls) {
    let pending: (() => void) | undefined
    const bridge = ScriptBridge.create(1 << 16, { wake: (notify) => (pending = notify) })
    const worker = new Worker(new URL('./bridge-worker.ts', import.meta.url), { type: 'module' })
    const values: unknown[] = []
    let error: { code?: string; message: string } | undefined
    let finished = false
    worker.onmessage = (e: MessageEvent<{ value?: unknown; done?: true; error?: { code?: string; message: string } }>) => {
      if ('value' in e.data) values.push(e.data.value)
      if (e.data.error) error = e.data.error
      if (e.data.done || e.data.error) finished = true
    }
    const tick = () => new Promise((r) => setTimeout(r, 0))
    const until = async (cond: () => boolean, what: string) => {
      const end = performance.now() + 5000
      while (!cond()) {
        if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
        await tick()
      }
    }
    const requested = () => bridge.state === REQUEST || finished
    worker.postMessage({ sab: bridge.sab, calls })
    try {
      for (let i = 0; i < calls && !finished; i++) {
        await until(requested, `request ${i}`)
        if (finished) break
        bridge.respond({ value: (bridge.request().args[0] as number) * 2 })
        const notify = pending!
        if (i % 2 === 0) {
          await until(requested, `request ${i + 1}`)
          await new Promise((r) => setTimeout(r, 20))
        }
        notify()
      }
      await until(() => finished, 'the worker to finish')
    } catch (err) {
      error ??= { message: (err as Error).message }
    } finally {
      worker.terminate()
    }
    return { values, ...(error ? { error } : {}) }
  },
  bareRoundTrip(n) {
    const src = `onmessage = (e) => {
      const ctl = new Int32Array(e.data, 0, 4)
      const round = () => { Atomics.store(ctl, 0, 1); Atomics.add(ctl, 3, 1); Atomics.notify(ctl, 3); Atomics.wait(ctl, 0, 1) }
      for (let i = 0; i < 200; i++) round()
      const t = performance.now()
      for (let i = 0; i < ${n}; i++) round()
      postMessage((performance.now() - t) * 1000 / ${n})
    }`
    const worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })))
    const sab = new SharedArrayBuffer(16)
    const ctl = new Int32Array(sab)
    let seen = 0
    let done = false
    void (async () => {
      while (!done) {
        const w = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> } }).waitAsync(ctl, 3, seen)
        if (w.async) await w.value
        seen = Atomics.load(ctl, 3)
        Atomics.store(ctl, 0, 2)
        Atomics.notify(ctl, 0)
      }
    })()
    return new Promise((resolve) => {
      worker.onmessage = (e: MessageEvent<number>) => {
        done = true
        Atomics.add(ctl, 3, 1)
        Atomics.notify(ctl, 3)
        worker.terminate()
        resolve(e.data)
      }
      worker.postMessage(sab)
    })
  },
}
