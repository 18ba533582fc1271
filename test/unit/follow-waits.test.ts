// A follower's waits (core/follow-waits.ts): each ends with its slot's record when it arrives, or
// undefined at its own deadline, under one timer for all of them; closing stops the timer.
import { expect, test } from 'vitest'
import { FollowWaits, type DecidedSlots } from '../../core/follow-waits.js'

/** A log of decided slots with onDecided/peek as StreamLog has them. */
function slots() {
  const decided = new Map<number, Uint8Array>()
  const waiters = new Map<number, Array<() => void>>()
  const log: DecidedSlots & { decide(slot: number, r: Uint8Array): void; waiting(): number } = {
    peek: (slot) => decided.get(slot),
    onDecided(slot, cb) {
      if (decided.has(slot)) return cb(), () => {}
      const l = waiters.get(slot) ?? []
      waiters.set(slot, l)
      l.push(cb)
      return () => l.splice(l.indexOf(cb) >>> 0, 1)
    },
    decide(slot, r) {
      decided.set(slot, r)
      for (const cb of waiters.get(slot)?.splice(0) ?? []) cb()
    },
    waiting: () => [...waiters.values()].reduce((n, l) => n + l.length, 0),
  }
  return log
}

test('a wait ends with the record when its slot is decided, or with undefined at its own deadline', async () => {
  const waits = new FollowWaits()
  const log = slots()
  const rec = new Uint8Array([1])
  const t0 = performance.now()
  const short = waits.wait(log, 0, 20)
  const long = waits.wait(log, 1, 60)
  const answered = waits.wait(log, 2, 1000)
  log.decide(2, rec)
  expect(await answered).toBe(rec)
  expect(await short).toBeUndefined()
  const shortAt = performance.now() - t0
  expect(await long).toBeUndefined()
  const longAt = performance.now() - t0
  expect(shortAt).toBeGreaterThanOrEqual(19)
  expect(longAt).toBeGreaterThanOrEqual(59)
  expect(longAt).toBeGreaterThan(shortAt)
  // A wait given up no longer listens for its slot.
  expect(log.waiting()).toBe(0)
  // A slot decided already answers at once.
  expect(await waits.wait(log, 2, 1000)).toBe(rec)
  waits.close()
})

test('a later wait with an earlier deadline is given up first; close() stops the timer', async () => {
  const waits = new FollowWaits()
  const log = slots()
  const order: number[] = []
  const late = waits.wait(log, 0, 80).then(() => order.push(0))
  const early = waits.wait(log, 1, 10).then(() => order.push(1))
  await Promise.all([late, early])
  expect(order).toEqual([1, 0])
  let ended = false
  void waits.wait(log, 5, 30).then(() => (ended = true))
  waits.close()
  await new Promise((r) => setTimeout(r, 60))
  expect(ended).toBe(false)
})
