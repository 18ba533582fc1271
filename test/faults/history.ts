/**
 * The history checker of the fault-injection suite. Each replica process (replica.mjs) logs what it
 * was given; after a run `checkHistories` verifies:
 *  1. all histories are prefixes of one history: per stream, every replica saw slots 0, 1, 2, ... in
 *     order with no gap, and every replica (and etcd's log, if given) holds the same record at a slot;
 *  2. every acknowledged typed line appears exactly once in the agreed input, at the slot acknowledged;
 *  3. agreed time never decreases within a history;
 *  4. each run-once side effect happened at most once (exactly once if its outcome was recorded), and
 *     every replica that finished got the outcome of every run-once call or REPJS_IN_DOUBT.
 * A replica that logged REPJS_DIVERGED or REPJS_CORRUPT counts as a divergence.
 */
import { readFileSync } from 'node:fs'

export type HistoryEvent =
  | { t: 'rec'; s: string; n: number; h: string }
  | { t: 'now'; v: number }
  | { t: 'typed'; line: string }
  | { t: 'in'; line: string | null; n: number }
  | { t: 'ack'; line: string; n: number }
  | { t: 'once'; k: number; ok: boolean; code?: string }
  | { t: 'status'; s: string }
  | { t: 'error'; code: string | null; message: string }
  /** Finished its program after `ops` ops (run-once call k is made at op k; older logs: no count). */
  | { t: 'done'; ops?: number }

export interface History {
  /** The replica id (one process incarnation). */
  id: string
  events: HistoryEvent[]
}

export interface Effect {
  k: number
  by: string
}

export interface CheckInput {
  histories: History[]
  effects: Effect[]
  /** etcd's log at the end: stream -> slot -> record hash (record-hash.mjs), if read. */
  reference?: Map<string, Map<number, string>>
}

export interface CheckResult {
  histories: number
  /** Agreed records checked across all histories. */
  records: number
  ackedLines: number
  lostLines: number
  divergences: number
  doubleExecutions: number
  timeRegressions: number
  missingOutcomes: number
  violations: string[]
}

