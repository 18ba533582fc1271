/**
 * The flight display: the replicated program shared by the browser tab (demo/main.ts), the Node
 * terminal (demo/terminal.ts) and the Electron window. Environment-neutral: no DOM, no Node.
 *
 * Every replica runs the same two loops:
 *  - commands: the next agreed input line (stream 'input', which carries who typed it and when),
 *    applied to the state; `roll` asks for an agreed die (main stream), so every replica applies
 *    the same number;
 *  - clock: one agreed time per second on its own stream 'clock', so ticks never interleave with
 *    the prompt's slots.
 * The state is plain data changed only by agreed values, so every replica holds the same state,
 * and `hashState` shows that at a glance. After each command the replicas also agree on it:
 * `rep.check(hash)` on stream 'state' (slot n after command n); a replica whose state differs from
 * the recorded one reports REPJS_DIVERGED through onError and closes.
 */
import type { InputLine, Replica } from '../core/index.js'

/** The program id every replica of the demo passes to connect(): tabs, terminal and Electron join one run. */
export const PROGRAM = 'flight-display@1'

export interface LogEntry {
  /** Who typed the line (the replica's display name, agreed with the line). */
  who: string
  line: string
  /** What the display answered. */
  reply: string
}

export interface FlightState {
  altitude: number
  heading: number
  speed: number
  lastRoll: number | null
  /** The most recent commands, oldest first (at most LOG_SIZE). */
  log: LogEntry[]
}

export const LOG_SIZE = 12
/** The stream of the agreed state checks: slot n holds the state hash after command n. */
export const CHECK_STREAM = 'state'
export const LIMITS = { altitude: [0, 60000], speed: [0, 1200] } as const

export const HELP =
  'commands: set altitude <ft> | heading <deg> | speed <kt> | roll (agreed die) | help ' +
  '(altitude/heading/speed also work with or without "set")'

export function initialState(): FlightState {
  return { altitude: 0, heading: 0, speed: 0, lastRoll: null, log: [] }
}

/** True if the line is a `roll`: the caller fetches an agreed die before applying it. */
export function needsRoll(line: string): boolean {
  return line.trim().toLowerCase() === 'roll'
}

function parseNumber(word: string | undefined): number | undefined {
  if (word === undefined || !/^[+-]?\d+(\.\d+)?$/.test(word)) return undefined
  return Number(word)
}

/**
 * Apply one agreed command; returns the new state (the old one is not changed). `roll` is the
 * agreed die for a `roll` command (see needsRoll), `who` the name of the replica that typed it.
 * Pure and deterministic: the same arguments give the same state on every replica.
 */
export function applyCommand(state: FlightState, line: string, roll?: number, who = ''): FlightState {
  if (line.trim() === '') return state
  const next: FlightState = { ...state, log: state.log }
  const words = line.trim().toLowerCase().split(/\s+/).filter(Boolean)
  if (words[0] === 'set') words.shift()
  const [cmd, arg] = words
  let reply: string
  switch (cmd) {
    case 'altitude':
    case 'alt': {
      const n = parseNumber(arg)
      const [lo, hi] = LIMITS.altitude
      if (n === undefined || words.length !== 2) reply = `usage: set altitude <feet>, e.g. set altitude 3000`
      else if (n < lo || n > hi) reply = `altitude must be ${lo}..${hi} ft`
      else {
        next.altitude = Math.round(n)
        reply = `altitude ${next.altitude} ft`
      }
      break
    }
    case 'heading':
    case 'hdg': {
      const n = parseNumber(arg)
      if (n === undefined || words.length !== 2) reply = `usage: heading <degrees>, e.g. heading 270`
      else {
        next.heading = ((Math.round(n) % 360) + 360) % 360
        reply = `heading ${String(next.heading).padStart(3, '0')}°`
      }
      break
    }
    case 'speed':
    case 'spd': {
      const n = parseNumber(arg)
      const [lo, hi] = LIMITS.speed
      if (n === undefined || words.length !== 2) reply = `usage: speed <knots>, e.g. speed 250`
      else if (n < lo || n > hi) reply = `speed must be ${lo}..${hi} kt`
      else {
        next.speed = Math.round(n)
        reply = `speed ${next.speed} kt`
      }
      break
    }
    case 'roll':
      if (words.length !== 1) reply = 'usage: roll'
      else if (roll === undefined || !Number.isInteger(roll) || roll < 1 || roll > 6) reply = 'roll needs an agreed die (1..6)'
      else {
        next.lastRoll = roll
        reply = `rolled ${roll}`
      }
      break
    case 'help':
      reply = HELP
      break
    default:
      reply = `unknown command '${line.trim().slice(0, 40)}'; type help`
  }
  next.log = [...state.log, { who, line: line.trim(), reply }].slice(-LOG_SIZE)
  return next
}

