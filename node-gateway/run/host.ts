/**
 * `repjs run`: run an unmodified Node script as one replica of a run. The script runs in a worker
 * thread with patched globals (run/patches.ts); this thread owns the replica, answers the worker's
 * bridge calls with agreed values, answers each read of the script's stdin with the next agreed
 * input line (run/stdin.ts), forwards its stdout (quiet while replaying, with --quiet-replay), and
 * resolves to the script's exit code.
 * Everything RepJS itself says goes to stderr; stdout carries only what the script writes (and,
 * on a terminal, lines typed on other replicas, echoed as if typed here).
 */
import { dirname, resolve } from 'node:path'
import { MessageChannel, Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { ErrorCodes, RepJSError, stopsReplica, type ErrorCode } from '../../core/errors.js'
import type { Replica } from '../../core/replica.js'
import type { RandomMode } from '../../core/random.js'
import { answerRequest, serveRequests } from '../../core/script/answer.js'
import { ScriptBridge } from '../../core/script/bridge.js'
import { createPerform, EXIT_STOPPED } from '../../core/script/calls.js'
import { ReplayHost } from '../../core/script/replay-host.js'
import { attachTerminal } from '../input/terminal.js'
import { inputOrder } from './input-order.js'
import { agreedZone } from '../../core/script/zone.js'
import { DEFAULT_ONCE, onceTarget } from './patches.js'
import { serveStdin } from './stdin.js'

const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url))

/** Exit code of a replica stopped by RepJS itself (divergence, a fatal store error). */
export { EXIT_STOPPED }

export interface RunOptions {
  script: string
  args: string[]
  /** The replica (connected by the CLI). */
  rep: Replica
  random: RandomMode
  /** Median time with this quorum (undefined: monotonic). */
  medianQuorum?: number
  /** Run fs calls on every replica instead of once (replicas on separate disks). */
  localFs: boolean
  /** Extra run-once functions ('module.function'); names prefixed with '-' are removed. */
  once: string[]
  quietReplay: boolean
  eofEndsInput: boolean
  /** Agree a hash of what the script consumed and wrote every this many agreed calls (run/state-check.ts). */
  checkEvery?: number
  /** Who decides those checks (rep.check's quorum; default: the run's replicas, else the first replica). */
  checkQuorum?: number
  /** Echo lines typed on other replicas to stdout (default: when stdout is a terminal). */
  echo?: boolean
  /** Type this process's stdin lines as input (default true; `repjs replay` takes every line from the log). */
  terminal?: boolean
  /**
   * An error that stops the replica (a divergence, a fatal store error): by default it is printed to
   * stderr and the exit code is EXIT_STOPPED; with this, it is reported here, which returns the exit code.
   */
  onStop?: (err: RepJSError) => number
  log: (msg: string) => void
}

/** The run-once function list from --local-fs and --once (also what --audit marks as run once). */
export function resolveOnce(localFs: boolean, once: string[]): string[] {
  let list = localFs ? [] : [...DEFAULT_ONCE]
  for (const o of once) list = o.startsWith('-') ? list.filter((x) => x !== o.slice(1)) : list.includes(o) ? list : [...list, o]
  for (const name of list) onceTarget(name) // fail early on a name that is not a function
  return list
}

/** Resolve when everything written to stdout so far has been handed to the OS. */
export function flushStdout(): Promise<void> {
  return new Promise((done) => (process.stdout.writableLength ? process.stdout.write('', () => done()) : done()))
}

/** Wait until the replica knows where the log stands (the first read of the main stream is done). */
function settled(rep: Replica, ms = 10_000): Promise<void> {
  if (rep.status.state !== 'connecting') return Promise.resolve()
  return new Promise((done) => {
    const t = setTimeout(finish, ms)
    const stop = rep.on('status', (s) => s.state !== 'connecting' && finish())
    function finish() {
      clearTimeout(t)
      stop()
      done()
    }
  })
}

