// The agreed-zone installer (core/script/zone.ts) against the real thing: the same probe runs in a
// vm context of this process (the machine's zone) with zone X installed, and in a Node child
// process started with TZ=X (V8's own local time, from ICU). Every local-time result must match,
// across DST gaps and folds, local mean time, negative years, and parsing of local strings.
import { spawnSync } from 'node:child_process'
import vm from 'node:vm'
import { expect, test } from 'vitest'
import { hostZone, installZone, resolveLocale, resolveTimeZone } from '../../core/script/zone.js'

/** Evaluates to a JSON string of local-time results (in a context or a child process). */
const PROBE = `(() => {
  const out = []
  const instants = [0, -3e12, -62198755200000, 1772928000000, 1772955000000, 1772953200000, 1793510000000, 1793512800000, 1793516400000,
    1e13, -8.639e15, 8.639e15, NaN, 1325239200000, 1325325600000, 1743897600000]
  for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += 7 * 3600_000 + 1234) instants.push(t)
  // Before 1900 (local mean time) and after 2100, ICU flags some zones' offsets as daylight time oddly: names are not compared there.
  const named = (t, s) => (t < -2208988800000 || t > 4102444800000 ? s.replace(/ \\(.*\\)$/, '') : s)
  for (const t of instants) {
    const d = new Date(t)
    out.push([t, named(t, d.toString()), d.toDateString(), named(t, d.toTimeString()), d.getFullYear(), d.getMonth(), d.getDate(), d.getDay(), d.getHours(),
      d.getMinutes(), d.getSeconds(), d.getMilliseconds(), d.getTimezoneOffset(), d.getYear(), named(t, String(d)), named(t, \`\${d}\`)])
  }
  for (const t of instants.slice(0, 12)) {
    const d = new Date(t)
    if (!isNaN(t) && Math.abs(t) < 8.6e15) out.push([d.toLocaleString(), d.toLocaleDateString(), d.toLocaleTimeString(), new Intl.DateTimeFormat().format(d)])
  }
  // Wall times to instants: every half hour across 2026 (each DST gap and fold), and the constructor's forms.
  for (let h = 0; h < 365 * 48; h++) out.push(new Date(2026, 0, 1, 0, h * 30).getTime())
  out.push(new Date(2026, 2, 8, 2, 30).getTime(), new Date(2026, 10, 1, 1, 30).getTime(), new Date(99, 0).getTime(), new Date(2026, 0).getTime(),
    new Date(-1, 5, 1).getTime(), new Date(2011, 11, 30, 12).getTime(), new Date(1883, 10, 18, 12, 3, 58).getTime(), new Date(2026, 2, 29, 2, 30).getTime(),
    new Date(2026, 9, 25, 2, 30).getTime(), new Date(2026, 3, 5, 2, 30).getTime(), new Date(2026, 9, 4, 2, 15).getTime())
  for (const s of ['2026-03-08T02:30', '2026-11-01T01:30:00', '2026-03-08T02:30:00.5', '2026-03-08', '2026-03', '2026', '2026-03-08T02:30Z',
    '2026-03-08T02:30+05:00', 'March 8, 2026 02:30', '2026-03-08 02:30', 'Nov 1 2026 1:30 AM', 'Sun Mar 08 2026 03:30:00 GMT-0400 (Eastern Daylight Time)',
    'Tue, 01 Nov 2026 01:30:00 GMT', '1 Nov 2026 01:30 EST', 'nonsense', '+002026-03-29T02:30']) {
    out.push([s, Date.parse(s), new Date(s).getTime()])
  }
  // Local setters from a base, across the transitions (ECMAScript: the earlier instant in a fold, the offset before a gap).
  const base = () => new Date(Date.UTC(2026, 2, 1, 12))
  const set = (f) => { const d = base(); const r = f(d); return [r, d.getTime()] }
  out.push(set((d) => (d.setDate(8), d.setHours(2, 30))), set((d) => d.setHours(2 + 24 * 7, 30)), set((d) => (d.setMonth(10, 1), d.setHours(1, 30))),
    set((d) => (d.setMonth(9, 25), d.setHours(2, 30, 0, 0))), set((d) => d.setFullYear(2025)), set((d) => d.setMinutes(-1)), set((d) => d.setSeconds(1e6)),
    set((d) => d.setMilliseconds(-5)), set((d) => d.setYear(99)), set((d) => d.setMonth(3, 5)), set((d) => (d.setMonth(3, 5), d.setHours(2, 30))),
    set((d) => (d.setTime(NaN), d.setFullYear(2026, 2, 8))), set((d) => (d.setTime(NaN), d.setHours(1))), set((d) => d.setHours()))
  const n = 1234.5
  out.push(n.toLocaleString(), 12345678901234567890n.toLocaleString(), 'a'.localeCompare('b'), [1234.5, new Date(0)].toLocaleString(),
    Intl.DateTimeFormat().resolvedOptions().timeZone, new Intl.NumberFormat().resolvedOptions().locale, 'i'.toLocaleUpperCase())
  return JSON.stringify(out)
})()`