export function checkHistories(input: CheckInput): CheckResult {
  const r: CheckResult = {
    histories: input.histories.length, records: 0, ackedLines: 0, lostLines: 0, divergences: 0,
    doubleExecutions: 0, timeRegressions: 0, missingOutcomes: 0, violations: [],
  }
  const fail = (field: 'lostLines' | 'divergences' | 'doubleExecutions' | 'timeRegressions' | 'missingOutcomes', msg: string) => {
    r[field]++
    r.violations.push(msg)
  }

  // 1. One history: per stream, slot -> hash, first seen (etcd's log first, if given).
  const merged = new Map<string, Map<number, { h: string; who: string }>>()
  for (const [stream, slots] of input.reference ?? []) {
    merged.set(stream, new Map([...slots].map(([n, h]) => [n, { h, who: 'etcd' }])))
  }
  const lines = new Map<number, { line: string | null; who: string }>()
  for (const hist of input.histories) {
    const next = new Map<string, number>()
    let lastTime = -Infinity
    for (const e of hist.events) {
      if (e.t === 'rec') {
        r.records++
        const expect = next.get(e.s) ?? 0
        if (e.n !== expect) fail('divergences', `${hist.id}: stream '${e.s}' gave slot ${e.n} where slot ${expect} was next (not a prefix)`)
        next.set(e.s, Math.max(expect, e.n + 1))
        const m = merged.get(e.s) ?? new Map<number, { h: string; who: string }>()
        merged.set(e.s, m)
        const seen = m.get(e.n)
        if (!seen) m.set(e.n, { h: e.h, who: hist.id })
        else if (seen.h !== e.h) fail('divergences', `${hist.id}: stream '${e.s}' slot ${e.n} is ${e.h}, but ${seen.who} has ${seen.h}`)
      } else if (e.t === 'in') {
        const seen = lines.get(e.n)
        if (!seen) lines.set(e.n, { line: e.line, who: hist.id })
        else if (seen.line !== e.line) fail('divergences', `${hist.id}: input slot ${e.n} is ${JSON.stringify(e.line)}, but ${seen.who} got ${JSON.stringify(seen.line)}`)
      } else if (e.t === 'now') {
        if (e.v < lastTime) fail('timeRegressions', `${hist.id}: agreed time went back from ${lastTime} to ${e.v}`)
        lastTime = Math.max(lastTime, e.v)
      } else if (e.t === 'error' && (e.code === 'REPJS_DIVERGED' || e.code === 'REPJS_CORRUPT')) {
        fail('divergences', `${hist.id}: stopped with ${e.code}: ${e.message}`)
      }
    }
  }

  // 2. Acknowledged lines: exactly once, where acknowledged.
  const where = new Map<string, number[]>()
  for (const [n, { line }] of lines) if (line !== null) where.set(line, [...(where.get(line) ?? []), n])
  for (const hist of input.histories) {
    for (const e of hist.events) {
      if (e.t !== 'ack') continue
      r.ackedLines++
      const at = where.get(e.line) ?? []
      if (at.length === 0) fail('lostLines', `${hist.id}: acknowledged line ${JSON.stringify(e.line)} (slot ${e.n}) is in no history`)
      else if (at.length > 1) fail('lostLines', `${hist.id}: line ${JSON.stringify(e.line)} was agreed ${at.length} times (input slots ${at.join(', ')})`)
      else if (at[0] !== e.n) fail('lostLines', `${hist.id}: line ${JSON.stringify(e.line)} acknowledged at slot ${e.n} but agreed at slot ${at[0]}`)
    }
  }

  // 4. Run-once: effects at most once; outcomes everywhere; recorded ok => exactly one effect.
  const effects = new Map<number, Effect[]>()
  for (const e of input.effects) effects.set(e.k, [...(effects.get(e.k) ?? []), e])
  for (const [k, list] of effects) {
    if (list.length > 1) fail('doubleExecutions', `run-once call ${k} ran ${list.length} times (by ${list.map((e) => e.by).join(', ')})`)
  }
  const outcomes = new Map<number, { ok: boolean; who: string }>()
  for (const hist of input.histories) {
    for (const e of hist.events) {
      if (e.t !== 'once') continue
      const seen = outcomes.get(e.k)
      if (!seen) outcomes.set(e.k, { ok: e.ok, who: hist.id })
      else if (seen.ok !== e.ok) fail('divergences', `${hist.id}: run-once call ${e.k} ${e.ok ? 'succeeded' : `gave ${e.code}`}, but not on ${seen.who}`)
      if (!e.ok && e.code !== 'REPJS_IN_DOUBT') fail('missingOutcomes', `${hist.id}: run-once call ${e.k} failed with ${e.code}, neither its outcome nor REPJS_IN_DOUBT`)
    }
  }
  for (const [k, o] of outcomes) {
    if (o.ok && (effects.get(k)?.length ?? 0) === 0) fail('missingOutcomes', `run-once call ${k} has a recorded outcome but no side effect`)
  }
  const calls = new Set([...outcomes.keys(), ...effects.keys()])
  for (const hist of input.histories) {
    const done = hist.events.find((e) => e.t === 'done')
    if (!done) continue
    const got = new Set(hist.events.flatMap((e) => (e.t === 'once' ? [e.k] : [])))
    // A replica that stopped earlier than others (released sooner: FaultRun.release) made fewer calls.
    for (const k of calls) if (k < (done.ops ?? Infinity) && !got.has(k)) fail('missingOutcomes', `${hist.id}: finished without the outcome of run-once call ${k}`)
  }
  return r
}

/** Read a JSON-lines log; a line cut short by a kill -9 at the very end is ignored. */
export function readJsonLines<T>(path: string): T[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const rows = text.split('\n')
  const out: T[] = []
  rows.forEach((row, i) => {
    if (!row) return
    try {
      out.push(JSON.parse(row) as T)
    } catch (err) {
      if (i < rows.length - 1 && rows.slice(i + 1).some(Boolean)) throw new Error(`${path}:${i + 1}: not JSON: ${row}`, { cause: err })
    }
  })
  return out
}
