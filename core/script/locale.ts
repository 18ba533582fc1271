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
import type { Patches } from './zone-patches.js'

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

/** Install the agreed locale (and DateTimeFormat's time zone) into `g`'s Intl and builtins. */
export function installLocale(g: typeof globalThis, zone: AgreedZone, p: Patches): void {
  const { locale, timeZone } = zone
  const args = (a: unknown[], dates: boolean): unknown[] => {
    const out = [unset(a[0]) ? locale : a[0], ...a.slice(1)]
    if (dates) out[1] = withZone(a[1], timeZone)
    return out
  }
  const intl = g.Intl as unknown as Record<string, Ctor | undefined>
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
  const methods: Array<[object, string, boolean]> = [
    [g.Date.prototype, 'toLocaleString', true],
    [g.Date.prototype, 'toLocaleDateString', true],
    [g.Date.prototype, 'toLocaleTimeString', true],
    [g.Number.prototype, 'toLocaleString', false],
    [g.String.prototype, 'localeCompare', false],
  ]
  if (typeof g.BigInt === 'function') methods.push([g.BigInt.prototype, 'toLocaleString', false])
  for (const [proto, key, dates] of methods) {
    const orig = (proto as Record<string, (...a: unknown[]) => unknown>)[key]!
    // localeCompare(that, locales, options): the locale is the second argument.
    const wrapped =
      key === 'localeCompare'
        ? function (this: unknown, that: unknown, ...rest: unknown[]) {
            return orig.call(this, that, ...args(rest.length ? rest : [undefined], false))
          }
        : function (this: unknown, ...a: unknown[]) {
            return orig.apply(this, args(a.length ? a : [undefined], dates))
          }
    Object.defineProperty(wrapped, 'name', { value: key })
    Object.defineProperty(wrapped, 'length', { value: orig.length })
    p.set(proto, key, wrapped)
  }
  for (const key of ['toLocaleUpperCase', 'toLocaleLowerCase']) {
    const orig = (g.String.prototype as unknown as Record<string, (l?: unknown) => string>)[key]!
    const wrapped = function (this: unknown, locales?: unknown) {
      return orig.call(this, unset(locales) ? locale : locales)
    }
    Object.defineProperty(wrapped, 'name', { value: key })
    p.set(g.String.prototype, key, wrapped)
  }
}
