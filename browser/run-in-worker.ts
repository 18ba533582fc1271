/**
 * `runInWorker(url, { gateway, run })`: `repjs run` for the browser. A plain script, never written
 * for replication, runs unchanged in a Web Worker as one replica of a run; the tabs running it and
 * `repjs run` processes running the same file (same bytes, so the same program id) agree on every
 * value. In the worker (browser/worker-boot.ts) Date, performance.now, Math.random,
 * crypto.randomUUID / getRandomValues and a global prompt() are replaced by agreed ones that stay
 * synchronous: the worker blocks in Atomics.wait on a SharedArrayBuffer while this thread agrees
 * the value through the replica (core/script/bridge.ts, the bridge `repjs run` uses; the calls, their
 * names and how they are agreed are core/script/calls.ts's). Hence the page must be
 * crossOriginIsolated (COOP + COEP headers).
 *
 *   const job = await runInWorker('/scripts/counter.js', { gateway: 'ws://127.0.0.1:7420', run: 'r1',
 *     onOutput: (text) => pre.append(text) })
 *   const { exitCode } = await job.done
 */
import { ErrorCodes, RepJSError, badArgument, type ErrorCode } from '../core/errors.js'
import { fingerprint } from '../core/hash.js'
import type { RandomMode } from '../core/random.js'
import type { Replica } from '../core/replica.js'
import { answerRequest, serveRequests, waitAsync } from '../core/script/answer.js'
import { ScriptBridge } from '../core/script/bridge.js'
import { createPerform, EXIT_STOPPED, EXIT_TERMINATED } from '../core/script/calls.js'
import { ReplayHost } from '../core/script/replay-host.js'
import { connect } from './connect.js'
import type { ErrorData, FromWorker, InitMessage } from './worker-protocol.js'
import { agreedZone } from '../core/script/zone.js'

/** Exit code of a replica stopped by RepJS itself (divergence, a fatal store error), as `repjs run`; 143 after terminate(). */
export { EXIT_STOPPED, EXIT_TERMINATED }

export interface RunInWorkerOptions {
  /** Gateway URL(s), e.g. 'ws://127.0.0.1:7420'. Required. */
  gateway: string | string[]
  /** Run id shared by every replica (tabs and `repjs run --run R`). Required. */
  run: string
  /** The run token, if the gateway requires tokens (`repjs token --run R`). */
  token?: string
  /**
   * Program id recorded with the run. Default `script:<fingerprint of the script's bytes>`, the
   * same id `repjs run` gives the same file, so tabs and Node processes join one run.
   */
  program?: string
  /** Who typed a line (shown with input lines); default the replica id. */
  name?: string
  /** Mode of Math.random() (default 'call'), as `repjs run --random`. */
  random?: RandomMode
  /** 'classic' (default): a plain script, run in the worker's global scope. 'module': imported. */
  type?: 'classic' | 'module'
  /** The script's output, in order: what console.log etc. print (with the newline), prompt() messages. */
  onOutput?: (text: string, stream: 'stdout' | 'stderr') => void
  /** Keep decided slots in IndexedDB (default true), as connect(). */
  cache?: boolean
  /**
   * The run's time zone and locale (the script's local time) if this tab creates the run; default
   * this browser's. Later replicas adopt the run's; asking for another is REPJS_ZONE_MISMATCH.
   */
  timeZone?: string
  locale?: string
}

export interface WorkerOutput {
  stream: 'stdout' | 'stderr'
  text: string
}

export interface WorkerExit {
  /** 0 when the script ended, 1 for an uncaught exception, 70 when RepJS stopped the replica, 143 after terminate(). */
  exitCode: number
  /** Why RepJS stopped the replica (exit code 70), or the uncaught exception (exit code 1). */
  error?: Error
}

export interface WorkerRun {
  /** Resolves when the script has ended (the replica is closed by then). */
  done: Promise<WorkerExit>
  /** Stop the script and close the replica (done resolves with exit code 143). */
  terminate(): void
  /** The replica the page runs for the worker: type lines with replica.typeLine(), watch replica.on('status'). */
  replica: Replica
  /** The script's output so far. */
  output: WorkerOutput[]
  /** Everything the script wrote to stdout so far, as one string (what `repjs run` would print). */
  stdout(): string
}

export const NOT_ISOLATED =
  'runInWorker() needs a crossOriginIsolated page, and this page is not (self.crossOriginIsolated is false): ' +
  'the worker blocks on a SharedArrayBuffer with Atomics.wait, which browsers allow only then. ' +
  'Serve the page with the headers "Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" ' +
  '(or "credentialless"), over https: or from localhost; vite: server.headers in vite.config.ts, as this project does.'

function fromData(data: ErrorData | undefined): Error | undefined {
  if (!data) return undefined
  const err = data.code?.startsWith('REPJS_') ? new RepJSError(data.code as ErrorCode, data.message) : new Error(data.message)
  if (!RepJSError.is(err)) err.name = data.name
  if (data.stack) err.stack = data.stack
  return err
}

/**
 * Run the script at `url` in a Web Worker as one replica of `run`. Resolves once the replica is
 * connected and the worker started; `done` resolves when the script ends.
 */
