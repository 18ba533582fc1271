/**
 * Date's local time in the run's agreed zone, in the script's realm: the local getters and setters,
 * getTimezoneOffset, toString / toDateString / toTimeString, `new Date(y, m, ...)`, and local-time
 * strings (`new Date('2026-03-08T02:30')`, `Date.parse`) compute with the agreed zone's offsets
 * (zone-offsets.ts) instead of the machine's. UTC methods are untouched. Local to UTC follows
 * ECMAScript's UTC(t): the earlier instant in a fold, the offset before the transition in a gap.
 * The global Date becomes a Proxy of the original (same prototype, statics, instanceof); install
 * the agreed-`Date` patch (new Date() / Date.now() from the run) after this one, on top of it.
 */
import type { Patcher } from './patcher.js'
import type { ZoneOffsets } from './zone-offsets.js'

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
/** ECMAScript's Date Time String Format: a date-time with no offset is local time, a date alone UTC. */
const ISO = /^(?:[+-]\d{6}|\d{4})(?:-\d{2}(?:-\d{2})?)?(T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$/
/** A zone or offset in another format Date.parse reads (the parenthesised name of toString is ignored). */
const NAMED = /\b(?:GMT|UTC|UT|Z|[ECMP][SD]T)\b|[+-]\d{2}:?\d{2}\b/i

/** 400 Gregorian years in ms: the calendar (and the weekdays) repeat after it. */
const Y400 = 146_097 * 86_400_000
const clip = (t: number) => (Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? Math.trunc(t) + 0 : NaN)
const pad = (n: number, w = 2) => String(n).padStart(w, '0')

type DateFn = (this: Date, ...a: unknown[]) => number

function toPrimitive(v: object): unknown {
  const exotic = (v as { [Symbol.toPrimitive]?: unknown })[Symbol.toPrimitive]
  const isPrimitive = (r: unknown) => r === null || (typeof r !== 'object' && typeof r !== 'function')
  if (exotic !== undefined && exotic !== null) {
    const r = (exotic as (hint: string) => unknown).call(v, 'default')
    if (isPrimitive(r)) return r
  } else {
    for (const key of ['valueOf', 'toString'] as const) {
      const f = (v as Record<string, unknown>)[key]
      if (typeof f !== 'function') continue
      const r = (f as () => unknown).call(v)
      if (isPrimitive(r)) return r
    }
  }
  throw new TypeError('Cannot convert object to primitive value')
}

export function installZoneDate(g: typeof globalThis, zone: ZoneOffsets, p: Patcher): void {
  const OrigDate = g.Date
  const proto = OrigDate.prototype as unknown as Record<string, DateFn>
  const getTime = proto.getTime!, setTime = proto.setTime!
  const hostOffset = proto.getTimezoneOffset!
  const parse = OrigDate.parse, UTC = OrigDate.UTC
  const scratch = new OrigDate(0)
  const thisTime = (d: unknown) => getTime.call(d as Date)
  const local = (t: number) => t + zone.offset(t)
  /** Point the scratch date at wall time `l`; a wall time past Date's range is read 400 years in (same calendar), returns the years to add back. */
  const at = (l: number): number => {
    const shift = l > 8.64e15 ? -1 : l < -8.64e15 ? 1 : 0
    scratch.setTime(l + shift * Y400)
    return -shift * 400
  }

  function isDate(v: unknown): boolean {
    try {
      getTime.call(v as Date)
      return true
    } catch {
      return false
    }
  }

  function zonedParse(s: string): number {
    const iso = ISO.exec(s)
    if (iso) return iso[1] === undefined || iso[2] !== undefined ? parse(s) : clip(zone.toUTC(parse(s + 'Z')))
    if (NAMED.test(s.replace(/\([^)]*\)/g, ' '))) return parse(s)
    let wall = parse(s + ' GMT')
    if (Number.isNaN(wall)) {
      const host = parse(s)
      wall = host - hostOffset.call(new OrigDate(host)) * 60_000
    }
    return clip(zone.toUTC(wall))
  }

  function dateString(t: number): string {
    const y = at(local(t)) + scratch.getUTCFullYear()
    return `${DAYS[scratch.getUTCDay()]} ${MONTHS[scratch.getUTCMonth()]} ${pad(scratch.getUTCDate())} ${y < 0 ? '-' : ''}${pad(Math.abs(y), 4)}`
  }
  function timeString(t: number): string {
    const o = zone.offset(t)
    at(t + o)
    const abs = Math.abs(o)
    const gmt = `GMT${o >= 0 ? '+' : '-'}${pad(Math.floor(abs / 3_600_000))}${pad(Math.floor((abs % 3_600_000) / 60_000))}`
    return `${pad(scratch.getUTCHours())}:${pad(scratch.getUTCMinutes())}:${pad(scratch.getUTCSeconds())} ${gmt} (${zone.name(t)})`
  }
  const method = (name: string, length: number, fn: DateFn) => {
    Object.defineProperty(fn, 'name', { value: name })
    Object.defineProperty(fn, 'length', { value: length })
    p.set(proto, name, fn)
  }
  const formatted = (f: (t: number) => string) =>
    function (this: Date) {
      const t = thisTime(this)
      return Number.isNaN(t) ? 'Invalid Date' : f(t)
    } as unknown as DateFn

  method('toString', 0, formatted((t) => `${dateString(t)} ${timeString(t)}`))
  method('toDateString', 0, formatted(dateString))
  method('toTimeString', 0, formatted(timeString))

  for (const unit of ['FullYear', 'Month', 'Date', 'Day', 'Hours', 'Minutes', 'Seconds', 'Milliseconds']) {
    const utc = proto[`getUTC${unit}`]!
    method(`get${unit}`, 0, function (this: Date) {
      const t = thisTime(this)
      if (Number.isNaN(t)) return NaN
      const years = at(local(t))
      return utc.call(scratch) + (unit === 'FullYear' ? years : 0)
    })
  }
  if (typeof proto.getYear === 'function') {
    method('getYear', 0, function (this: Date) {
      const t = thisTime(this)
      if (Number.isNaN(t)) return NaN
      return at(local(t)) + scratch.getUTCFullYear() - 1900
    })
  }
  method('getTimezoneOffset', 0, function (this: Date) {
    const t = thisTime(this)
    // As V8: whole minutes, truncated (local mean time offsets have seconds).
    return Number.isNaN(t) ? NaN : Math.trunc(-zone.offset(t) / 60_000) || 0
  })

  for (const [unit, length] of [['Milliseconds', 1], ['Seconds', 2], ['Minutes', 3], ['Hours', 4], ['Date', 1], ['Month', 2], ['FullYear', 3]] as const) {
    const utc = proto[`setUTC${unit}`]!
    method(`set${unit}`, length, function (this: Date, ...a: unknown[]) {
      const t = thisTime(this)
      // setFullYear on an invalid date starts from +0 (ECMAScript), the others stay invalid.
      scratch.setTime(Number.isNaN(t) ? (unit === 'FullYear' ? 0 : NaN) : local(t))
      return setTime.call(this, clip(zone.toUTC(utc.apply(scratch, a))))
    })
  }
  if (typeof proto.setYear === 'function') {
    method('setYear', 1, function (this: Date, year: unknown) {
      const t = thisTime(this)
      const y = Number(year)
      if (Number.isNaN(y)) return setTime.call(this, NaN)
      const yi = Math.trunc(y)
      scratch.setTime(Number.isNaN(t) ? 0 : local(t))
      return setTime.call(this, clip(zone.toUTC(scratch.setUTCFullYear(yi >= 0 && yi <= 99 ? 1900 + yi : y))))
    })
  }

  const Zoned: DateConstructor = new Proxy(OrigDate, {
    construct(target, a, newTarget) {
      const nt = newTarget === Zoned ? target : newTarget
      if (a.length >= 2) return Reflect.construct(target, [clip(zone.toUTC((UTC as (...x: unknown[]) => number)(...a)))], nt)
      if (a.length === 1) {
        let v: unknown = a[0]
        if (typeof v === 'object' && v !== null && !isDate(v)) v = toPrimitive(v)
        if (typeof v === 'string') return Reflect.construct(target, [zonedParse(v)], nt)
        return Reflect.construct(target, [v], nt)
      }
      return Reflect.construct(target, a, nt)
    },
    apply: () => proto.toString!.call(new OrigDate()),
  })
  const parseFn = function parse(s: unknown) {
    return zonedParse(String(s))
  }
  p.set(OrigDate, 'parse', parseFn)
  p.set(OrigDate.prototype, 'constructor', Zoned)
  p.set(g, 'Date', Zoned)
}
