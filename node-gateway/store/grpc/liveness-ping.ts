/**
 * The lean connection's own PINGs (RFC 9113 section 6.7), its test of a live peer: after a call's
 * deadline, and from a watch whose connection read nothing for a while. One ping in flight at a
 * time, shared by everyone who asks. Any frame read after the ping was sent counts as its answer
 * (a busy peer is alive, also when its ack is slow: a Txn past its deadline must not drop the
 * watches sharing the connection); a connection that read nothing within the timeout is dropped (a
 * frozen member, a half-open connection). After a long event-loop stall the timer can run before
 * what came is read: it looks once more after the next poll phase.
 */
import { pingFrame } from './h2-frames.js'

export class LivenessPing {
  private pinging: { timer: NodeJS.Timeout; waiters: ((ok: boolean) => void)[] } | undefined

  constructor(
    private readonly write: (bytes: Buffer) => void,
    private readonly dead: (why: string) => void,
    /** The connection's socket reads so far. */
    private readonly reads: () => number,
  ) {}

  /** Ping (or join the ping in flight); `answered(ok)` once it is answered or never will be. */
  ping(timeoutMs: number, answered?: (ok: boolean) => void): void {
    if (this.pinging) return void (answered && this.pinging.waiters.push(answered))
    const sentAt = this.reads()
    const timeout = () => {
      if (this.pinging?.timer !== timer) return
      if (this.reads() !== sentAt) this.pong()
      else this.dead(`no answer to a ping within ${timeoutMs} ms`)
    }
    const timer = setTimeout(() => setImmediate(timeout), timeoutMs)
    timer.unref()
    this.pinging = { timer, waiters: answered ? [answered] : [] }
    this.write(pingFrame(Buffer.alloc(8), false))
  }

  /** Our ping answered (`ok`), or never will be (the connection is gone). */
  pong(ok = true): void {
    const p = this.pinging
    this.pinging = undefined
    if (p) clearTimeout(p.timer)
    for (const w of p?.waiters ?? []) w(ok)
  }
}
