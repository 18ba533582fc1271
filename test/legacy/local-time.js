// Prints local time and locale-formatted values: the same on every replica of a run (the run's
// agreed time zone and locale), whatever zone each machine is in. The first lines use a fixed
// instant (comparable with plain node under TZ=the run's zone), the last the agreed now.
const fixed = new Date(Date.UTC(2026, 2, 8, 6, 30)) // 01:30 in New York, the night clocks go forward
const lines = [
  fixed.toString(),
  fixed.toLocaleString(),
  fixed.getHours(),
  new Intl.DateTimeFormat().format(fixed),
  (1234.5).toLocaleString(),
  new Date(2026, 10, 1, 1, 30).toISOString(),
  Intl.DateTimeFormat().resolvedOptions().timeZone,
]
for (const line of lines) console.log(String(line))
const now = new Date()
console.log(`now ${now.toString()} ${now.toLocaleTimeString()} ${now.getTimezoneOffset()}`)
