/**
 * A named time zone's offsets, computed from Intl alone (never from the machine's zone): what the
 * local-time methods of Date need when the script's agreed zone is not the machine's (a browser's
 * Web Worker cannot change its zone; a Node worker thread cannot either without changing the
 * whole process's).
 *
 * Offsets are read from `Intl.DateTimeFormat(..., { timeZone }).formatToParts` at whole seconds
 * (tzdb offsets are whole seconds) and kept per hour: an hour whose two ends have one offset has it
 * throughout (no zone changes its offset twice within an hour and back), an hour with a transition
 * is computed per call. `toUTC` converts a wall time to an instant the way ECMAScript's UTC(t) does:
 * in a fold (a wall time that happens twice) the earlier instant, in a gap (a wall time that never
 * happens) the offset before the transition.
 */

const HOUR = 3_600_000
const DAY = 86_400_000
/** The range of Date's time values (ECMAScript TimeClip). */
const MAX_TIME = 8.64e15
const CACHE_HOURS = 4096
const REFERENCE_YEAR = 2026
/** 400 Gregorian years in ms: the calendar repeats after it. */
const Y400 = 146_097 * DAY

export interface ZoneOffsets {
  readonly timeZone: string
  /** The offset of wall time from UTC at instant `t`, in ms (wall = t + offset). */
  offset(t: number): number
  /** The instant at which the wall clock shows `local` (a wall time in ms, counted as if UTC). */
  toUTC(local: number): number
  /** The zone's long name at `t` in the locale, as Date.prototype.toString shows it in parentheses. */
  name(t: number): string
}

const clamp = (t: number) => Math.max(-MAX_TIME, Math.min(MAX_TIME, t))
const mod = (a: number, b: number) => ((a % b) + b) % b

/**
 * The offsets of `timeZone` (an IANA name Intl accepts). `DateTimeFormat` is the runtime's own
 * constructor, taken before any patch.
 */
export function zoneOffsets(timeZone: string, locale: string, DateTimeFormat: typeof Intl.DateTimeFormat = Intl.DateTimeFormat): ZoneOffsets {
  const wall = new DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', era: 'short', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  })
  const longName = new DateTimeFormat(locale, { timeZone, timeZoneName: 'long' })
  const scratch = new Date(0)
  const hours = new Map<number, number>()
  const names = new Map<number, string>()

  /** The offset at the whole second of `t`, from Intl. */
  function exact(t: number): number {
    const s = t - mod(t, 1000)
    let year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, bc = false
    for (const p of wall.formatToParts(s)) {
      switch (p.type) {
        case 'year': year = Number(p.value); break
        case 'month': month = Number(p.value); break
        case 'day': day = Number(p.value); break
        case 'hour': hour = Number(p.value); break
        case 'minute': minute = Number(p.value); break
        case 'second': second = Number(p.value); break
        case 'era': bc = p.value === 'BC' || p.value === 'B'; break
      }
    }
    // Built 400 years nearer to year 0 (the same calendar), so that a wall time past Date's range is one.
    const y = bc ? 1 - year : year
    const shift = y < 0 ? 400 : -400
    scratch.setTime(0)
    scratch.setUTCFullYear(y + shift, month - 1, day)
    scratch.setUTCHours(hour, minute, second, 0)
    return scratch.getTime() - (shift / 400) * Y400 - s
  }

  /** The hour of `t`: its offset, or NaN if the offset changes within it. */
  function hourOf(t: number): number {
    const h = Math.floor(t / HOUR)
    let o = hours.get(h)
    if (o === undefined) {
      const first = exact(clamp(h * HOUR))
      o = first === exact(clamp(h * HOUR + HOUR - 1)) ? first : NaN
      if (hours.size >= CACHE_HOURS) hours.clear()
      hours.set(h, o)
    }
    return o
  }

  function offset(t: number): number {
    const o = hourOf(t)
    return Number.isNaN(o) ? exact(t) : o
  }

  function toUTC(local: number): number {
    if (!Number.isFinite(local)) return NaN
    const before = offset(clamp(local - DAY))
    const after = offset(clamp(local + DAY))
    let found = NaN
    for (const o of before === after ? [before] : [before, after]) {
      const t = local - o
      if (offset(clamp(t)) === o && !(t >= found)) found = t
    }
    return Number.isNaN(found) ? local - before : found
  }

  function intlName(t: number): string {
    return longName.formatToParts(clamp(t)).find((p) => p.type === 'timeZoneName')?.value ?? ''
  }

  /**
   * V8 names a date with the zone's current standard or daylight name (never a historical one),
   * daylight when the offset then is above its year's lowest. Current = the rules of REFERENCE_YEAR
   * (fixed, so every replica names alike); a zone with no daylight time now takes the name from
   * its latest year with one.
   */
  const years = new Map<number, { min: number; minAt: number; max: number; maxAt: number }>()
  function yearOf(y: number) {
    let r = years.get(y)
    if (!r) {
      r = { min: Infinity, minAt: 0, max: -Infinity, maxAt: 0 }
      for (let k = 0; k < 53; k++) {
        const t = clamp(Date.UTC(y, 0, 1) + k * 7 * DAY)
        const o = offset(t)
        if (o < r.min) (r.min = o), (r.minAt = t)
        if (o > r.max) (r.max = o), (r.maxAt = t)
      }
      if (years.size >= 64) years.clear()
      years.set(y, r)
    }
    return r
  }
  let standard: string | undefined
  let daylight: string | undefined
  const standardName = () => (standard ??= intlName(yearOf(REFERENCE_YEAR).minAt))
  function daylightName(): string {
    if (daylight === undefined) {
      daylight = standardName()
      for (let y = REFERENCE_YEAR; y >= 1970; y--) {
        const r = yearOf(y)
        if (r.max > r.min) {
          daylight = intlName(r.maxAt)
          break
        }
      }
    }
    return daylight
  }

  function name(t: number): string {
    const h = Math.floor(t / HOUR)
    let n = names.get(h)
    if (n === undefined) {
      scratch.setTime(clamp(t))
      const year = scratch.getUTCFullYear()
      n = offset(t) > yearOf(year).min ? daylightName() : standardName()
      if (!Number.isNaN(hourOf(t))) {
        if (names.size >= CACHE_HOURS) names.clear()
        names.set(h, n)
      }
    }
    return n
  }

  return { timeZone, offset, toUTC, name }
}
