/**
 * The script's thread under `repjs run` (and `repjs run --audit`): installs the patches, then
 * starts the unmodified script as the main module, CommonJS or ESM (Module.runMain, so
 * `require.main === module` holds and process.argv is the script's). Non-deterministic calls
 * block on the bridge while the main thread agrees them with the other replicas.
 */
import { createRequire } from 'node:module'
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { installAudit, type AuditRecord } from './audit.js'
import type { RepJSError } from '../../core/errors.js'
import { BridgeBuffer } from './bridge.js'
import { installPatches } from './patches.js'
import { trackState } from './state-check.js'
import { workerStdin } from './stdin.js'
import { installZone, type AgreedZone } from '../../core/script/zone.js'

export interface WorkerData {
  mode: 'run' | 'audit'
  sab?: SharedArrayBuffer
  script: string
  argv: string[]
  once: string[]
  siteBase: string
  stdinPort: MessagePort
  /** The script's stdout, sent to the host at once (a worker's own stdout stream is flushed only
   * by its event loop, which a blocking bridge call stops). Absent in audit mode. */
  outPort?: MessagePort
  /** --quiet-replay while there is a log to replay: drop the script's output until live. */
  quiet?: boolean
  /** --check-every N: agree a hash of what the script consumed and wrote every N agreed calls. */
  checkEvery?: number
  /** The run's agreed time zone and locale (core/script/zone.ts), installed before the script starts. */
  zone?: AgreedZone
}

const data = workerData as WorkerData
const port = parentPort!
const require = createRequire(import.meta.url)

/**
 * The first stack frame outside RepJS and Node's internals, relative to the script's folder.
 * `direct`: only a call made by the script (or a library) itself counts, not one Node's internals
 * make on its behalf (readline reading process.env.TERM): those give ''.
 */
function siteOf(stack: string | undefined, direct = false): string {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    if (line.includes('/node-gateway/run/')) continue
    if (line.includes('(node:') || line.includes('at node:')) {
      if (direct) return ''
      continue
    }
    // "at fn (/path with spaces/x.js:3:7)" or "at /path/x.js:3:7", paths possibly file:// URLs
    const m = /\(((?:file:\/\/)?\/.*):(\d+):(\d+)\)$/.exec(line) ?? /at ((?:file:\/\/)?\/.*):(\d+):(\d+)$/.exec(line)
    if (m) return siteAt(m[1]!, m[2]!)
  }
  return ''
}

/** A site of the script: its file (an absolute path or a file:// URL) relative to the script's folder, and the line. */
function siteAt(fileOrUrl: string, line: string | number | null): string {
  const path = fileOrUrl.startsWith('file://') ? decodeURIComponent(fileOrUrl.slice(7)) : fileOrUrl
  return `${path.startsWith(data.siteBase) ? path.slice(data.siteBase.length) : path}:${line}`
}

/** A stack of `depth` frames (40 gets past readline and stream internals to the script's frame). */
function stackNow(depth = 40): string | undefined {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = depth
  const stack = new Error().stack
  Error.stackTraceLimit = limit
  return stack
}

/**
 * The same site as `siteOf(stackNow(depth))`, read from V8's frame objects instead of the stack's
 * text: formatting every frame was most of the bridge's own cost per call. Only when Node applies
 * no source maps (`--enable-source-maps` maps the text, not the frames); otherwise undefined.
 */
