/**
 * The deadlines of one connection's calls on a single timer, armed for the earliest one: a call
 * costs a Set insert and delete instead of a setTimeout and clearTimeout (part of the lean unary
 * path's per-call CPU, see h2-connection.ts). The timer is ref'd while calls are in flight, so a
 * pending call keeps the process alive as node:http2's per-call timers did.
 */
export class CallDeadlines<Call extends { readonly deadline: number }> {
  private readonly calls = new Set<Call>()
  private timer: NodeJS.Timeout | undefined
  /** When the timer fires (a performance.now() instant, as every deadline here: a wall-clock step moves none); Infinity when it is not armed. */
  private at = Infinity

  constructor(private readonly expired: (call: Call) => void) {}

  add(call: Call): void {
    this.calls.add(call)
    if (call.deadline < this.at) this.arm(call.deadline)
    else if (this.calls.size === 1) this.timer?.ref()
  }

  delete(call: Call): void {
    if (this.calls.delete(call) && this.calls.size === 0) this.timer?.unref()
  }

  clear(): void {
    this.calls.clear()
    clearTimeout(this.timer)
    this.timer = undefined
    this.at = Infinity
  }

  private arm(at: number): void {
    clearTimeout(this.timer)
    this.at = at
    this.timer = setTimeout(() => this.fire(), Math.max(1, at - performance.now()))
  }

  /** Expire every call whose deadline passed (within the timer's 1 ms granularity); re-arm for the rest. */
  private fire(): void {
    this.timer = undefined
    this.at = Infinity
    const now = performance.now()
    let next = Infinity
    for (const call of [...this.calls]) {
      if (call.deadline <= now + 1) this.expired(call)
      else if (this.calls.has(call)) next = Math.min(next, call.deadline)
    }
    // An expiry may have destroyed the connection (clear()): then nothing is left to arm for.
    if (next < Infinity && this.calls.size > 0) this.arm(next)
  }
}