export async function runInWorker(url: string | URL, opts: RunInWorkerOptions): Promise<WorkerRun> {
  if (!opts || typeof opts !== 'object') throw badArgument("runInWorker(url, { gateway: 'ws://127.0.0.1:7420', run: 'my-run' }) needs options")
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== true) {
    throw new RepJSError(ErrorCodes.SETUP, NOT_ISOLATED, {
      details: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
    })
  }
  const type = opts.type ?? 'classic'
  if (type !== 'classic' && type !== 'module') throw badArgument(`runInWorker(): type must be 'classic' or 'module', got ${String(type)}`)
  const href = new URL(String(url), location.href).href

  // The script's bytes name the program, exactly as `repjs run` hashes the file it runs.
  let bytes: Uint8Array
  try {
    const res = await fetch(href)
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`)
    bytes = new Uint8Array(await res.arrayBuffer())
  } catch (err) {
    throw new RepJSError(ErrorCodes.SETUP, `runInWorker(): could not load the script ${href}: ${(err as Error).message}`, { cause: err })
  }
  const program = opts.program ?? `script:${fingerprint(bytes)}`
  const rep = await connect({
    gateway: opts.gateway, run: opts.run, token: opts.token, program, name: opts.name, random: opts.random, cache: opts.cache,
    timeZone: opts.timeZone, locale: opts.locale,
    compareSites: opts.program === undefined, // the program id is the script's hash: the same code, the same sites
  })

  const output: WorkerOutput[] = []
  const onOutput = opts.onOutput ?? ((text, stream) => (stream === 'stdout' ? console.log : console.error)(text.replace(/\n$/, '')))
  const bridge = ScriptBridge.create()
  const worker = new Worker(new URL('./worker-boot.js', import.meta.url), { type: 'module' })

  let finish!: (exit: WorkerExit) => void
  const done = new Promise<WorkerExit>((resolve) => (finish = resolve))
  let ended = false
  const end = (exit: WorkerExit) => {
    if (ended) return
    ended = true
    worker.terminate()
    bridge.interrupt() // let the answer loop see the end
    void rep.close().finally(() => finish(exit))
  }
  // Set when RepJS stops the replica: the worker hears it at its next call, or is ended now if idle.
  let stopError: RepJSError | undefined
  let busy = false
  const stopReplica = (err: RepJSError) => {
    if (stopError) return
    stopError = err
    if (!busy) end({ exitCode: EXIT_STOPPED, error: err })
  }

  // Each call is logged under the name of the function the script called (core/script/calls.ts),
  // so a tab and a `repjs run` process running the same script make identical calls.
  const perform = createPerform({ rep, random: opts.random ?? 'call' })
  // The main stream's decided records, shared with the worker: replayed calls need no round trip.
  const replay = new ReplayHost({ decided: bridge.replay, rep, perform, random: opts.random ?? 'call', stop: stopReplica })
  const answer = async (): Promise<void> => {
    busy = true
    try {
      await answerRequest({ bridge, rep, perform, stop: (err) => void (stopError ??= err), stoppedWith: () => stopError, replay })
    } finally {
      busy = false
    }
  }

  worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
    const m = e.data
    if (m.t === 'out') {
      output.push({ stream: m.stream, text: m.text })
      try {
        onOutput(m.text, m.stream)
      } catch (err) {
        console.error('repjs: onOutput threw', err)
      }
    } else if (m.t === 'exit') {
      end({ exitCode: m.code, error: m.code === EXIT_STOPPED ? (stopError ?? fromData(m.error)) : fromData(m.error) })
    } else if (m.t === 'call') void answer()
  })
  worker.addEventListener('error', (e: ErrorEvent) => {
    // The bootstrap itself failed to load (a script's own errors arrive as exit messages).
    e.preventDefault()
    const err = new RepJSError(ErrorCodes.SETUP, `runInWorker(): the worker bootstrap (repjs/browser worker-boot.js) could not start: ${e.message || 'load error'}`)
    output.push({ stream: 'stderr', text: err.message + '\n' })
    end({ exitCode: 1, error: err })
  })
  // A fatal replica error between calls (a divergence found by prefetch, a closed store) stops it too.
  rep.on('status', (s) => {
    if (s.state === 'closed' && !ended && !stopError) stopReplica(new RepJSError(ErrorCodes.CLOSED, `the replica closed: ${s.reason ?? 'closed'}`))
  })

  const init: InitMessage = {
    t: 'init', sab: bridge.sab, url: href, type, notify: waitAsync ? 'atomics' : 'message', zone: agreedZone(rep),
    ...(type === 'classic' ? { source: new TextDecoder().decode(bytes) } : {}),
  }
  worker.postMessage(init)
  // Requests: wait on the bridge's state word with Atomics.waitAsync (no message round trip), or, in
  // a browser without it, on the worker's { t: 'call' } messages.
  // The replica closes with the worker's end: the slots it answered from the window are not taken then.
  if (waitAsync) void serveRequests(bridge, answer, () => ended, { host: replay, stopped: () => true })

  return {
    done,
    replica: rep,
    output,
    stdout: () => output.filter((o) => o.stream === 'stdout').map((o) => o.text).join(''),
    terminate: () => end({ exitCode: EXIT_TERMINATED }),
  }
}
