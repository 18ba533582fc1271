/**
 * The script's thread under `runInWorker()`: a module Web Worker that installs the patches (the
 * browser-worker subset of what node-gateway/run/patches.ts does under `repjs run`), then starts the
 * unmodified script: a classic script is evaluated in the worker's global scope (indirect eval with
 * a sourceURL, so it behaves as a classic script: sloppy mode, top-level declarations are globals,
 * stack frames name its URL), a module script is imported. Non-deterministic calls block in
 * Atomics.wait while the page agrees them with the other replicas (browser/worker-protocol.ts).
 *
 *   agreed:   Date (Date.now, new Date(), Date()), performance.now (agreed time since the first
 *             call), Math.random, crypto.randomUUID, crypto.getRandomValues, a global prompt()
 *             returning the next agreed input line (null at the end of input)
 *   output:   console.log / info / debug (stdout) and warn / error / trace (stderr) go to the page
 *   exit:     0 when the script has run and no timer or fetch is pending (or it calls close()),
 *             1 for an uncaught exception or unhandled rejection, 70 when RepJS stopped the replica
 */
import { installZone } from '../core/script/zone.js'
import {
  Bridge, errorData, STATE, TAG_BYTES, TAG_ERROR, TAG_NULL, TAG_NUMBER, TAG_STOPPED, TAG_STRING,
  NAMES, OPS, type ErrorData, type FromWorker, type InitMessage, type Name, type Op,
} from './worker-protocol.js'

/** What this file uses of a DedicatedWorkerGlobalScope (the project's types are DOM's). */
interface WorkerScope {
  postMessage(message: FromWorker): void
  addEventListener(type: string, listener: (e: any) => void, opts?: AddEventListenerOptions): void
  removeEventListener(type: string, listener: (e: any) => void): void
  close(): void
  setTimeout(fn: unknown, ms?: number, ...args: unknown[]): number
  setInterval(fn: unknown, ms?: number, ...args: unknown[]): number
  clearTimeout(id?: number): void
  clearInterval(id?: number): void
  fetch: typeof fetch
  prompt?: (message?: string) => string | null
  Date: DateConstructor
}

const scope = globalThis as unknown as WorkerScope
const post = (m: FromWorker) => scope.postMessage(m)
const realClose = scope.close.bind(scope)
const realSetTimeout = scope.setTimeout.bind(scope)
const realClearTimeout = scope.clearTimeout.bind(scope)
const realSetInterval = scope.setInterval.bind(scope)
const realClearInterval = scope.clearInterval.bind(scope)
const realFetch = scope.fetch.bind(scope)

/** This file's folder: frames from RepJS's own worker files are skipped when finding the call site. */
const ownUrl = import.meta.url.split('?')[0]!
const ownDir = ownUrl.slice(0, ownUrl.lastIndexOf('/') + 1) // (not new URL('./', import.meta.url): bundlers rewrite that)
const ownFile = /\/worker-(boot|protocol)\.[jt]s(\?|:|$)/
/** A frame of this bootstrap: this file (with the protocol, when bundled into one) or its sibling. */
const isOwn = (file: string) => {
  const f = file.split('?')[0]!
  return f === ownUrl || (f.startsWith(ownDir) && ownFile.test(f))
}

let siteBase = ''
let bridge: Bridge
let notifyByMessage = false
let exited = false

/** `file:line` relative to the script's folder (as `repjs run` records call sites). */
function relative(file: string, line: number | null): string {
  const plain = file.split('?')[0]!
  return `${plain.startsWith(siteBase) ? decodeURIComponent(plain.slice(siteBase.length)) : file}:${line ?? 0}`
}

