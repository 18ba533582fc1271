/**
 * The run's agreed time zone and default locale (recorded in the run record by the replica that
 * creates the run, adopted by every later one), applied in a plain script's realm before the
 * script starts, so local-time formatting agrees across replicas on machines in different zones:
 * Date's local methods (zone-date.ts, from the zone's offsets in zone-offsets.ts), Intl's defaults
 * and the locale-sensitive builtins (locale.ts). One implementation for the Node worker and the
 * browser's Web Worker (which cannot change its zone); neutral: it uses only the realm's Intl.
 *
 * What it does not agree: the runtime's Intl data (ICU / CLDR versions), which decide the exact
 * text of a formatted date or number; run one runtime version per run where output must match
 * byte for byte.
 */
import { badArgument } from '../errors.js'
import { installLocale, type AgreedZone } from './locale.js'
import { installZoneDate } from './zone-date.js'
import { zoneOffsets } from './zone-offsets.js'
import { Patcher } from './patcher.js'

export type { AgreedZone } from './locale.js'

/** This machine's zone and default locale (what a run records when its creator chooses none). */
export function hostZone(): AgreedZone {
  const o = new Intl.DateTimeFormat().resolvedOptions()
  return { timeZone: o.timeZone ?? 'UTC', locale: o.locale }
}

/** The run's agreed zone as a replica knows it (undefined in runs created before RepJS recorded one). */
export function agreedZone(rep: { timeZone: string | undefined; locale: string | undefined }): AgreedZone | undefined {
  return rep.timeZone !== undefined && rep.locale !== undefined ? { timeZone: rep.timeZone, locale: rep.locale } : undefined
}

/** The canonical name of an IANA time zone ('europe/paris' → 'Europe/Paris'); REPJS_BAD_ARGUMENT if unknown. */
export function resolveTimeZone(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw badArgument(`timeZone must be an IANA time zone name such as 'Europe/Paris' or 'UTC', got ${JSON.stringify(name)}`)
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone
  } catch {
    throw badArgument(`unknown time zone '${name}': give an IANA name such as 'Europe/Paris', 'America/New_York' or 'UTC'`)
  }
}

/** The canonical form of a BCP 47 locale tag ('fr-fr' → 'fr-FR'); REPJS_BAD_ARGUMENT if malformed. */
export function resolveLocale(tag: unknown): string {
  if (typeof tag !== 'string' || tag === '') throw badArgument(`locale must be a BCP 47 tag such as 'fr-FR' or 'en-US', got ${JSON.stringify(tag)}`)
  try {
    return Intl.getCanonicalLocales(tag)[0]!
  } catch {
    throw badArgument(`malformed locale '${tag}': give a BCP 47 tag such as 'fr-FR', 'en-US' or 'de'`)
  }
}

/**
 * Make `g`'s realm (a script's worker) use `zone` wherever the script leaves the time zone or the
 * locale to the runtime: Date's local methods and Intl. Install it before the agreed-Date patch
 * (which then wraps this realm's zoned Date). Returns a function that undoes it.
 */
export function installZone(zone: AgreedZone, g: typeof globalThis = globalThis): () => void {
  const p = new Patcher()
  const offsets = zoneOffsets(zone.timeZone, zone.locale, g.Intl.DateTimeFormat)
  installZoneDate(g, offsets, p)
  installLocale(g, zone, p)
  return () => p.restore()
}