function native(timeZone: string, lang?: string): unknown[] {
  const env = { ...process.env, TZ: timeZone, ...(lang ? { LANG: lang, LC_ALL: lang } : {}) }
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(${PROBE})`], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout) as unknown[]
}

function installed(timeZone: string, locale: string): unknown[] {
  const ctx = vm.createContext({})
  const g = vm.runInContext('globalThis', ctx) as typeof globalThis
  const undo = installZone({ timeZone, locale }, g)
  const out = JSON.parse(vm.runInContext(PROBE, ctx) as string) as unknown[]
  undo()
  return out
}

const ZONES = ['America/New_York', 'Europe/Paris', 'Australia/Lord_Howe', 'Pacific/Apia', 'America/St_Johns', 'Africa/Casablanca']

test('installed zones match V8 run with TZ set, across DST gaps and folds', () => {
  const locale = hostZone().locale
  expect(hostZone().timeZone).not.toBe('America/New_York') // the comparison means something
  for (const zone of ZONES) {
    const want = native(zone)
    const got = installed(zone, locale)
    const i = want.findIndex((w, k) => JSON.stringify(w) !== JSON.stringify(got[k]))
    expect({ zone, i, v: got[i] }).toEqual({ zone, i: -1, v: undefined }) // on a failure: the first value that differs
    expect(got.length).toBe(want.length)
  }
})

test('the agreed locale: formatting, names in toString, and explicit arguments still win', () => {
  const want = native('Europe/Paris', 'fr_FR.UTF-8')
  expect(installed('Europe/Paris', 'fr-FR')).toEqual(want)
  const ctx = vm.createContext({})
  const undo = installZone({ timeZone: 'Asia/Tokyo', locale: 'de-DE' }, vm.runInContext('globalThis', ctx) as typeof globalThis)
  const r = vm.runInContext(
    `[new Date(0).toLocaleString('en-US', { timeZone: 'UTC' }), (1234.5).toLocaleString('en-US'), new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', hour: 'numeric' }).format(0),
      new Date(0).getHours(), (1234.5).toLocaleString(), new Date(0) instanceof Date, Object.prototype.toString.call(new Date(0)), Date.name, Date.length,
      new (class extends Date {})(2026, 0).getTime(), typeof Date(), Date.UTC(2026, 0)]`,
    ctx,
  )
  undo()
  expect(r).toEqual(['1/1/1970, 12:00:00 AM', '1,234.5', '12 AM', 9, '1.234,5', true, '[object Date]', 'Date', 7, Date.UTC(2025, 11, 31, 15), 'string', Date.UTC(2026, 0)])
  // Undone: the context's builtins are its own again.
  expect(vm.runInContext('[new Date(0).getHours(), Intl.DateTimeFormat().resolvedOptions().timeZone]', ctx)).toEqual([new Date(0).getHours(), hostZone().timeZone])
})

test('zone and locale names are checked and canonical', () => {
  expect(resolveTimeZone('europe/paris')).toBe('Europe/Paris')
  expect(resolveLocale('fr-fr')).toBe('fr-FR')
  expect(() => resolveTimeZone('Mars/Olympus')).toThrow(expect.objectContaining({ code: 'REPJS_BAD_ARGUMENT' }))
  expect(() => resolveLocale('not a locale')).toThrow(expect.objectContaining({ code: 'REPJS_BAD_ARGUMENT' }))
})

test('cost: local getters read the zone from Intl once per hour of time, not per call', () => {
  const ctx = vm.createContext({ performance })
  const g = vm.runInContext('globalThis', ctx) as typeof globalThis
  const formatToParts = g.Intl.DateTimeFormat.prototype.formatToParts
  let intlCalls = 0
  g.Intl.DateTimeFormat.prototype.formatToParts = function (this: Intl.DateTimeFormat, d?: number | Date) {
    intlCalls++
    return formatToParts.call(this, d)
  }
  installZone({ timeZone: 'America/New_York', locale: 'en-US' }, g)
  // 200,000 reads over 1,000 minutes (17 hours): a few Intl calls per hour, then the cache.
  const bench = `(() => { let s = 0; const d = new Date(0); const t0 = performance.now()
    for (let i = 0; i < 200000; i++) { d.setTime(1772955000000 + (i % 1000) * 60000); s += d.getHours() }
    return (performance.now() - t0) / 200000 * 1e6 })()`
  const zoned = vm.runInContext(bench, ctx) as number
  const plain = vm.runInContext(bench, vm.createContext({ performance })) as number
  console.log(`getHours: ${zoned.toFixed(0)} ns in the agreed zone, ${plain.toFixed(0)} ns native; ${intlCalls} Intl calls`)
  expect(intlCalls).toBeLessThan(2 * 18 + 5)
})
