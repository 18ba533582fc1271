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

/** A tiny typed emitter for status changes; repeated states are not re-emitted. */
export class StatusEmitter {
  private listeners = new Set<StatusListener>()
  current: Status = { state: 'connecting', slot: 0, head: -1 }

  on(listener: StatusListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  set(state: StatusState, slot: number, head: number, reason?: string): void {
    const prev = this.current
    if (prev.state === 'closed') return
    if (prev.state === state && prev.reason === reason && state !== 'catching-up') {
      this.current = { state, slot, head, reason }
      return
    }
    this.current = { state, slot, head, reason }
    if (prev.state === state && prev.reason === reason) return
    for (const l of this.listeners) {
      try {
        l(this.current)
      } catch (err) {
        console.error('repjs: a status listener threw', err)
      }
    }
  }
}
