/**
 * The host's side of the replay window (core/script/replay-window.ts): it grants the worker the
 * main stream's records decided ahead of the replica's next slot, and takes the slots the worker
 * answered itself, in the order it answered them, through the same calls (`perform`), so the
 * replica's log position, agreed time and status are what they would have been had each call
 * crossed the bridge. Those slots are decided and match (the worker checked them): the host takes
 * each at once from its log (Engine.takeKnown: the same identity check; agreed time raised to the
 * record's as core/time.ts does), off the script's path.
 */
import { ErrorCodes, RepJSError, stopsReplica } from '../errors.js'
import type { RandomMode } from '../random.js'
import type { Replica } from '../replica.js'
import { agreedTime, restartTime } from '../time.js'
import { CALLS, type CallName, type Perform } from './calls.js'
import { COMPARE_SITES, kindOf, REPLAYABLE, type ReplayWindow } from './replay-window.js'

export interface ReplayHostOptions {
  decided: ReplayWindow
  rep: Replica
  perform: Perform
  /** The host's Math.random mode and median time quorum: only calls agreed one slot each are replayed in the worker. */
  random?: RandomMode
  medianQuorum?: number
  /** A slot the worker answered could not be taken here (the replica stopped meanwhile). */
  stop(err: RepJSError): void
}

/** The calls the worker may answer from the window under these options, as the window's flags. */
export function replayFlags(o: { random?: RandomMode; medianQuorum?: number }, compareSites: boolean): number {
  let flags = compareSites ? COMPARE_SITES : 0
  REPLAYABLE.forEach((name, i) => {
    const op = CALLS[name].op
    const one = op === 'now' || op === 'perf' ? !o.medianQuorum : op === 'random' ? o.random === 'call' : true
    if (one) flags |= 1 << i
  })
  return flags
}

export class ReplayHost {
  private readonly view: Replica['scriptView']
  /** A grant of at least one slot stands (from the last answer until the next request). */
  private active = false
  /** The place does not fit the window (a run name of hundreds of bytes): every call crosses. */
  private disabled = false

  constructor(private readonly o: ReplayHostOptions) {
    this.view = o.rep.scriptView
    if (!o.decided.setPlace(this.view.run, this.view.state.name, replayFlags(o, this.view.compareSites))) this.disabled = true
  }

  /** A grant stands: the worker may be answering calls (the host looks in now and then). */
  get granting(): boolean {
    return this.active
  }

  /**
   * Take the slots the worker claimed (with `revoke`: take the window back first, so it claims no
   * more). Rejects with a RepJSError that stops the replica.
   */
  async catchUp(revoke: boolean): Promise<number> {
    const w = this.o.decided
    if (revoke) this.active = false
    const upTo = revoke ? w.revoke() : w.claimed()
    const from = w.taken
    if (upTo <= from) return 0
    const calls: Promise<unknown>[] = []
    try {
      for (let k = from; k < upTo; k++) {
        const name = w.claimedBy(k)
        // At once when the record is still here (it is, unless the log was re-read): the same
        // identity check and the same agreed time as the call; else through the call itself.
        if (!this.takeKnown(name)) calls.push(this.o.perform(CALLS[name].op, name, []))
      }
    } catch (err) {
      throw this.failed(err)
    } finally {
      w.taken = upTo
      this.view.engine.updateStatus()
    }
    for (const r of await Promise.allSettled(calls)) if (r.status === 'rejected') throw this.failed(r.reason)
    return upTo - from
  }

  /** Take the next slot for `name` from the log at once, as perform would (time raised to its record's). */
  private takeKnown(name: CallName): boolean {
    const { engine, state } = this.view
    const op = CALLS[name].op
    const kind = kindOf(op)
    const rec = engine.takeKnown(state, engine.identity(kind, name))
    if (!rec) return false
    if (kind === 'now') restartTime(state, Math.max(rec.value as number, agreedTime(state)))
    return true
  }

  /** What stops the replica when a slot the worker answered cannot be taken here (it was checked there). */
  private failed(err: unknown): RepJSError {
    return stopsReplica(err) ? err : new RepJSError(ErrorCodes.CORRUPT, `a slot the script's worker answered from the decided log failed here: ${(err as Error)?.message ?? String(err)} (please report this as a RepJS bug)`, { cause: err })
  }

  /** Grant the worker the records decided from the replica's next slot on (every claimed slot taken). */
  grant(): void {
    if (this.disabled) return
    const { state } = this.view
    const log = state.log
    this.o.decided.grant(log.next, agreedTime(state), log.caughtUp ? log.head : -1, (s) => log.peek(s))
    // Nothing decided ahead (a live replica): no looks while the worker runs, no timer per call.
    this.active = this.o.decided.granted > 0
  }

  /** While a grant stands: take what the worker claimed so far, and grant the records that arrived. Returns how many were taken. */
  async idle(): Promise<number> {
    if (!this.active) return 0
    let took: number
    try {
      took = await this.catchUp(false)
    } catch (err) {
      this.active = false
      this.o.decided.revoke()
      this.o.stop(err as RepJSError)
      return 0
    }
    const log = this.view.state.log
    if (this.active) this.o.decided.extend((s) => log.peek(s))
    return took
  }

  /** The worker has ended (or the replica stopped): take the window back and every slot it claimed. */
  async finish(stopped: boolean): Promise<void> {
    this.active = false
    if (stopped) {
      this.o.decided.revoke()
      return
    }
    try {
      await this.catchUp(true)
    } catch (err) {
      if (!RepJSError.is(err, ErrorCodes.CLOSED)) this.o.stop(err as RepJSError)
    }
  }
}
