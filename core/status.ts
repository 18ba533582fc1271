/** Replica status, the names every surface (gateway, component, dashboard) uses. */
export type StatusState = 'connecting' | 'live' | 'catching-up' | 'waiting-for-quorum' | 'reconnecting' | 'closed'

export interface Status {
  state: StatusState
  /** The next slot this replica will use on the main stream. */
  slot: number
  /** Highest decided slot known on the main stream (-1 if none). */
  head: number
  /** Why, for waiting/reconnecting/closed. */
  reason?: string
}

export type StatusListener = (status: Status) => void

/** While catching up, progress (a new slot or head) is emitted at most this often, not once per slot. */
export const PROGRESS_INTERVAL_MS = 250

/**
 * A tiny typed emitter for status changes; repeated states are not re-emitted, except progress
 * while catching up (another slot or head), at most once per PROGRESS_INTERVAL_MS.
 */
export class StatusEmitter {
  private listeners = new Set<StatusListener>()
  current: Status = { state: 'connecting', slot: 0, head: -1 }
  /** When the last catching-up event was emitted (clock ms). */
  private progressAt = -Infinity

  constructor(private readonly clock: () => number = () => performance.now()) {}

  on(listener: StatusListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  set(state: StatusState, slot: number, head: number, reason?: string): void {
    const prev = this.current
    if (prev.state === 'closed') return
    this.current = { state, slot, head, reason }
    if (prev.state === state && prev.reason === reason) {
      if (state !== 'catching-up' || (prev.slot === slot && prev.head === head)) return
      if (this.clock() - this.progressAt < PROGRESS_INTERVAL_MS) return
    }
    if (state === 'catching-up') this.progressAt = this.clock()
    for (const l of this.listeners) {
      try {
        l(this.current)
      } catch (err) {
        console.error('repjs: a status listener threw', err)
      }
    }
  }
}
