// The demo's program logic (demo/app.ts): commands change the state deterministically, bad input
// answers with a message and changes nothing else, and the state hash is stable and sensitive.
import { describe, expect, test } from 'vitest'
import { applyCommand, hashState, initialState, LOG_SIZE, needsRoll, stateJson, summary, type FlightState } from '../../demo/app.js'

const run = (lines: Array<string | [string, number]>, who = 'tab-1'): FlightState =>
  lines.reduce<FlightState>((s, l) => (Array.isArray(l) ? applyCommand(s, l[0], l[1], who) : applyCommand(s, l, undefined, who)), initialState())

describe('applyCommand', () => {
  test('set altitude / heading / speed, with or without "set", any case', () => {
    const s = run(['set altitude 3000', 'heading 270', 'SPEED 250'])
    expect(s).toMatchObject({ altitude: 3000, heading: 270, speed: 250, lastRoll: null })
    expect(run(['altitude 1200', 'set heading 90', 'set speed 180'])).toMatchObject({ altitude: 1200, heading: 90, speed: 180 })
    expect(run(['alt 500', 'hdg 45', 'spd 99'])).toMatchObject({ altitude: 500, heading: 45, speed: 99 })
  })

  test('headings wrap into 0..359; numbers are rounded', () => {
    expect(run(['heading 360']).heading).toBe(0)
    expect(run(['heading 450']).heading).toBe(90)
    expect(run(['heading -90']).heading).toBe(270)
    expect(run(['set altitude 3000.6']).altitude).toBe(3001)
  })

  test('roll takes the agreed die', () => {
    const s = run([['roll', 4]])
    expect(s.lastRoll).toBe(4)
    expect(s.log.at(-1)).toEqual({ who: 'tab-1', line: 'roll', reply: 'rolled 4' })
    expect(needsRoll('roll')).toBe(true)
    expect(needsRoll('  Roll ')).toBe(true)
    expect(needsRoll('roll 2')).toBe(false)
    expect(needsRoll('set altitude 3')).toBe(false)
  })

  test('roll without a valid agreed die changes nothing but says so', () => {
    for (const die of [undefined, 0, 7, 2.5]) {
      const s = applyCommand(initialState(), 'roll', die)
      expect(s.lastRoll).toBeNull()
      expect(s.log.at(-1)!.reply).toMatch(/agreed die/)
    }
  })

  test('unknown commands and bad arguments answer with a message and keep the values', () => {
    const before = run(['set altitude 3000'])
    for (const [line, reply] of [
      ['fly to the moon', /unknown command 'fly to the moon'; type help/],
      ['set altitude high', /usage: set altitude/],
      ['set altitude 99999999', /altitude must be 0\.\.60000/],
      ['speed -5', /speed must be 0\.\.1200/],
      ['heading', /usage: heading/],
      ['heading 1 2', /usage: heading/],
      ['speed 1e3', /usage: speed/],
      ['roll 6', /usage: roll/],
    ] as const) {
      const after = applyCommand(before, line, 3, 'term')
      expect(after.log.at(-1)!.reply, line).toMatch(reply)
      expect({ ...after, log: [] }, line).toEqual({ ...before, log: [] })
    }
  })

  test('help lists the commands; blank lines change nothing', () => {
    const s = run(['help'])
    expect(s.log.at(-1)!.reply).toMatch(/set altitude.*heading.*speed.*roll/)
    const base = run(['heading 10'])
    expect(applyCommand(base, '   ')).toBe(base)
  })

  test('the log keeps who typed each line and only the last LOG_SIZE entries', () => {
    let s = initialState()
    for (let i = 0; i < LOG_SIZE + 5; i++) s = applyCommand(s, `heading ${i}`, undefined, i % 2 ? 'term' : 'tab')
    expect(s.log).toHaveLength(LOG_SIZE)
    expect(s.log[0]).toEqual({ who: 'term', line: 'heading 5', reply: 'heading 005°' })
    expect(s.log.at(-1)).toEqual({ who: 'tab', line: `heading ${LOG_SIZE + 4}`, reply: `heading ${String(LOG_SIZE + 4).padStart(3, '0')}°` })
  })

  test('the old state is never changed', () => {
    const a = run(['set altitude 100'])
    const copy = structuredClone(a)
    applyCommand(a, 'set altitude 200')
    applyCommand(a, 'roll', 5)
    expect(a).toEqual(copy)
  })
})

describe('hashState', () => {
  test('8 hex digits, same for equal states however they were built', () => {
    const a = run(['set altitude 3000', ['roll', 2]], 'term')
    const b: FlightState = { log: a.log.map((e) => ({ reply: e.reply, line: e.line, who: e.who })), lastRoll: 2, speed: 0, heading: 0, altitude: 3000 }
    expect(hashState(a)).toMatch(/^[0-9a-f]{8}$/)
    expect(hashState(b)).toBe(hashState(a))
    expect(stateJson(b)).toBe(stateJson(a))
  })

  test('any difference changes it: a value, the die, who typed a line', () => {
    const base = run(['set altitude 3000'])
    const hashes = new Set([
      hashState(base),
      hashState(run(['set altitude 3001'])),
      hashState(run(['set altitude 3000'], 'tab-2')),
      hashState(applyCommand(base, 'roll', 1)),
      hashState(applyCommand(base, 'roll', 2)),
      hashState(initialState()),
    ])
    expect(hashes.size).toBe(6)
  })

  test('a known value (the hash must not drift between releases: replicas of one run compare it)', () => {
    // FNV-1a 32 of {"altitude":0,"heading":0,"speed":0,"lastRoll":null,"log":[]}
    expect(hashState(initialState())).toBe('e134351a')
    expect(summary(run(['set altitude 3000', 'heading 5', ['roll', 6]]))).toMatch(/^ALT 3000 ft {2}HDG 005° {2}SPD 0 kt {2}ROLL 6 {2}state [0-9a-f]{8}$/)
  })
})