/** The state as JSON with a fixed key order (so equal states give equal text in every runtime). */
export function stateJson(state: FlightState): string {
  return JSON.stringify(state, ['altitude', 'heading', 'speed', 'lastRoll', 'log', 'who', 'line', 'reply'])
}

/** A short stable hash of the state: FNV-1a (32 bit) over its JSON, 8 hex digits. */
export function hashState(state: FlightState): string {
  const text = stateJson(state)
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, '0')
}

/** An agreed time as the display shows it (UTC, so it reads the same in every time zone). */
export function formatClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19) + 'Z'
}

/** One line summarising the state, as the terminal prints it. */
export function summary(state: FlightState): string {
  const hdg = String(state.heading).padStart(3, '0')
  return `ALT ${state.altitude} ft  HDG ${hdg}°  SPD ${state.speed} kt  ROLL ${state.lastRoll ?? '-'}  state ${hashState(state)}`
}

export interface ProgramHooks {
  /** After each agreed command (line) is applied; `at` is its agreed time (when it was typed). */
  onState?(state: FlightState, hash: string, line: InputLine, at: number): void
  /** Each agreed clock tick: tick n is slot n of the 'clock' stream, the same time on every replica. */
  onTick?(time: number, tick: number): void
  /** When the agreed end of input arrives (input() returned null). */
  onEnd?(state: FlightState): void
  /** A loop stopped on an error (REPJS_CLOSED after close() is not reported). */
  onError?(err: unknown): void
}

export interface Program {
  /** Resolves with the final state once input has ended (or the replica closed). */
  done: Promise<FlightState>
  readonly state: FlightState
  /** Stop the clock loop (the replica keeps running). */
  stopClock(): void
}

const isClosed = (err: unknown) => (err as { code?: string } | null)?.code === 'REPJS_CLOSED'

/** Run the flight display's loops on a replica. */
export function runFlightDisplay(rep: Replica, hooks: ProgramHooks = {}): Program {
  const rollDie = rep.distributed(() => 1 + Math.floor(Math.random() * 6), { name: 'roll' })
  const checks = rep.stream(CHECK_STREAM)
  let state = initialState()
  let clockStopped = false

  const commands = (async () => {
    for (;;) {
      const l = await rep.inputLine()
      if (l.line === null) break
      const roll = needsRoll(l.line) ? await rollDie() : undefined
      state = applyCommand(state, l.line, roll, l.who)
      const hash = hashState(state)
      // Not awaited (the check takes its slot now, in command order). Quorum 1, the first replica
      // to apply the command decides: tabs come and go, so there is no fixed majority to wait for.
      checks.check(hash, { quorum: 1, name: 'state' }).catch((err: unknown) => {
        if (isClosed(err)) return
        hooks.onError?.(err)
        void rep.close()
      })
      hooks.onState?.(state, hash, l, l.time)
    }
    hooks.onEnd?.(state)
    return state
  })().catch((err: unknown) => {
    if (!isClosed(err)) hooks.onError?.(err)
    return state
  })

  void (async () => {
    const clock = rep.stream('clock')
    for (let tick = 0; !clockStopped; tick++) {
      const t = await clock.now()
      hooks.onTick?.(t, tick)
      // Wake at the next whole second of agreed time. A replica replaying old ticks (joined late)
      // gets times in the past and so runs through them without waiting until it is live.
      const wait = Math.max(0, (Math.floor(t / 1000) + 1) * 1000 - Date.now())
      await new Promise((r) => setTimeout(r, wait))
    }
  })().catch((err: unknown) => {
    if (!isClosed(err)) hooks.onError?.(err)
  })

  return {
    done: commands,
    get state() {
      return state
    },
    stopClock() {
      clockStopped = true
    },
  }
}
