/**
 * The request deadlines of one gateway connection, on one timer. Every deadline is as long
 * (`requestTimeoutMs`) and restarting one moves it to the end, so in the order they were (re)started
 * they also fall due: the timer waits for the first one only. An answered request costs a Map
 * delete, not a clearTimeout and a setTimeout (per agreed call, in the client's --cpu-prof). No
 * timer is left armed while no request has a deadline (it would keep a process alive).
 */
export class RequestDeadlines {
  private readonly due = new Map<number, { at: number; expire: () => void }>()
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly ms: number) {}

  /** (Re)start request `id`'s deadline: `expire` runs `ms` from now unless `clear`ed first. */
  start(id: number, expire: () => void): void {
    this.due.delete(id)
    this.due.set(id, { at: Date.now() + this.ms, expire })
    this.timer ??= setTimeout(this.fire, this.ms)
  }

  clear(id: number): void {
    if (this.due.delete(id) && this.due.size === 0) this.stop()
  }

  clearAll(): void {
    this.due.clear()
    this.stop()
  }

  private stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Expire what is due, in order; wait for the next one. An `expire` may start or clear others. */
  private readonly fire = (): void => {
    this.timer = undefined
    const now = Date.now()
    for (const [id, d] of this.due) {
      if (d.at > now) {
        clearTimeout(this.timer)
        this.timer = setTimeout(this.fire, d.at - now)
        return
      }
      this.due.delete(id)
      d.expire()
    }
  }
}
