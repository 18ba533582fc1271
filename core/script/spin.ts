/**
 * Short spins on the bridge's state word before a thread blocks (the worker in Atomics.wait, the host
 * in Atomics.waitAsync). Measured (2 cores, `repjs run` replaying a decided log, and the bridge alone
 * answered at once): every blocking wait answered by a notify costs a thread wake-up of ~20-25 µs of
 * latency and as much CPU (a futex wake for the worker, a task posted to the event loop for the host),
 * two per call, more than the call's own work. A thread that spins a few tens of µs while the other
 * side is about to answer takes the answer without either. Spinning pays only while the other side
 * runs at the same time: on a machine with more runnable threads than cores, a spin mostly waits for
 * a descheduled thread. So each side spins only while its spins succeed; after a spin that did not,
 * it skips the next 1, 2, 4, ... 256 chances (a call waiting on etcd, ~1 ms, pays a wasted spin at
 * most once every 256 calls once it has backed off).
 */

/** The platform's clock, read before a script's patches replace performance.now (this module loads first). */
export const clock: () => number = performance.now.bind(performance)

/** How long one side spins before it blocks, ms. */
export const SPIN_MS = 0.05

const MAX_BACKOFF = 256

/** Spin until ctl[index] is `value` or `ms` have passed; whether it is. */
export function spinUntil(ctl: Int32Array, index: number, value: number, ms = SPIN_MS): boolean {
  const end = clock() + ms
  for (let i = 1; ; i++) {
    if (Atomics.load(ctl, index) === value) return true
    if ((i & 63) === 0 && clock() > end) return false
  }
}

/** Whether one side spins at its next chance: while its spins succeed, with exponential back-off after one that did not. */
export class SpinPolicy {
  private skip = 0
  private backoff = 1

  /** Spin until ctl[index] is `value` (true), unless backing off or the spin runs out (false: block). */
  spin(ctl: Int32Array, index: number, value: number): boolean {
    if (this.skip > 0) {
      this.skip--
      return false
    }
    if (spinUntil(ctl, index, value)) {
      this.backoff = 1
      return true
    }
    this.skip = this.backoff
    this.backoff = Math.min(2 * this.backoff, MAX_BACKOFF)
    return false
  }
}