export async function runScript(opts: RunOptions): Promise<number> {
  const { rep, log } = opts
  const script = resolve(opts.script)
  const once = resolveOnce(opts.localFs, opts.once)
  const bridge = ScriptBridge.create()
  const stdinChannel = new MessageChannel()
  const outChannel = new MessageChannel()
  // The worker ends its output with null; wait for it (not for the port's close, which may overtake
  // the last chunks) before exiting.
  let outEnded!: () => void
  const outDone = new Promise<void>((r) => (outEnded = r))
  outChannel.port1.on('message', (chunk: Uint8Array | null) => (chunk === null ? outEnded() : process.stdout.write(chunk)))

  // --quiet-replay: the worker drops the script's output until a bridge answer says this replica
  // is live (it has used every slot the log held), so what is printed is exactly what the script
  // writes from then on. Whether there is a log to replay is known once the first read is done.
  let quiet = false
  if (opts.quietReplay) {
    await settled(rep)
    quiet = rep.status.state !== 'live'
    log(quiet ? `replaying the run's log quietly (head slot ${rep.status.head})` : 'nothing to replay')
  }
  const live = () => !opts.quietReplay || rep.status.state === 'live'
  const worker = new Worker(workerFile, {
    workerData: { mode: 'run', sab: bridge.sab, script, argv: opts.args, once, siteBase: dirname(script) + '/', stdinPort: stdinChannel.port2, outPort: outChannel.port2, quiet, checkEvery: opts.checkEvery, zone: agreedZone(rep) },
    transferList: [stdinChannel.port2, outChannel.port2],
    stdout: true,
    stderr: false,
  })
  log(`script ${script} started in a worker; run-once: ${once.join(', ') || '(none)'}`)
  if (quiet) {
    const stop = rep.on('status', (s) => {
      if (s.state === 'live') {
        log('live: printing output from here on')
        stop()
      }
    })
  }
  worker.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk))
  const echo = (s: string) => live() && process.stdout.write(s)

  let finish!: (code: number) => void
  const finished = new Promise<number>((r) => (finish = r))
  let stopped = false
  const stopReplica = (err: RepJSError) => {
    if (stopped) return
    stopped = true
    stoppedWith = err
    let code = EXIT_STOPPED
    if (opts.onStop) code = opts.onStop(err)
    else process.stderr.write(`repjs: ${err.code}: ${err.message}\n`)
    void worker.terminate().then(() => finish(code))
  }

  const order = inputOrder()
  const perform = createPerform({
    rep,
    random: opts.random,
    medianQuorum: opts.medianQuorum,
    input: (ticket) => {
      attachInput()
      return order.inTurn(ticket, () => rep.input())
    },
    more: {
      once: (name, args) => {
        const [target, fn] = onceTarget(name)
        // The arguments are part of the call's identity: a replica renaming to another name diverges.
        const run = (...a: unknown[]) => (target[fn] as (...x: unknown[]) => unknown)(...a.slice(0, -1)) // drop the AbortSignal
        return rep.distributedLocked(run, { name })(...args)
      },
      check: (name, args) => rep.check(args[0] as string, { quorum: opts.checkQuorum, name }),
    },
  })
  let stoppedWith: RepJSError | undefined
  // The main stream's decided records, shared with the worker: replayed calls need no round trip.
  const replay = new ReplayHost({ decided: bridge.replay, rep, perform, random: opts.random, medianQuorum: opts.medianQuorum, stop: stopReplica })
  const answer = () => answerRequest({ bridge, rep, perform, live, stop: stopReplica, stoppedWith: () => stoppedWith, replay })

  // Input: this replica's stdin races the other replicas' for each agreed line.
  let inputAttached = false
  const attachInput = () => {
    if (inputAttached || opts.terminal === false) return
    inputAttached = true
    attachTerminal(rep, { eofEndsInput: opts.eofEndsInput, echo: opts.echo ?? process.stdout.isTTY, output: { write: echo } })
  }
  // The script's stdin: one agreed line (or the agreed end of input) each time its stream asks.
  serveStdin(stdinChannel.port1, async (n) => {
    try {
      const line = await order.inTurn(n, () => rep.input())
      return line === null ? null : line + '\n'
    } catch (err) {
      if (stopsReplica(err) && err.code !== ErrorCodes.CLOSED) stopReplica(err)
      return undefined
    }
  }, attachInput)

  // Bridge requests: answered until the script's thread exits or RepJS stops the replica.
  let exited = false
  // (and at the end, the slots the worker answered from the replay window are taken here too)
  const serving = serveRequests(bridge, answer, () => stopped || exited, { host: replay, stopped: () => stopped })
  // The worker got a bridge response that was not its call's (it blocks until terminated).
  worker.on('message', (m: { stop?: { code: ErrorCode; message: string } }) => m.stop && stopReplica(new RepJSError(m.stop.code, m.stop.message)))
  worker.on('error', (err) => {
    // An uncaught exception in the script: reported as Node reports it; the worker exits with 1.
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  })
  worker.on('exit', (code) => {
    exited = true
    bridge.interrupt()
    if (stopped) return
    log(`script exited with code ${code}`)
    void Promise.race([outDone, new Promise((r) => setTimeout(r, 2000))])
      .then(() => serving)
      .then(() => !stopped && finish(code))
  })
  const code = await finished
  stdinChannel.port1.close()
  return code
}