/** The first frame outside RepJS's worker files, from a formatted stack (engines other than V8). */
function siteOf(stack: string | undefined): string {
  if (!stack) return ''
  const lines = stack.split('\n')
  for (let i = 0; i < lines.length; i++) {
    // V8 "    at fn (http://host/a.js:3:7)", "    at http://host/a.js:3:7"; Firefox/Safari "fn@http://host/a.js:3:7"
    const m = /((?:https?|blob|file):\/\/?[^\s()@]+?|\/[^\s()@]+?):(\d+):(\d+)\)?$/.exec(lines[i]!)
    if (!m || isOwn(m[1]!)) continue
    return relative(m[1]!, Number(m[2]))
  }
  return ''
}

interface V8CallSite {
  getScriptNameOrSourceURL?(): string | null | undefined
  getFileName(): string | null | undefined
  getLineNumber(): number | null
}
type ErrorWithV8 = ErrorConstructor & {
  prepareStackTrace?: (err: Error, frames: V8CallSite[]) => unknown
  captureStackTrace?: (target: object, above?: Function) => void
}
const V8Error = Error as ErrorWithV8
const framesOnly = (_: Error, frames: V8CallSite[]) => frames

/** `depth` structured frames (V8), starting below `above`, or the formatted stack elsewhere. */
function frames(above: Function, depth: number): V8CallSite[] | string | undefined {
  const prepare = V8Error.prepareStackTrace
  const limit = Error.stackTraceLimit
  V8Error.prepareStackTrace = framesOnly
  Error.stackTraceLimit = depth
  try {
    const holder: { stack?: unknown } = {}
    V8Error.captureStackTrace!(holder, above)
    return holder.stack as V8CallSite[] | string | undefined
  } finally {
    V8Error.prepareStackTrace = prepare
    Error.stackTraceLimit = limit
  }
}

function firstForeign(stack: V8CallSite[] | string | undefined): string {
  if (typeof stack === 'string') return siteOf(stack)
  if (!Array.isArray(stack)) return ''
  for (const f of stack) {
    const file = f.getScriptNameOrSourceURL?.() || f.getFileName()
    if (!file || isOwn(file)) continue
    return relative(file, f.getLineNumber())
  }
  return ''
}

/**
 * The script's call site: the frame that called `patched` (the patched function the script
 * called). In V8 (Chrome, Edge, Electron) one structured frame is captured below it, which costs
 * far less than a whole stack formatted as text; elsewhere the text is parsed.
 */
function siteNow(patched: Function): string {
  if (typeof V8Error.captureStackTrace !== 'function') return siteOf(new Error().stack)
  return firstForeign(frames(patched, 1)) || firstForeign(frames(siteNow, 16))
}

/** Call sites seen so far, numbered: a site's text crosses the bridge once. */
const siteIds = new Map<string, number>()

const ERRORS: Record<string, new (message: string) => Error> = { Error, TypeError, RangeError, SyntaxError }

/** Rebuild an error that crossed the bridge, with the script's stack rather than the page's. */
function rebuild(data: ErrorData, stack: string | undefined): Error {
  const err = new (ERRORS[data.name] ?? Error)(data.message)
  if (err.name !== data.name) Object.defineProperty(err, 'name', { value: data.name, writable: true, configurable: true })
  if (data.code) (err as Error & { code?: string }).code = data.code
  const frames = (stack ?? '').split('\n').slice(1).filter((l) => !l.includes(ownUrl) && !ownFile.test(l))
  err.stack = [`${data.name}: ${data.message}`, ...frames.slice(0, 10)].join('\n')
  return err
}

/** Report exit 70 and block until the page terminates this worker. */
function stopped(error: ErrorData): never {
  exit(70, error)
  for (;;) Atomics.wait(bridge.ctl, STATE, Atomics.load(bridge.ctl, STATE))
}