const framesAsIs = (_err: Error, frames: NodeJS.CallSite[]) => frames
function siteFromFrames(depth: number): string | undefined {
  if (process.sourceMapsEnabled) return undefined
  const limit = Error.stackTraceLimit
  const prepare = Error.prepareStackTrace
  const holder: { stack?: NodeJS.CallSite[] } = {}
  try {
    Error.stackTraceLimit = depth
    Error.prepareStackTrace = framesAsIs
    Error.captureStackTrace(holder, siteFromFrames)
    for (const f of holder.stack ?? []) {
      const name = f.getFileName()
      if (!name || name.includes('/node-gateway/run/') || !/^(file:\/\/)?\//.test(name)) continue
      return siteAt(name, f.getLineNumber())
    }
    return ''
  } finally {
    Error.stackTraceLimit = limit
    Error.prepareStackTrace = prepare
  }
}

/** One number for each input read of the script, prompt() or stdin, in the order it made them. */
let inputReads = 0
const inputTicket = () => inputReads++
const stdin = () => workerStdin(data.stdinPort, inputTicket)

if (data.mode === 'audit') {
  const seen = new Map<string, AuditRecord>()
  installAudit((name, mark, note) => {
    const site = siteOf(stackNow(), true)
    if (!site) return // Node's own internals, not the script
    let r = seen.get(name)
    if (!r) seen.set(name, (r = { name, mark, note, count: 0, sites: {} }))
    r.count++
    r.sites[site] = (r.sites[site] ?? 0) + 1
  }, { once: data.once, stdin })
  process.on('exit', () => port.postMessage({ audit: [...seen.values()] }))
} else {
  const bridge = new BridgeBuffer(data.sab!)
  const call = (op: string, name: string, args: unknown[]): unknown => {
    // Most calls come straight from the script: a short stack is cheaper to format; go deep only
    // when the script's frame is further down (calls made from inside readline, streams, ...).
    let site = siteFromFrames(8) || siteFromFrames(40)
    if (site === undefined) site = siteOf(stackNow(8)) || siteOf(stackNow())
    let reply: unknown[]
    try {
      reply = bridge.call([op, name, op === 'input' ? [inputTicket()] : args, site])
    } catch (err) {
      // A response that is not this call's: the script must not go on. The host stops the replica.
      port.postMessage({ stop: { code: (err as RepJSError).code, message: (err as Error).message } })
      for (;;) Atomics.wait(bridge.ctl, 0, Atomics.load(bridge.ctl, 0)) // until the host terminates this thread
    }
    const [ok, value, live] = reply as [boolean, unknown, boolean?]
    if (live && quiet) quiet = false
    if (!ok) {
      // An agreed error (e.g. ENOENT from a run-once rename): show where the script called, as
      // Node would, not where the replica that ran it did.
      if (value instanceof Error) {
        const frames = (stackNow() ?? '').split('\n').slice(1).filter((l) => !l.includes('/node-gateway/run/'))
        value.stack = [`${value.name}: ${value.message}`, ...frames.slice(0, 10)].join('\n')
      }
      throw value
    }
    return value
  }
  let quiet = Boolean(data.quiet)
  const tracker = data.checkEvery ? trackState(call, data.checkEvery) : undefined
  const out = data.outPort
  // A final null tells the host every chunk before it has been sent (messages on a port stay in order).
  if (out) process.on('exit', () => out.postMessage(null))
  if (out) {
    const stream = process.stdout
    stream.write = function (chunk: unknown, ...rest: unknown[]) {
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined
      if (!quiet || tracker) {
        const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8'
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk as Uint8Array)
        tracker?.output(bytes)
        if (!quiet) out.postMessage(bytes)
      }
      if (cb) queueMicrotask(cb)
      return true
    } as typeof stream.write
  }
  if (quiet) {
    const write = process.stderr.write
    process.stderr.write = function (this: typeof process.stderr, chunk: unknown, ...rest: unknown[]) {
      if (!quiet) return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined
      if (cb) queueMicrotask(cb)
      return true
    } as typeof process.stderr.write
  }
  if (data.zone) installZone(data.zone) // before the agreed Date, which wraps the zoned one
  installPatches(tracker?.call ?? call, { once: data.once, stdin })
}

process.argv = [process.argv[0]!, data.script, ...data.argv]
;(require('node:module') as { runMain(main?: string): void }).runMain(data.script)
