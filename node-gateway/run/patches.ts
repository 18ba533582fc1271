/**
 * What `repjs run` replaces inside the script's worker thread (never in the host process). Every
 * patch is recorded with its original so `uninstall()` restores it, and builtin ESM exports are
 * re-synced after installing and after restoring, so `import { randomInt } from 'node:crypto'`
 * sees the same functions as `require('node:crypto').randomInt`.
 *   agreed:   Date (Date.now, new Date(), Date()), performance.now, Math.random,
 *             crypto.randomUUID / getRandomValues / randomBytes / randomInt / randomFillSync /
 *             randomFill (node:crypto and globalThis.crypto), global prompt(), process.stdin (the
 *             agreed input lines, which node:readline and readline/promises read)
 *   run-once: fs.renameSync / unlinkSync / rmSync / rmdirSync / copyFileSync and their callback and
 *             promise forms (unless --local-fs), plus any --once function
 */
import { createRequire, syncBuiltinESMExports } from 'node:module'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

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
  /** The script's process.stdin, made on first use. */
  stdin: () => Readable
}

/** Records property replacements so they can be undone in reverse order. */
export class Patcher {
  private saved: Saved[] = []

  /** Replace `target[key]` with a plain value (a function). */
  set(target: object, key: string, value: unknown): void {
    this.define(target, key, { value, writable: true, configurable: true, enumerable: false })
  }

  /** Replace `target[key]` with an accessor. */
  define(target: object, key: string, desc: PropertyDescriptor): void {
    this.saved.push({ target, key, desc: Object.getOwnPropertyDescriptor(target, key) })
    Object.defineProperty(target, key, { configurable: true, ...desc })
  }

  restore(): void {
    for (const s of this.saved.reverse()) {
      if (s.desc) Object.defineProperty(s.target, s.key, s.desc)
      else delete (s.target as Record<string, unknown>)[s.key]
    }
    this.saved = []
    syncBuiltinESMExports()
  }
}

/** Resolve `fs.renameSync`-style names ('fs' means node:fs) to the module object and function name. */
export function onceTarget(name: string): [Record<string, unknown>, string] {
  const dot = name.lastIndexOf('.')
  const mod = name.slice(0, dot)
  const fn = name.slice(dot + 1)
  if (dot <= 0 || !fn) throw new Error(`--once ${name}: expected module.function, e.g. fs.appendFileSync`)
  if (mod === 'fs' && !fn.endsWith('Sync')) {
    throw new Error(`--once ${name}: name the synchronous form, fs.${fn}Sync; its callback and promise forms are run once with it`)
  }
  const target = require(mod === 'fs' || mod === 'os' || mod === 'child_process' ? `node:${mod}` : mod) as Record<string, unknown>
  if (typeof target[fn] !== 'function') throw new Error(`--once ${name}: ${mod}.${fn} is not a function`)
  return [target, fn]
}

/** File URLs become paths before crossing the bridge (the codec carries data, not URL objects). */
const plainArgs = (args: unknown[]) => args.map((a) => (a instanceof URL ? fileURLToPath(a) : a))