/** One synchronous call through the bridge: blocks until the page has the agreed value. */
function call(op: Op, name: Name, arg: number, patched: Function): unknown {
  if (exited) throw new Error('repjs: the script has ended')
  const site = siteNow(patched)
  let id = siteIds.get(site)
  const isNew = id === undefined
  if (isNew) siteIds.set(site, (id = siteIds.size))
  bridge.writeRequest(OPS.indexOf(op), NAMES.indexOf(name), arg, id!, isNew ? site : undefined)
  if (notifyByMessage) post({ t: 'call' })
  let response
  try {
    response = bridge.awaitResponse()
  } catch (err) {
    stopped(errorData(err)) // an answer to another call (REPJS_CORRUPT): never hand it to the script
  }
  const { tag, value } = response
  switch (tag) {
    case TAG_NUMBER:
    case TAG_STRING:
    case TAG_BYTES:
      return value
    case TAG_NULL:
      return null
    case TAG_ERROR:
      throw rebuild(value as ErrorData, new Error().stack)
    case TAG_STOPPED:
      // RepJS stopped the replica: the script must not go on with values the others never saw.
      return stopped(value as ErrorData)
    default:
      return undefined
  }
}

// ---- console → the page ---------------------------------------------------------------------

/** A small util.format: strings and numbers print exactly as Node prints them; objects roughly so. */
function format(args: unknown[]): string {
  if (args.length === 0) return ''
  let out = ''
  let rest = args
  if (typeof args[0] === 'string') {
    let i = 1
    out = args[0].replace(/%[sdifjoOc%]/g, (spec) => {
      if (spec === '%%') return '%'
      if (i >= args.length) return spec
      const a = args[i++]
      switch (spec) {
        case '%s':
          return typeof a === 'string' ? a : typeof a === 'bigint' ? `${a}n` : typeof a === 'object' && a !== null ? inspect(a, 1) : String(a)
        case '%d':
          return typeof a === 'bigint' ? `${a}n` : typeof a === 'object' ? 'NaN' : String(Number(a))
        case '%i':
          return typeof a === 'bigint' ? `${a}n` : String(parseInt(String(a), 10))
        case '%f':
          return String(parseFloat(String(a)))
        case '%j':
          try {
            return JSON.stringify(a)
          } catch {
            return '[Circular]'
          }
        case '%c':
          return ''
        default:
          return inspect(a)
      }
    })
    rest = args.slice(i)
  } else {
    out = inspect(args[0])
    rest = args.slice(1)
  }
  for (const a of rest) out += ' ' + (typeof a === 'string' ? a : inspect(a))
  return out
}

function inspect(v: unknown, depth = 2, seen: unknown[] = []): string {
  switch (typeof v) {
    case 'string':
      return seen.length ? `'${v.replace(/'/g, "\\'")}'` : v
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v)
    case 'bigint':
      return `${v}n`
    case 'undefined':
      return 'undefined'
    case 'boolean':
      return String(v)
    case 'symbol':
      return v.toString()
    case 'function':
      return `[Function: ${v.name || '(anonymous)'}]`
  }
  if (v === null) return 'null'
  if (v instanceof Error) return v.stack ?? `${v.name}: ${v.message}`
  if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()
  if (v instanceof RegExp) return String(v)
  if (seen.includes(v)) return '[Circular *1]'
  const inner = [...seen, v]
  const item = (x: unknown) => (typeof x === 'string' ? `'${x.replace(/'/g, "\\'")}'` : inspect(x, depth - 1, inner))
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const arr = Array.from(v as unknown as ArrayLike<number>)
    return `${v.constructor.name}(${arr.length}) [${arr.length ? ' ' + arr.map(String).join(', ') + ' ' : ''}]`
  }
  if (Array.isArray(v)) {
    if (depth < 0) return '[Array]'
    return v.length ? `[ ${v.map(item).join(', ')} ]` : '[]'
  }
  if (v instanceof Map) return `Map(${v.size}) {${v.size ? ' ' + [...v].map(([k, x]) => `${item(k)} => ${item(x)}`).join(', ') + ' ' : ''}}`
  if (v instanceof Set) return `Set(${v.size}) {${v.size ? ' ' + [...v].map(item).join(', ') + ' ' : ''}}`
  if (depth < 0) return '[Object]'
  const keys = Object.keys(v as object)
  const body = keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`}: ${item((v as Record<string, unknown>)[k])}`)
  const ctor = (v as object).constructor
  const prefix = ctor && ctor !== Object && ctor.name ? `${ctor.name} ` : Object.getPrototypeOf(v) === null ? '[Object: null prototype] ' : ''
  return `${prefix}${body.length ? `{ ${body.join(', ')} }` : '{}'}`
}

