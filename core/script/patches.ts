/**
 * The installers for what both runtimes patch in a plain script's worker, parameterised by the
 * bridge call: Date (Date.now, new Date(), Date()), performance.now, Math.random, crypto.randomUUID
 * and crypto.getRandomValues (on the Crypto prototype, which node:crypto's getRandomValues uses
 * too), Intl.DateTimeFormat's format() / formatToParts() without a date (the platform reads its own
 * clock there), and a synchronous global prompt() returning the next agreed input line (null at the end).
 * Each call goes out under its name in the call table (core/script/calls.ts), with the patched
 * function the script called, so the call site is read from the frame right below it.
 * `repjs run` adds its Node-only patches (node-gateway/run/patches.ts) and `--audit` installs these
 * same ones with a call that only records (node-gateway/run/audit.ts).
 */
import { callAs, type ScriptCall } from './calls.js'
import type { Patcher } from './patcher.js'

export interface GlobalsOptions {
  /** Where prompt(message) shows its message (the script's stdout). */
  write(text: string): void
}

/** The patched functions others reuse (node:crypto's randomUUID is the same function). */
export interface AgreedGlobals {
  randomUUID: () => string
}

type Getter = <T extends ArrayBufferView>(view: T) => T

export function installAgreedGlobals(p: Patcher, call: ScriptCall, o: GlobalsOptions): AgreedGlobals {
  // Time
  const RealDate = Date
  function AgreedDate(this: unknown, ...args: unknown[]) {
    if (!new.target) return new RealDate(callAs(call, 'Date', [], AgreedDate) as number).toString()
    return Reflect.construct(RealDate, args.length ? args : [callAs(call, 'new Date', [], AgreedDate) as number], new.target)
  }
  Object.setPrototypeOf(AgreedDate, RealDate)
  Object.defineProperty(AgreedDate, 'name', { value: 'Date' })
  Object.defineProperty(AgreedDate, 'length', { value: 7 })
  AgreedDate.prototype = RealDate.prototype
  const now = () => callAs(call, 'Date.now', [], now) as number
  Object.defineProperty(AgreedDate, 'now', { value: now, writable: true, configurable: true, enumerable: false })
  p.set(globalThis, 'Date', AgreedDate)
  installFormatNow(p, call)
  const perfNow = () => callAs(call, 'performance.now', [], perfNow) as number
  p.set(performance, 'now', perfNow)

  // Randomness
  const random = () => callAs(call, 'Math.random', [], random) as number
  p.set(Math, 'random', random)
  const crypto = globalThis.crypto
  const webProto = Object.getPrototypeOf(crypto) as object
  const randomUUID = () => callAs(call, 'crypto.randomUUID', [], randomUUID) as string
  p.set(webProto, 'randomUUID', randomUUID)
  const realGetRandomValues = (webProto as { getRandomValues: Getter }).getRandomValues
  const getRandomValues: Getter = (view) => {
    // the platform's own checks first: an integer typed array (on an empty copy of it), ...
    const Ctor = (view as unknown as { constructor: new (n: number) => ArrayBufferView }).constructor
    realGetRandomValues.call(crypto, ArrayBuffer.isView(view) && !(view instanceof DataView) ? new Ctor(0) : view)
    // ... at most 65,536 bytes (the platform's own QuotaExceededError, thrown before it writes)
    if (view.byteLength > 65536) realGetRandomValues.call(crypto, view)
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(callAs(call, 'crypto.getRandomValues', [view.byteLength], getRandomValues) as Uint8Array)
    return view
  }
  p.set(webProto, 'getRandomValues', getRandomValues)

  // Input: a synchronous prompt() like the browser's, returning the next agreed line
  const prompt = (message?: unknown) => {
    if (message !== undefined && message !== '') o.write(`${String(message)} `)
    return callAs(call, 'prompt', [], prompt) as string | null
  }
  p.set(globalThis, 'prompt', prompt)
  return { randomUUID }
}

type Format = (date?: Date | number) => string

/**
 * An Intl.DateTimeFormat's `format` (a getter returning the formatter's bound function, the same one
 * each time) and `formatToParts`, given no date, format the current time read from the platform's
 * own clock: they format the agreed time instead.
 */
function installFormatNow(p: Patcher, call: ScriptCall): void {
  const proto = Intl.DateTimeFormat.prototype
  const getFormat = Object.getOwnPropertyDescriptor(proto, 'format')?.get
  if (getFormat) {
    const bound = new WeakMap<object, Format>()
    p.define(proto, 'format', {
      get(this: Intl.DateTimeFormat) {
        let format = bound.get(this)
        if (!format) {
          const real = getFormat.call(this) as Format
          format = (date) => real(date === undefined ? (callAs(call, 'Intl.DateTimeFormat', [], format) as number) : date)
          bound.set(this, format)
        }
        return format
      },
      enumerable: false,
    })
  }
  const realParts = proto.formatToParts
  const formatToParts = function (this: Intl.DateTimeFormat, date?: Date | number) {
    return realParts.call(this, date === undefined ? (callAs(call, 'Intl.DateTimeFormat', [], formatToParts) as number) : date)
  }
  p.set(proto, 'formatToParts', formatToParts)
}