export function installPatches(call: SyncCall, opts: PatchOptions): () => void {
  const p = new Patcher()

  // Time
  const RealDate = Date
  const now = () => call('now', 'Date.now', []) as number
  function AgreedDate(this: unknown, ...args: unknown[]) {
    if (!new.target) return new RealDate(call('now', 'Date', []) as number).toString()
    return Reflect.construct(RealDate, args.length ? args : [call('now', 'new Date', []) as number], new.target)
  }
  Object.setPrototypeOf(AgreedDate, RealDate)
  Object.defineProperty(AgreedDate, 'name', { value: 'Date' })
  Object.defineProperty(AgreedDate, 'length', { value: 7 })
  AgreedDate.prototype = RealDate.prototype
  ;(AgreedDate as unknown as { now: () => number }).now = now
  p.set(globalThis, 'Date', AgreedDate)
  p.set(performance, 'now', () => call('perf', 'performance.now', []) as number)

  // Randomness
  p.set(Math, 'random', () => call('random', 'Math.random', []) as number)
  const crypto = require('node:crypto') as typeof import('node:crypto')
  // One agreed block per 64 KiB (Web Crypto's getRandomValues limit, which the replica uses).
  const bytes = (name: string, n: number) => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name}: the size must be a whole number ≥ 0, got ${n}`)
    if (n <= 65536) return call('bytes', name, [n]) as Uint8Array
    const out = new Uint8Array(n)
    for (let at = 0; at < n; at += 65536) out.set(call('bytes', name, [Math.min(65536, n - at)]) as Uint8Array, at)
    return out
  }
  const fill = <T extends ArrayBufferView>(name: string, view: T, offset = 0, size = view.byteLength - offset): T => {
    new Uint8Array(view.buffer, view.byteOffset + offset, size).set(bytes(name, size))
    return view
  }
  const uuid = () => call('uuid', 'crypto.randomUUID', []) as string
  p.set(crypto, 'randomUUID', uuid)
  p.set(crypto, 'randomFillSync', (view: ArrayBufferView, offset?: number, size?: number) => fill('crypto.randomFillSync', view, offset, size))
  p.set(crypto, 'randomFill', (view: ArrayBufferView, ...rest: unknown[]) => {
    const cb = rest.pop() as (e: Error | null, v?: ArrayBufferView) => void
    const [offset, size] = rest as [number | undefined, number | undefined]
    setImmediate(() => {
      try {
        cb(null, fill('crypto.randomFill', view, offset, size))
      } catch (err) {
        cb(err as Error)
      }
    })
  })
  p.set(crypto, 'randomBytes', (n: number, cb?: (e: Error | null, b?: Buffer) => void) => {
    if (!cb) return Buffer.from(bytes('crypto.randomBytes', n))
    setImmediate(() => {
      let b: Buffer
      try {
        b = Buffer.from(bytes('crypto.randomBytes', n))
      } catch (err) {
        return cb(err as Error)
      }
      cb(null, b)
    })
  })
  p.set(crypto, 'randomInt', (a: number, b?: number | ((e: Error | null, n?: number) => void), c?: (e: Error | null, n?: number) => void) => {
    const [min, max, cb] = typeof b === 'number' ? [a, b, c] : [0, a, b]
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min) {
      throw new RangeError(`crypto.randomInt: need safe integers min < max, got ${min}, ${max}`)
    }
    const pick = () => min + Math.floor((call('random', 'crypto.randomInt', [min, max]) as number) * (max - min))
    if (!cb) return pick()
    setImmediate(() => {
      let n: number
      try {
        n = pick()
      } catch (err) {
        return cb(err as Error)
      }
      cb(null, n)
    })
  })
  // Web Crypto: node:crypto's getRandomValues and webcrypto both use the Crypto prototype's method.
  const webProto = Object.getPrototypeOf(globalThis.crypto) as object
  p.set(webProto, 'randomUUID', uuid)
  const realGetRandomValues = (webProto as { getRandomValues: (v: ArrayBufferView) => ArrayBufferView }).getRandomValues
  p.set(webProto, 'getRandomValues', <T extends ArrayBufferView>(view: T) => {
    // the platform's own checks first (integer typed array, at most 65,536 bytes), on an empty copy
    const Ctor = (view as unknown as { constructor: new (n: number) => ArrayBufferView }).constructor
    if (view.byteLength > 65536) throw new DOMException(`The ArrayBufferView's byte length (${view.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, 'QuotaExceededError')
    realGetRandomValues.call(globalThis.crypto, ArrayBuffer.isView(view) && !(view instanceof DataView) ? new Ctor(0) : view)
    return fill('crypto.getRandomValues', view)
  })

  // Input: a synchronous prompt() like the browser's, and process.stdin carrying the agreed lines
  p.set(globalThis, 'prompt', (message?: string) => {
    if (message) process.stdout.write(`${message} `)
    return call('input', 'prompt', []) as string | null
  })
  let stdin: Readable | undefined
  p.define(process, 'stdin', { enumerable: true, get: () => (stdin ??= opts.stdin()) })

  // Run-once calls
  for (const name of opts.once) {
    const [target, fn] = onceTarget(name)
    p.set(target, fn, (...args: unknown[]) => call('once', name, plainArgs(args)))
    if (target === require('node:fs') && fn.endsWith('Sync')) {
      const base = fn.slice(0, -4)
      p.set(target, base, (...args: unknown[]) => {
        const cb = args.pop() as (e: unknown, v?: unknown) => void
        setImmediate(() => {
          let v: unknown
          try {
            v = call('once', name, plainArgs(args))
          } catch (err) {
            return cb(err)
          }
          cb(null, v)
        })
      })
      const promises = (target as { promises: Record<string, unknown> }).promises
      p.set(promises, base, async (...args: unknown[]) => call('once', name, plainArgs(args)))
    }
  }

  syncBuiltinESMExports()
  return () => p.restore()
}