function installConsole(): void {
  const write = (stream: 'stdout' | 'stderr') => (...args: unknown[]) => post({ t: 'out', stream, text: format(args) + '\n' })
  for (const k of ['log', 'info', 'debug'] as const) console[k] = write('stdout')
  for (const k of ['warn', 'error'] as const) console[k] = write('stderr')
  console.trace = (...args: unknown[]) => {
    const frames = (new Error().stack ?? '').split('\n').slice(2).join('\n')
    post({ t: 'out', stream: 'stderr', text: `Trace: ${format(args)}\n${frames}\n` })
  }
}

// ---- the patches ----------------------------------------------------------------------------

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false })
}

function installPatches(): void {
  // Time
  const RealDate = Date
  function AgreedDate(this: unknown, ...args: unknown[]) {
    if (!new.target) return new RealDate(call('now', 'Date', 0, AgreedDate) as number).toString()
    return Reflect.construct(RealDate, args.length ? args : [call('now', 'new Date', 0, AgreedDate) as number], new.target)
  }
  Object.setPrototypeOf(AgreedDate, RealDate)
  Object.defineProperty(AgreedDate, 'name', { value: 'Date' })
  Object.defineProperty(AgreedDate, 'length', { value: 7 })
  AgreedDate.prototype = RealDate.prototype
  const now = () => call('now', 'Date.now', 0, now) as number
  define(AgreedDate, 'now', now)
  define(globalThis, 'Date', AgreedDate)
  const perfNow = () => call('perf', 'performance.now', 0, perfNow) as number
  define(performance, 'now', perfNow)

  // Randomness
  const random = () => call('random', 'Math.random', 0, random) as number
  define(Math, 'random', random)
  const c = globalThis.crypto
  const realGetRandomValues = c.getRandomValues.bind(c)
  const randomUUID = () => call('uuid', 'crypto.randomUUID', 0, randomUUID) as string
  define(c, 'randomUUID', randomUUID)
  const getRandomValues = <T extends ArrayBufferView | null>(view: T): T => {
    // the platform's own checks first (an integer typed array), on an empty copy; then its quota
    const Ctor = (view as unknown as { constructor: new (n: number) => ArrayBufferView }).constructor
    realGetRandomValues((ArrayBuffer.isView(view) && !(view instanceof DataView) ? new Ctor(0) : view) as ArrayBufferView & Uint8Array)
    const v = view as unknown as ArrayBufferView
    if (v.byteLength > 65536) {
      throw new DOMException(`Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (${v.byteLength}) exceeds the number of bytes of entropy available via this API (65536).`, 'QuotaExceededError')
    }
    new Uint8Array(v.buffer, v.byteOffset, v.byteLength).set(call('bytes', 'crypto.getRandomValues', v.byteLength, getRandomValues) as Uint8Array)
    return view
  }
  define(c, 'getRandomValues', getRandomValues)

  // Input: the browser's synchronous prompt(), returning the next agreed line
  const prompt = (message?: unknown) => {
    if (message !== undefined && message !== '') post({ t: 'out', stream: 'stdout', text: `${String(message)} ` })
    return call('input', 'prompt', 0, prompt) as string | null
  }
  define(globalThis, 'prompt', prompt)
}

