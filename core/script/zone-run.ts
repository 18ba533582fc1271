/**
 * The run's agreed time zone and default locale, decided once: the replica that creates the run
 * records its own (chosen, or its machine's), every later replica adopts the recorded one whatever
 * its machine's zone, and one that explicitly asks for another gets REPJS_ZONE_MISMATCH.
 */
import { ErrorCodes, RepJSError } from '../errors.js'
import type { RunMeta } from '../record.js'
import { hostZone, resolveLocale, resolveTimeZone, type AgreedZone } from './zone.js'

export interface ZoneRequest {
  /** An IANA time zone name; default: the run's (its creator's machine zone). */
  timeZone?: string
  /** A BCP 47 locale tag; default: the run's (its creator's default locale). */
  locale?: string
}

/** What this replica records if it creates the run (explicit names checked: REPJS_BAD_ARGUMENT). */
export function proposedZone(req: ZoneRequest): AgreedZone {
  const host = req.timeZone === undefined || req.locale === undefined ? hostZone() : undefined
  return {
    timeZone: req.timeZone !== undefined ? resolveTimeZone(req.timeZone) : host!.timeZone,
    locale: req.locale !== undefined ? resolveLocale(req.locale) : host!.locale,
  }
}

/**
 * The zone of the opened run: the recorded one (undefined in a run created before runs recorded
 * zones), checked against what this replica explicitly asked for.
 */
export function adoptZone(run: string, req: ZoneRequest, meta: RunMeta): AgreedZone | undefined {
  const recorded = meta.timeZone !== undefined && meta.locale !== undefined ? { timeZone: meta.timeZone, locale: meta.locale } : undefined
  for (const what of ['timeZone', 'locale'] as const) {
    const wanted = req[what]
    if (wanted === undefined) continue // adopts the run's: nothing to check (and no Intl work)
    const asked = what === 'timeZone' ? resolveTimeZone(wanted) : resolveLocale(wanted)
    const same = recorded && (what === 'timeZone' ? sameZone(recorded.timeZone, asked) : sameLocale(recorded.locale, asked))
    if (same) continue
    const flag = what === 'timeZone' ? '--tz / timeZone' : '--locale / locale'
    throw new RepJSError(
      ErrorCodes.ZONE_MISMATCH,
      recorded
        ? `Run '${run}' was created with ${what} '${recorded[what]}', but this replica asked for '${asked}' (${flag}). ` +
            `Every replica of a run formats local time alike: leave ${flag} out to adopt the run's, or start a new run id for another ${what}.`
        : `Run '${run}' was created by a RepJS that recorded no time zone or locale, but this replica asked for ${what} '${asked}' (${flag}): ` +
            `leave ${flag} out, or start a new run id.`,
      { details: { run, what, recorded: recorded?.[what], asked } },
    )
  }
  return recorded
}

/** Two zone names for one zone, as this runtime's Intl canonicalises them (aliases differ across ICU versions). */
function sameZone(a: string, b: string): boolean {
  if (a === b) return true
  try {
    return resolveTimeZone(a) === resolveTimeZone(b)
  } catch {
    return false
  }
}

function sameLocale(a: string, b: string): boolean {
  try {
    return resolveLocale(a) === resolveLocale(b)
  } catch {
    return false
  }
}
