/**
 * `repjs run`: run an unmodified Node script as one replica of a run. The script runs in a worker
 * thread with patched globals (run/patches.ts); this thread owns the replica, answers the worker's
 * bridge calls with agreed values, feeds the worker's stdin with agreed input lines, forwards its
 * stdout (quiet while replaying, with --quiet-replay), and exits with the script's exit code.
 */
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import type { Replica } from '../../core/replica.js'
import type { RandomMode } from '../../core/random.js'
import { attachTerminal } from '../input/terminal.js'
import { BRIDGE_BYTES, BridgeBuffer, RESPONSE } from './bridge.js'
import { DEFAULT_ONCE } from './patches.js'

const require = createRequire(import.meta.url)
const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url))

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
  /** Echo lines typed on other replicas to stdout (default: when stdout is a terminal). */
  echo?: boolean
  log: (msg: string) => void
}

export async function runScript(opts: RunOptions): Promise<number> {
  const { rep } = opts
  const script = resolve(opts.script)
  let once = opts.localFs ? [] : [...DEFAULT_ONCE]
  for (const o of opts.once) once = o.startsWith('-') ? once.filter((x) => x !== o.slice(1)) : [...once, o]
  const sab = new SharedArrayBuffer(8 + BRIDGE_BYTES)
  const bridge = new BridgeBuffer(sab)
  const worker = new Worker(workerFile, {
    workerData: { sab, script, argv: opts.args, once, siteBase: dirname(script) + '/' },
    stdin: true,
    stdout: true,
    stderr: false,
  })

  let live = !opts.quietReplay
  if (!live) {
    const stop = rep.on('status', (s) => {
      if (s.state === 'live') {
        live = true
        stop()
      }
    })
    if (rep.status.state === 'live') live = true
  }
  worker.stdout.on('data', (chunk: Buffer) => {
    if (live) process.stdout.write(chunk)
  })

  const perform = async (op: string, name: string, args: unknown[]): Promise<unknown> => {
    switch (op) {
      case 'now':
        return opts.medianQuorum ? rep.now({ mode: 'median', quorum: opts.medianQuorum }) : rep.now()
      case 'perf': {
        // performance.now() is agreed time since the script's first performance.now() call.
        const t = (await perform('now', name, args)) as number
        perfBase ??= t
        return t - perfBase
      }
      case 'random':
        return rep.random({ mode: opts.random })
      case 'uuid':
        return rep.randomUUID()
      case 'bytes':
        return rep.getRandomValues(new Uint8Array(args[0] as number))
      case 'once': {
        const [mod, fn] = name.split('.') as [string, string]
        const target = require(mod === 'fs' ? 'node:fs' : mod) as Record<string, (...a: unknown[]) => unknown>
        return rep.distributedLocked(() => target[fn]!(...args), { name })()
      }
      case 'input':
        return rep.input()
      default:
        throw new Error(`unknown bridge op ${op}`)
    }
  }
  let perfBase: number | undefined
  const answer = async () => {
    const [op, name, args, site] = bridge.read() as [string, string, unknown[], string]
    let response: [boolean, unknown]
    try {
      response = [true, await rep.withCallSite(site, () => perform(op, name, args))]
    } catch (err) {
      response = [false, err]
    }
    bridge.write(response, RESPONSE)
    Atomics.notify(bridge.ctl, 0)
  }

  let feeding = false
  const feedStdin = async () => {
    if (feeding) return
    feeding = true
    attachTerminal(rep, { eofEndsInput: opts.eofEndsInput, echo: opts.echo ?? process.stdout.isTTY, output: { write: (s: string) => live && process.stdout.write(s) } })
    for (;;) {
      const line = await rep.input().catch(() => null)
      if (line === null) return void worker.stdin!.end()
      worker.stdin!.write(line + '\n')
    }
  }

  worker.on('message', (m: string) => {
    if (m === 'call') void answer()
    else if (m === 'stdin') void feedStdin()
  })
  return new Promise((resolvePromise) => {
    worker.on('error', (err) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    })
    worker.on('exit', (code) => resolvePromise(code))
  })
}
