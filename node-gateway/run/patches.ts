/**
 * What `repjs run` replaces inside the script's worker thread (never in the host process). Every
 * patch is recorded with its original so `uninstall()` restores it, and builtin ESM exports are
 * re-synced after installing and after restoring, so `import { randomInt } from 'node:crypto'`
 * sees the same functions as `require('node:crypto').randomInt`.
 *   agreed:   what both runtimes patch (core/script/patches.ts: Date, performance.now, Math.random,
 *             crypto.randomUUID / getRandomValues, global prompt()), plus node:crypto's randomUUID /
 *             randomBytes / randomInt / randomFillSync / randomFill and process.stdin (the agreed
 *             input lines, which node:readline and readline/promises read)
 *   run-once: fs.renameSync / unlinkSync / rmSync / rmdirSync / copyFileSync and their callback and
 *             promise forms (unless --local-fs), plus any --once function
 */
import { createRequire, syncBuiltinESMExports } from 'node:module'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { callAs, ONCE, type ScriptCall } from '../../core/script/calls.js'
import { installAgreedGlobals } from '../../core/script/patches.js'
import { Patcher } from '../../core/script/patcher.js'

const require = createRequire(import.meta.url)

/** The bridge call the patches make (core/script/calls.ts). */
export type SyncCall = ScriptCall

export const DEFAULT_ONCE = ['renameSync', 'unlinkSync', 'rmSync', 'rmdirSync', 'copyFileSync'].map((f) => `fs.${f}`)

export interface PatchOptions {
  /** fs functions (and extra `module.function` names) run once across replicas. */
  once: string[]
  /** The script's process.stdin, made on first use. */
  stdin: () => Readable
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

  // What both runtimes patch: Date, performance.now, Math.random, Web Crypto, prompt()
  const { randomUUID: uuid } = installAgreedGlobals(p, call, { write: (text) => process.stdout.write(text) })

  // node:crypto
  const crypto = require('node:crypto') as typeof import('node:crypto')
  // One agreed block per 64 KiB (Web Crypto's getRandomValues limit, which the replica uses).
  const bytes = (name: 'crypto.randomBytes' | 'crypto.randomFillSync' | 'crypto.randomFill', n: number) => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name}: the size must be a whole number ≥ 0, got ${n}`)
    if (n <= 65536) return callAs(call, name, [n]) as Uint8Array
    const out = new Uint8Array(n)
    for (let at = 0; at < n; at += 65536) out.set(callAs(call, name, [Math.min(65536, n - at)]) as Uint8Array, at)
    return out
  }
  const fill = <T extends ArrayBufferView>(name: 'crypto.randomFillSync' | 'crypto.randomFill', view: T, offset = 0, size = view.byteLength - offset): T => {
    new Uint8Array(view.buffer, view.byteOffset + offset, size).set(bytes(name, size))
    return view
  }
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
    const pick = () => min + Math.floor((callAs(call, 'crypto.randomInt', [min, max]) as number) * (max - min))
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
  // Input: process.stdin carrying the agreed lines
  let stdin: Readable | undefined
  p.define(process, 'stdin', { enumerable: true, get: () => (stdin ??= opts.stdin()) })

  // Run-once calls
  for (const name of opts.once) {
    const [target, fn] = onceTarget(name)
    p.set(target, fn, (...args: unknown[]) => call(ONCE.op, name, plainArgs(args)))
    if (target === require('node:fs') && fn.endsWith('Sync')) {
      const base = fn.slice(0, -4)
      p.set(target, base, (...args: unknown[]) => {
        const cb = args.pop() as (e: unknown, v?: unknown) => void
        setImmediate(() => {
          let v: unknown
          try {
            v = call(ONCE.op, name, plainArgs(args))
          } catch (err) {
            return cb(err)
          }
          cb(null, v)
        })
      })
      const promises = (target as { promises: Record<string, unknown> }).promises
      p.set(promises, base, async (...args: unknown[]) => call(ONCE.op, name, plainArgs(args)))
    }
  }

  syncBuiltinESMExports()
  return () => {
    p.restore()
    syncBuiltinESMExports()
  }
}
