/**
 * The script's thread under `repjs run` (and `repjs run --audit`): installs the patches, then
 * starts the unmodified script as the main module, CommonJS or ESM (Module.runMain, so
 * `require.main === module` holds and process.argv is the script's). Non-deterministic calls
 * block on the bridge while the main thread agrees them with the other replicas.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { installAudit, type AuditRecord } from './audit.js'
import type { RepJSError } from '../../core/errors.js'
import { ScriptBridge } from '../../core/script/bridge.js'
import type { ScriptCall } from '../../core/script/calls.js'
import { createScriptCall } from '../../core/script/script-call.js'
import { createSiteReader, inScriptLayer } from '../../core/script/site.js'
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

/** This folder (the worker's glue, the Node patches), as a URL and as a path. */
const runUrl = new URL('./', import.meta.url).href
const runPath = fileURLToPath(runUrl)
/**
 * Call sites: the first frame outside RepJS (this folder, core/script/) and Node's internals,
 * relative to the script's folder. From V8's frame objects unless Node source-maps the stack's text.
 */
const sites = createSiteReader({
  isOwn: (file) => file.startsWith(runUrl) || file.startsWith(runPath) || inScriptLayer(file),
  base: () => data.siteBase,
  frames: !process.sourceMapsEnabled,
})

/** One number for each input read of the script, prompt() or stdin, in the order it made them. */
let inputReads = 0
const inputTicket = () => inputReads++
const stdin = () => workerStdin(data.stdinPort, inputTicket)

if (data.mode === 'audit') {
  const seen = new Map<string, AuditRecord>()
  installAudit((name, mark, note) => {
    const site = sites.ofStack(sites.stack(), true)
    if (!site) return // Node's own internals, not the script
    let r = seen.get(name)
    if (!r) seen.set(name, (r = { name, mark, note, count: 0, sites: {} }))
    r.count++
    r.sites[site] = (r.sites[site] ?? 0) + 1
  }, { once: data.once, stdin })
  process.on('exit', () => port.postMessage({ audit: [...seen.values()] }))
} else {
  const bridge = new ScriptBridge(data.sab!)
  const viaBridge = createScriptCall({
    bridge,
    site: sites,
    stopped(err) {
      // RepJS stopped the replica, or the bridge answered another call: the script must not go on.
      // The host stops the replica (if it has not already).
      port.postMessage({ stop: { code: (err as RepJSError).code, message: err.message } })
      for (;;) Atomics.wait(bridge.ctl, 0, Atomics.load(bridge.ctl, 0)) // until the host terminates this thread
    },
    live: (live) => {
      if (live && quiet) quiet = false
    },
  })
  // Input reads (prompt() here, stdin reads through their port) are numbered in the script's order.
  const call: ScriptCall = (op, name, args, patched) => viaBridge(op, name, op === 'input' ? [inputTicket()] : args, patched)
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
