/**
 * A follower's waits for slots another replica decides (Engine.follow): each wait ends when its
 * slot's record arrives, or at its deadline (the caller then proposes). One timer gives up every
 * wait whose deadline passed and is set again only for the earliest one left: a timer set and
 * cleared per slot made the runtime build and drop a timer list per call (Node's timers keep one
 * list per duration; a slot learned first clears its list's only timer), measured in followers'
 * CPU profiles (issue 14).
 */
import type { StreamLog } from './stream-log.js'

/** What a wait reads of a stream's log. */
export type DecidedSlots = Pick<StreamLog, 'onDecided' | 'peek'>

interface Wait {
  deadline: number
  giveUp: () => void
}

export class FollowWaits {
  private readonly waits = new Set<Wait>()
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the timer fires (clock ms), Infinity when none is set. */
  private timerAt = Infinity

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** The slot's record once `log` has it, or undefined when `ms` passed first. */
  wait(log: DecidedSlots, slot: number, ms: number): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const wait: Wait = {
        deadline: this.clock() + ms,
        giveUp: () => {
          cancel()
          resolve(undefined)
        },
      }
      const cancel = log.onDecided(slot, () => {
        this.waits.delete(wait)
        resolve(log.peek(slot))
      })
      // Decided already: onDecided called back at once.
      if (log.peek(slot)) return
      this.waits.add(wait)
      if (wait.deadline < this.timerAt) this.arm(wait.deadline)
    })
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - this.clock()))
  }

  private expire(): void {
    this.timer = undefined
    this.timerAt = Infinity
    const now = this.clock()
    let next = Infinity
    for (const w of this.waits) {
      if (w.deadline <= now) {
        this.waits.delete(w)
        w.giveUp()
      } else if (w.deadline < next) next = w.deadline
    }
    if (next < Infinity) this.arm(next)
  }

  /** Stop the timer (the replica closes; its logs wake their waiters themselves). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    this.waits.clear()
  }
}
