/**
 * Catch-up progress for `repjs run --verbose`: a line per catching-up status event (the replica
 * emits those at most a few times per second, see core/status.ts), and a final line when live.
 *
 *   catching up: slot 12,000 of 50,000 (24%)
 *   caught up: live at slot 50,000 after 50,000 slots in 3.2 s
 */
import type { Status } from '../../core/status.js'

/**
 * 12345 → '12,345' (as toLocaleString('en-US') writes a slot number), without Intl: the line is
 * built on every catching-up event, --verbose or not, and a first Intl number format costs ~30 ms
 * of CPU (measured), paid inside a replay.
 */
const count = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')

/** A status listener that writes progress lines; returns true for the events it described. */
export function catchUpProgress(write: (line: string) => void, clock: () => number = () => performance.now()): (s: Status) => boolean {
  let started: { at: number; slot: number } | undefined
  return (s) => {
    if (s.state === 'catching-up') {
      started ??= { at: clock(), slot: s.slot }
      if (s.head < 0) {
        write(`catching up: reading the log from slot ${count(s.slot)}`)
        return true
      }
      const total = s.head + 1
      const pct = total > 0 ? Math.floor((100 * Math.min(s.slot, total)) / total) : 100
      write(`catching up: slot ${count(s.slot)} of ${count(total)} (${pct}%)`)
      return true
    }
    if (s.state === 'live' && started) {
      const secs = ((clock() - started.at) / 1000).toFixed(1)
      write(`caught up: live at slot ${count(s.slot)} after ${count(s.slot - started.slot)} slots in ${secs} s`)
      started = undefined
      return true
    }
    return false
  }
}
