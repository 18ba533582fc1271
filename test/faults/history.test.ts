// The history checker itself: a good history passes, and each kind of violation, crafted by hand,
// is caught and counted in its column.
import { describe, expect, it } from 'vitest'
import { checkHistories, type CheckResult, type Effect, type History, type HistoryEvent } from './history.js'

const rec = (s: string, n: number, h: string): HistoryEvent => ({ t: 'rec', s, n, h })
const good = (id: string, upTo = 3): History => ({
  id,
  events: [
    rec('input', 0, 'i0'), { t: 'in', line: 'a/0', n: 0 },
    ...(id === 'a' ? [{ t: 'ack', line: 'a/0', n: 0 } as HistoryEvent] : []),
    ...Array.from({ length: upTo }, (_, n) => rec('main', n, `m${n}`)),
    { t: 'now', v: 10 }, { t: 'now', v: 10 }, { t: 'now', v: 12 },
    { t: 'once', k: 4, ok: true },
    { t: 'done' },
  ],
})
const effects: Effect[] = [{ k: 4, by: 'a' }]
const counts = (r: CheckResult) => ({
  lostLines: r.lostLines, divergences: r.divergences, doubleExecutions: r.doubleExecutions,
  timeRegressions: r.timeRegressions, missingOutcomes: r.missingOutcomes,
})
const zero = { lostLines: 0, divergences: 0, doubleExecutions: 0, timeRegressions: 0, missingOutcomes: 0 }

