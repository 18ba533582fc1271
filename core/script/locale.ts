/**
 * The run's agreed default locale and time zone for Intl and the locale-sensitive builtins, in the
 * script's realm: wherever a script leaves the locale (or, for dates, the time zone) to the
 * runtime's default, it gets the agreed one instead of the machine's. Explicit arguments win.
 *   Intl.DateTimeFormat (locale and timeZone) · NumberFormat · Collator · PluralRules ·
 *   RelativeTimeFormat · ListFormat · DisplayNames · Segmenter · DurationFormat (where present) ·
 *   Date.prototype.toLocaleString / toLocaleDateString / toLocaleTimeString ·
 *   Number.prototype / BigInt.prototype.toLocaleString · String.prototype.localeCompare /
 *   toLocaleUpperCase / toLocaleLowerCase (Array.prototype.toLocaleString calls these)
 */
import type { Patcher } from './patcher.js'

export interface AgreedZone {
  /** An IANA time zone name, e.g. 'Europe/Paris'. */
  timeZone: string
  /** A BCP 47 locale tag, e.g. 'fr-FR'. */
  locale: string
}

type Ctor = new (...args: any[]) => object

/** `locales` left to the default: undefined, or an empty list (ECMA-402 CanonicalizeLocaleList). */
const unset = (locales: unknown) => locales === undefined || (Array.isArray(locales) && locales.length === 0)

/** `options` with `timeZone` defaulted, read through the original object (getters run as before). */
function withZone(options: unknown, timeZone: string): unknown {
  if (options === undefined) return { timeZone }
  if (options === null || (typeof options !== 'object' && typeof options !== 'function')) return options
  if ((options as { timeZone?: unknown }).timeZone !== undefined) return options
  return Object.create(options as object, { timeZone: { value: timeZone, enumerable: true } })
}

/** Replace a builtin method, keeping its name and length. */
function wrap(proto: object, key: string, orig: (...a: any[]) => unknown, fn: (...a: any[]) => unknown, p: Patcher): void {
  Object.defineProperty(fn, 'name', { value: key })
  Object.defineProperty(fn, 'length', { value: orig.length })
  p.set(proto, key, fn)
}

/** Install the agreed locale (and DateTimeFormat's time zone) into `g`'s Intl and builtins. */
export function installLocale(g: typeof globalThis, zone: AgreedZone, p: Patcher): void {
  const { locale, timeZone } = zone
  const args = (a: unknown[], dates: boolean): unknown[] => {
    const out = [unset(a[0]) ? locale : a[0], ...a.slice(1)]
    if (dates) out[1] = withZone(a[1], timeZone)
    return out
  }
  const intl = g.Intl as unknown as Record<string, Ctor | undefined>
  const Originals = { DateTimeFormat: g.Intl.DateTimeFormat, NumberFormat: g.Intl.NumberFormat, Collator: g.Intl.Collator }
  for (const key of ['DateTimeFormat', 'NumberFormat', 'Collator', 'PluralRules', 'RelativeTimeFormat', 'ListFormat', 'DisplayNames', 'Segmenter', 'DurationFormat']) {
    const Orig = intl[key]
    if (typeof Orig !== 'function') continue
    const dates = key === 'DateTimeFormat'
    const wrapped: Ctor = new Proxy(Orig, {
      construct: (target, a, newTarget) => Reflect.construct(target, args(a, dates), newTarget === wrapped ? target : newTarget),
      apply: (target, self, a) => Reflect.apply(target, self, args(a, dates)),
    })
    p.set(intl, key, wrapped)
  }
  // Called with no locales and no options, the builtins format with the runtime's cached default
  // formatter; so do these, with a formatter of the agreed locale (and zone) made once: one made
  // per call costs microseconds to milliseconds.
  const dateFormats = {
    toLocaleString: { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' },
    toLocaleDateString: { year: 'numeric', month: 'numeric', day: 'numeric' },
    toLocaleTimeString: { hour: 'numeric', minute: 'numeric', second: 'numeric' },
  } as const
  const dateProto = g.Date.prototype as unknown as Record<string, (...a: unknown[]) => unknown>
  const getTime = dateProto.getTime!
  for (const key of Object.keys(dateFormats) as Array<keyof typeof dateFormats>) {
    const orig = dateProto[key]!
    let cached: Intl.DateTimeFormat | undefined
    wrap(g.Date.prototype, key, orig, function (this: unknown, ...a: unknown[]) {
      if (a[0] !== undefined || a[1] !== undefined) return orig.apply(this, args(a.length ? a : [undefined], true))
      const t = getTime.call(this) as number
      if (Number.isNaN(t)) return 'Invalid Date'
      return (cached ??= new Originals.DateTimeFormat(locale, { ...dateFormats[key], timeZone })).format(t)
    }, p)
  }
  const numberLike: Array<[object, (this: unknown) => number | bigint]> = [[g.Number.prototype, g.Number.prototype.valueOf as (this: unknown) => number]]
  if (typeof g.BigInt === 'function') numberLike.push([g.BigInt.prototype, g.BigInt.prototype.valueOf as (this: unknown) => bigint])
  for (const [proto, valueOf] of numberLike) {
    const orig = (proto as Record<string, (...a: unknown[]) => unknown>).toLocaleString as (...a: unknown[]) => unknown
    let cached: Intl.NumberFormat | undefined
    wrap(proto, 'toLocaleString', orig, function (this: unknown, ...a: unknown[]) {
      if (a[0] !== undefined || a[1] !== undefined) return orig.apply(this, args(a.length ? a : [undefined], false))
      return (cached ??= new Originals.NumberFormat(locale)).format(valueOf.call(this))
    }, p)
  }
  const localeCompare = g.String.prototype.localeCompare as (this: unknown, that: unknown, ...a: unknown[]) => number
  let collator: Intl.Collator | undefined
  wrap(g.String.prototype, 'localeCompare', localeCompare, function (this: unknown, that: unknown, ...rest: unknown[]) {
    if (rest[0] !== undefined || rest[1] !== undefined || this === null || this === undefined) return localeCompare.call(this, that, ...args(rest.length ? rest : [undefined], false))
    return (collator ??= new Originals.Collator(locale)).compare(String(this), String(that))
  }, p)
  for (const key of ['toLocaleUpperCase', 'toLocaleLowerCase']) {
    const orig = (g.String.prototype as unknown as Record<string, (l?: unknown) => string>)[key]!
    wrap(g.String.prototype, key, orig, function (this: unknown, locales?: unknown) {
      return orig.call(this, unset(locales) ? locale : locales)
    }, p)
  }
}
