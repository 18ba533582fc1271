// Catch-up progress is emitted at a bounded rate, not once per slot; other repeated states are not re-emitted.
import { expect, test } from 'vitest'
import { PROGRESS_INTERVAL_MS, StatusEmitter, type Status } from '../../core/status.js'
import { catchUpProgress } from '../../node-gateway/run/progress.js'

test('catching-up progress: at most one event per PROGRESS_INTERVAL_MS, then live at once', () => {
  let now = 0
  const status = new StatusEmitter(() => now)
  const seen: Array<Status & { at: number }> = []
  status.on((s) => seen.push({ ...s, at: now }))
  // 10,000 slots, one per 0.1 ms: one second of catch-up.
  for (let slot = 0; slot < 10_000; slot++, now += 0.1) status.set('catching-up', slot, 9_999)
  status.set('live', 10_000, 9_999)
  status.set('live', 10_001, 10_000)
  const progress = seen.filter((s) => s.state === 'catching-up')
  expect(progress.length).toBeGreaterThanOrEqual(4)
  expect(progress.length).toBeLessThanOrEqual(1 + Math.ceil(1000 / PROGRESS_INTERVAL_MS))
  for (let i = 1; i < progress.length; i++) {
    expect(progress[i]!.at - progress[i - 1]!.at).toBeGreaterThanOrEqual(PROGRESS_INTERVAL_MS)
    expect(progress[i]!.slot).toBeGreaterThan(progress[i - 1]!.slot)
  }
  expect(seen.at(-1)).toMatchObject({ state: 'live', slot: 10_000 })
  expect(seen.filter((s) => s.state === 'live')).toHaveLength(1)
})

test('the same catching-up position is not re-emitted', () => {
  let now = 0
  const status = new StatusEmitter(() => now)
  let n = 0
  status.on(() => n++)
  status.set('catching-up', 5, 10)
  now += 1000
  status.set('catching-up', 5, 10)
  expect(n).toBe(1)
})

test('the --verbose progress lines: slot of head with a percentage, then a final live line', () => {
  const lines: string[] = []
  let now = 0
  const progress = catchUpProgress((l) => lines.push(l), () => now)
  expect(progress({ state: 'catching-up', slot: 0, head: -1 })).toBe(true)
  progress({ state: 'catching-up', slot: 12_000, head: 49_999 })
  now = 3200
  progress({ state: 'live', slot: 50_000, head: 49_999 })
  expect(progress({ state: 'live', slot: 50_001, head: 50_000 })).toBe(false)
  expect(lines).toEqual([
    'catching up: reading the log from slot 0',
    'catching up: slot 12,000 of 50,000 (24%)',
    'caught up: live at slot 50,000 after 50,000 slots in 3.2 s',
  ])
})

test('progress lines write slot numbers as en-US does, without Intl', () => {
  const lines: string[] = []
  const progress = catchUpProgress((l) => lines.push(l), () => 0)
  for (const [slot, head] of [[0, 9], [12345, 999], [1234567, 9999999], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1]] as const) {
    progress({ state: 'catching-up', slot, head })
    expect(lines.at(-1)).toBe(`catching up: slot ${slot.toLocaleString('en-US')} of ${(head + 1).toLocaleString('en-US')} (${Math.floor((100 * Math.min(slot, head + 1)) / (head + 1))}%)`)
  }
})