describe('history checker', () => {
  it('accepts histories that are prefixes of one history', () => {
    const short: History = { id: 'c', events: [rec('main', 0, 'm0'), rec('main', 1, 'm1')] }
    const r = checkHistories({ histories: [good('a'), good('b'), short], effects, reference: new Map([['main', new Map([[0, 'm0'], [1, 'm1'], [2, 'm2'], [3, 'm3']])]]) })
    expect(r.violations).toEqual([])
    expect(counts(r)).toEqual(zero)
    expect(r).toMatchObject({ histories: 3, records: 10, ackedLines: 1 })
  })

  it('catches two replicas given different records at one slot', () => {
    const b = good('b')
    b.events[3] = rec('main', 1, 'other')
    const r = checkHistories({ histories: [good('a'), b], effects })
    expect(counts(r)).toEqual({ ...zero, divergences: 1 })
    expect(r.violations[0]).toMatch(/b: stream 'main' slot 1 is other, but a has m1/)
  })

  it('catches a replica that differs from etcd\'s log', () => {
    const r = checkHistories({ histories: [good('a')], effects, reference: new Map([['main', new Map([[2, 'x']])]]) })
    expect(counts(r)).toEqual({ ...zero, divergences: 1 })
    expect(r.violations[0]).toMatch(/but etcd has x/)
  })

  it('catches a gap (a history that is not a prefix)', () => {
    const r = checkHistories({ histories: [{ id: 'g', events: [rec('main', 0, 'm0'), rec('main', 2, 'm2')] }], effects: [] })
    expect(counts(r)).toEqual({ ...zero, divergences: 1 })
    expect(r.violations[0]).toMatch(/gave slot 2 where slot 1 was next/)
  })

  it('catches a replica that stopped on REPJS_DIVERGED or REPJS_CORRUPT', () => {
    const r = checkHistories({ histories: [{ id: 'd', events: [{ t: 'error', code: 'REPJS_DIVERGED', message: 'slot 3' }] }, { id: 'e', events: [{ t: 'error', code: 'REPJS_CORRUPT', message: 'x' }] }], effects: [] })
    expect(counts(r)).toEqual({ ...zero, divergences: 2 })
  })

  it('catches an acknowledged line that was lost', () => {
    const a = good('a')
    a.events.push({ t: 'ack', line: 'a/5', n: 1 })
    const r = checkHistories({ histories: [a], effects })
    expect(counts(r)).toEqual({ ...zero, lostLines: 1 })
    expect(r.violations[0]).toMatch(/acknowledged line "a\/5" \(slot 1\) is in no history/)
  })

  it('catches a line agreed twice', () => {
    const b = good('b')
    b.events.push(rec('input', 1, 'i1'), { t: 'in', line: 'a/0', n: 1 })
    const r = checkHistories({ histories: [good('a'), b], effects })
    expect(counts(r)).toEqual({ ...zero, lostLines: 1 })
    expect(r.violations[0]).toMatch(/"a\/0" was agreed 2 times \(input slots 0, 1\)/)
  })

  it('catches replicas given different lines at one input slot', () => {
    const b = good('b')
    b.events[1] = { t: 'in', line: 'b/0', n: 0 }
    const r = checkHistories({ histories: [good('a'), b], effects })
    expect(r.divergences).toBe(1)
    expect(r.violations.join('\n')).toMatch(/input slot 0 is "b\/0", but a got "a\/0"/)
  })

  it('catches agreed time going back', () => {
    const a = good('a')
    a.events.push({ t: 'now', v: 11 })
    const r = checkHistories({ histories: [a], effects })
    expect(counts(r)).toEqual({ ...zero, timeRegressions: 1 })
  })

  it('catches a run-once side effect that happened twice', () => {
    const r = checkHistories({ histories: [good('a'), good('b')], effects: [...effects, { k: 4, by: 'b' }] })
    expect(counts(r)).toEqual({ ...zero, doubleExecutions: 1 })
    expect(r.violations[0]).toMatch(/run-once call 4 ran 2 times \(by a, b\)/)
  })

  it('catches a finished replica without a run-once outcome, and an outcome that is neither value nor IN_DOUBT', () => {
    const b = good('b')
    b.events = b.events.filter((e) => e.t !== 'once')
    const c = good('c')
    c.events = c.events.map((e) => (e.t === 'once' ? { t: 'once', k: 4, ok: false, code: 'REPJS_STORE' } : e))
    const r = checkHistories({ histories: [good('a'), b, c], effects })
    expect(r.missingOutcomes).toBe(2)
    expect(r.divergences).toBe(1) // c's failure disagrees with a's success
    expect(r.violations.join('\n')).toMatch(/b: finished without the outcome of run-once call 4/)
    expect(r.violations.join('\n')).toMatch(/c: run-once call 4 failed with REPJS_STORE/)
  })

  it('a replica that finished after fewer ops owes only the run-once calls it made; one that made the call still owes it', () => {
    const early = (ops: number): History => ({ id: `early${ops}`, events: [...good('b').events.filter((e) => e.t !== 'once' && e.t !== 'done'), { t: 'done', ops }] })
    expect(counts(checkHistories({ histories: [good('a'), early(4)], effects }))).toEqual(zero)
    const r = checkHistories({ histories: [good('a'), early(5)], effects })
    expect(counts(r)).toEqual({ ...zero, missingOutcomes: 1 })
    expect(r.violations.join('\n')).toMatch(/early5: finished without the outcome of run-once call 4/)
  })

  it('catches a recorded run-once outcome whose side effect never happened', () => {
    const r = checkHistories({ histories: [good('a')], effects: [] })
    expect(counts(r)).toEqual({ ...zero, missingOutcomes: 1 })
  })

  it('accepts an in-doubt call whose effect happened once, or not at all', () => {
    const doubt = (id: string): History => ({ id, events: [{ t: 'once', k: 1, ok: false, code: 'REPJS_IN_DOUBT' }, { t: 'done' }] })
    expect(counts(checkHistories({ histories: [doubt('a'), doubt('b')], effects: [{ k: 1, by: 'a' }] }))).toEqual(zero)
    expect(counts(checkHistories({ histories: [doubt('a'), doubt('b')], effects: [] }))).toEqual(zero)
  })
})
