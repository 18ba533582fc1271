/**
 * When the script in its Web Worker has ended, and with which exit code, as a Node process would:
 *   0   when the script has run and no timer or fetch is pending (or it calls close()): a worker
 *       has no "event loop is empty" event, so the bootstrap tracks what keeps a Node script alive
 *       and a browser worker can have, timers and fetches, and checks after the script has run and
 *       after each timer
 *   1   an uncaught exception or unhandled rejection (printed on stderr as Node prints it)
 *   70  RepJS stopped the replica (the worker then blocks until the page terminates it)
 */
import { EXIT_STOPPED } from '../core/script/calls.js'
import { inspect } from './worker-console.js'
import { errorData, type ErrorData } from './worker-protocol.js'
import { post, scope } from './worker-scope.js'

const realClose = scope.close.bind(scope)
const realSetTimeout = scope.setTimeout.bind(scope)
const realClearTimeout = scope.clearTimeout.bind(scope)
const realSetInterval = scope.setInterval.bind(scope)
const realClearInterval = scope.clearInterval.bind(scope)
const realFetch = scope.fetch.bind(scope)

let exited = false
/** Whether the script has ended (no more calls). */
export const hasExited = () => exited

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

export function installLifecycle(): void {
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
export function uncaught(err: unknown): void {
  if (exited) return
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `Uncaught ${inspect(err)}`
  post({ t: 'out', stream: 'stderr', text: text + '\n' })
  exit(1, errorData(err))
}

export function exit(code: number, error?: ErrorData): void {
  if (exited) return
  exited = true
  for (const id of timers) {
    realClearTimeout(id)
    realClearInterval(id)
  }
  timers.clear()
  post({ t: 'exit', code, ...(error ? { error } : {}) })
  if (code !== EXIT_STOPPED) realClose()
}

/** The script has run to its end: from now on, no pending timer or fetch means exit 0. */
export function scriptRan(): void {
  started = true
  checkIdle()
}
