/**
 * What `repjs run` replaces inside the script's worker thread (never in the host process). Every
 * patch is recorded with its original so `uninstall()` restores it.
 *   agreed:   Date (Date.now, new Date(), Date()), performance.now, Math.random,
 *             crypto.randomUUID / getRandomValues / randomBytes / randomInt (node:crypto and
 *             globalThis.crypto), global prompt()
 *   run-once: fs.renameSync / unlinkSync / rmSync / rmdirSync / copyFileSync and their callback and
 *             promise forms (unless --local-fs), plus any --once function
 * Line input (process.stdin, node:readline, readline/promises) needs no patch: the host feeds the
 * worker's stdin with agreed lines.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export type SyncCall = (op: string, name: string, args: unknown[]) => unknown

interface Saved {
  target: object
  key: string
  desc: PropertyDescriptor | undefined
}

export const DEFAULT_ONCE = ['renameSync', 'unlinkSync', 'rmSync', 'rmdirSync', 'copyFileSync'].map((f) => `fs.${f}`)

export interface PatchOptions {
  /** fs functions (and extra `module.function` names) run once across replicas. */
  once: string[]
  onStdinUsed: () => void
}

export function installPatches(call: SyncCall, opts: PatchOptions): () => void {
  const saved: Saved[] = []
  const patch = (target: object, key: string, value: unknown) => {
    saved.push({ target, key, desc: Object.getOwnPropertyDescriptor(target, key) })
    Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false })
  }

  // Time
  const RealDate = Date
  const now = () => call('now', 'Date.now', []) as number
  function AgreedDate(this: unknown, ...args: unknown[]) {
    if (!new.target) return new RealDate(now()).toString()
    return Reflect.construct(RealDate, args.length ? args : [now()], new.target)
  }
  Object.setPrototypeOf(AgreedDate, RealDate)
  AgreedDate.prototype = RealDate.prototype
  ;(AgreedDate as unknown as { now: () => number }).now = now
  patch(globalThis, 'Date', AgreedDate)
  patch(performance, 'now', () => call('perf', 'performance.now', []) as number)

  // Randomness
  patch(Math, 'random', () => call('random', 'Math.random', []) as number)
  const crypto = require('node:crypto') as typeof import('node:crypto')
  const bytes = (n: number) => call('bytes', 'crypto.randomBytes', [n]) as Uint8Array
  const fill = <T extends ArrayBufferView>(view: T): T => {
    const b = bytes(view.byteLength)
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(b)
    return view
  }
  const uuid = () => call('uuid', 'crypto.randomUUID', []) as string
  patch(crypto, 'randomUUID', uuid)
  patch(crypto, 'randomFillSync', (view: ArrayBufferView) => fill(view))
  patch(crypto, 'randomBytes', (n: number, cb?: (e: Error | null, b: Buffer) => void) => {
    const b = Buffer.from(bytes(n))
    if (cb) return void setImmediate(() => cb(null, b))
    return b
  })
  patch(crypto, 'randomInt', (a: number, b?: number | ((e: Error | null, n: number) => void), c?: (e: Error | null, n: number) => void) => {
    const [min, max, cb] = typeof b === 'number' ? [a, b, c] : [0, a, b]
    const n = min + Math.floor((call('random', 'crypto.randomInt', [min, max]) as number) * (max - min))
    if (cb) return void setImmediate(() => cb(null, n))
    return n
  })
  // Web Crypto: node:crypto's getRandomValues and webcrypto both use the Crypto prototype's method.
  const webProto = Object.getPrototypeOf(globalThis.crypto) as object
  patch(webProto, 'randomUUID', uuid)
  patch(webProto, 'getRandomValues', fill)

  // Input: a synchronous prompt() like the browser's
  patch(globalThis, 'prompt', (message?: string) => {
    if (message) process.stdout.write(`${message} `)
    return call('input', 'prompt', []) as string | null
  })
  let stdinUsed = false
  const stdinDesc = Object.getOwnPropertyDescriptor(process, 'stdin')
  if (stdinDesc?.get) {
    const get = stdinDesc.get
    patch(process, 'stdin', undefined)
    Object.defineProperty(process, 'stdin', {
      configurable: true,
      get() {
        if (!stdinUsed) {
          stdinUsed = true
          opts.onStdinUsed()
        }
        return get.call(process)
      },
    })
  }

  // Run-once calls
  for (const name of opts.once) {
    const [mod, fn] = name.split('.') as [string, string]
    const target = require(mod === 'fs' ? 'node:fs' : mod) as Record<string, unknown>
    if (typeof target[fn] !== 'function') throw new Error(`--once ${name}: ${mod}.${fn} is not a function`)
    const once = (...args: unknown[]) => call('once', name, args)
    patch(target, fn, once)
    if (mod === 'fs' && fn.endsWith('Sync')) {
      const base = fn.slice(0, -4)
      const fs = target
      patch(fs, base, (...args: unknown[]) => {
        const cb = args.pop() as (e: unknown, v?: unknown) => void
        setImmediate(() => {
          try {
            cb(null, call('once', name, args))
          } catch (err) {
            cb(err)
          }
        })
      })
      const promises = fs.promises as Record<string, unknown>
      patch(promises, base, async (...args: unknown[]) => call('once', name, args))
    }
  }

  return () => {
    for (const s of saved.reverse()) {
      if (s.desc) Object.defineProperty(s.target, s.key, s.desc)
      else delete (s.target as Record<string, unknown>)[s.key]
    }
  }
}