// ---- when is the script done? ----------------------------------------------------------------
// A worker has no "event loop is empty" event, so the bootstrap tracks what keeps a Node script
// alive and the browser worker can have: timers and fetches. When none is pending after the script
// has run (and after each timer), the script has ended with exit code 0.

const timers = new Set<number>()
let fetches = 0
let started = false
let idleCheck = false
const tick = new MessageChannel()
tick.port1.onmessage = () => {
  idleCheck = false
  if (started && !exited && timers.size === 0 && fetches === 0) exit(0)
}
function checkIdle(): void {
  if (idleCheck) return
  idleCheck = true
  tick.port2.postMessage(null) // a macrotask: microtasks queued by the script run first
}

function installLifecycle(): void {
  const run = (fn: unknown, args: unknown[]) => {
    if (typeof fn === 'function') fn(...args)
    else (0, eval)(String(fn))
  }
  scope.setTimeout = (fn: unknown, ms?: number, ...args: unknown[]) => {
    const id: number = realSetTimeout(() => {
      timers.delete(id)
      try {
        run(fn, args)
      } finally {
        checkIdle()
      }
    }, ms)
    timers.add(id)
    return id
  }
  scope.clearTimeout = (id?: number) => {
    realClearTimeout(id)
    if (id !== undefined && timers.delete(id)) checkIdle()
  }
  scope.setInterval = (fn: unknown, ms?: number, ...args: unknown[]) => {
    const id: number = realSetInterval(() => run(fn, args), ms)
    timers.add(id)
    return id
  }
  scope.clearInterval = (id?: number) => {
    realClearInterval(id)
    if (id !== undefined && timers.delete(id)) checkIdle()
  }
  scope.fetch = (...args: Parameters<typeof fetch>) => {
    fetches++
    const p = realFetch(...args)
    const done = () => {
      fetches--
      checkIdle()
    }
    p.then(done, done)
    return p
  }
  // close() ends the script (like process.exit(0)).
  scope.close = () => exit(0)
  scope.addEventListener('error', (e: ErrorEvent) => {
    e.preventDefault()
    uncaught(e.error ?? e.message)
  })
  scope.addEventListener('unhandledrejection', (e: PromiseRejectionEvent) => {
    e.preventDefault()
    uncaught(e.reason)
  })
}

/** An uncaught exception: printed on stderr as Node prints it, exit code 1. */
function uncaught(err: unknown): void {
  if (exited) return
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `Uncaught ${inspect(err)}`
  post({ t: 'out', stream: 'stderr', text: text + '\n' })
  exit(1, errorData(err))
}

function exit(code: number, error?: ErrorData): void {
  if (exited) return
  exited = true
  for (const id of timers) {
    realClearTimeout(id)
    realClearInterval(id)
  }
  timers.clear()
  post({ t: 'exit', code, ...(error ? { error } : {}) })
  if (code !== 70) realClose()
}

/**
 * import(url) of a module script, hidden from bundlers: a dev server would otherwise rewrite a
 * dynamic import and load its own client (with its timers and console output) into the worker.
 */
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>

// ---- start ----------------------------------------------------------------------------------

async function start(init: InitMessage): Promise<void> {
  bridge = new Bridge(init.sab)
  notifyByMessage = init.notify === 'message'
  siteBase = new URL('./', init.url).href
  installConsole()
  if (init.zone) installZone(init.zone) // before the agreed Date, which wraps the zoned one
  installPatches()
  installLifecycle()
  try {
    if (init.type === 'module') await importModule(init.url)
    else (0, eval)(`${init.source ?? ''}\n//# sourceURL=${init.url}`)
  } catch (err) {
    uncaught(err)
    return
  }
  started = true
  checkIdle()
}

const onInit = (e: MessageEvent<InitMessage>) => {
  if (e.data?.t !== 'init') return
  scope.removeEventListener('message', onInit)
  void start(e.data)
}
scope.addEventListener('message', onInit)
