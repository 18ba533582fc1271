/**
 * Replicated input. Each `input()` call takes the next slot of the input stream; the local line
 * source (a terminal, the <repjs-prompt> element) races the other replicas for it:
 *  - if a local line is queued, it is proposed; if it wins, every replica gets it;
 *  - if another replica's line wins, this replica returns that line (and shows it as typed there,
 *    marked with who typed it); its own line stays queued, in order, for the next input() call.
 * No typed line is lost while the replica runs. Waiting uses the log's watch (decided slots pushed), not polling.
 * End of input is a value too, but only an explicit one (`endInput()`): when agreed, input()
 * returns null on every replica; lines still queued then are reported as not sent.
 *
 * Each typed line carries a random id (96 bits, fresh per line) in its record, and a replica takes
 * a line out of its queue only when an agreed record carries that line's id: never by replica id
 * and sequence number, which a new incarnation with the same replica id (a reloaded tab) would
 * reuse and a forged `by` could name. input() calls take their slots one at a time, so a queued
 * line is proposed for one slot at a time and agreed at most once; after the agreed end of input,
 * input() returns null without taking a slot (so the log holds one end of input).
 */
import type { Engine, StreamState } from './engine.js'
import { ErrorCodes, RepJSError } from './errors.js'
import { randomHex } from './prng.js'

export const INPUT_STREAM = 'input'

/** An agreed line: who typed it, and whether it was this replica. */
export interface InputLine {
  /** The line, or null for the agreed end of input. */
  line: string | null
  /** Replica id that typed it. */
  replica: string
  /** Display name of that replica (connect({ name })). */
  who: string
  /** True if this replica id typed it (in this incarnation or an earlier one). */
  local: boolean
  /** The line's id, as returned by typeLine() on the replica that typed it (undefined in records written before ids). */
  id: string | undefined
  slot: number
  /** When it was typed: the typing replica's clock, recorded with the line, so agreed. */
  time: number
}

interface Queued {
  id: string
  line: string | null
}

/** The value of an input slot's record. `seq` is what records written before line ids carried. */
interface LineValue {
  line: string | null
  id?: string
  seq?: number
  who: string
  at: number
}

function isLineValue(v: unknown): v is LineValue {
  const l = v as LineValue
  return (
    typeof l === 'object' && l !== null && (l.line === null || typeof l.line === 'string') &&
    (typeof l.id === 'string' || (l.id === undefined && typeof l.seq === 'number')) &&
    typeof l.who === 'string' && typeof l.at === 'number'
  )
}

export class InputQueue {
  private queue: Queued[] = []
  private wake: Array<() => void> = []
  private listeners = new Set<(l: InputLine) => void>()
  /** The agreed end of input, once an input() call here has reached it. */
  private agreedEnd: InputLine | undefined
  /** The last input() call: the next one takes its slot after it settles. */
  private turn: Promise<unknown> | undefined

  constructor(
    private readonly engine: Engine,
    private readonly stream: StreamState,
    private readonly who: string,
    private readonly clock: () => number,
  ) {}

  get ended(): boolean {
    return this.agreedEnd !== undefined
  }

  /** A line typed on this replica; returns its id. It waits for an input() call if none is pending. */
  type(line: string): string {
    if (typeof line !== 'string') throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'a typed line must be a string')
    return this.push(line)
  }

  /** Explicitly end input for every replica (Ctrl-D, a button). Once asked or agreed, again is a no-op. */
  end(): void {
    if (this.ended || this.queue.some((q) => q.line === null)) return
    this.push(null)
  }

  private push(line: string | null): string {
    const id = randomHex(12)
    this.queue.push({ id, line })
    for (const w of this.wake.splice(0)) w()
    return id
  }

  /** Lines typed here that were not (yet) agreed. */
  pending(): Array<string | null> {
    return this.queue.map((q) => q.line)
  }

  /** Every agreed line, local or remote, as it is returned by input(). */
  onLine(listener: (l: InputLine) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The next agreed line. Calls settle in call order, each after the one before it. */
  next(): Promise<InputLine> {
    const prev = this.turn
    let call: Promise<InputLine>
    if (prev) {
      // taken later, outside this call's stack: keep its site (as a slot taken now would have)
      const site = this.engine.siteNow()
      const take = () => this.engine.withSite(site, () => this.take())
      call = prev.then(take, take)
    } else {
      call = this.take()
    }
    this.turn = call
    const done = () => {
      if (this.turn === call) this.turn = undefined
    }
    call.then(done, done)
    return call
  }

  private async take(): Promise<InputLine> {
    if (this.agreedEnd) return this.agreedEnd
    const { engine, stream } = this
    const ident = engine.identity('input', 'input')
    const rec = await engine.slot(stream, ident, (slot) => this.race(slot, ident))
    const v = engine.unwrap(rec)
    if (!isLineValue(v)) throw new RepJSError(ErrorCodes.CORRUPT, `input slot ${rec.slot} holds no line; the run's log was written outside RepJS`)
    if (v.id !== undefined && this.queue[0]?.id === v.id) this.queue.shift()
    const out: InputLine = { line: v.line, replica: rec.by, who: v.who, local: rec.by === engine.replicaId, id: v.id, slot: rec.slot!, time: v.at }
    if (out.line === null) {
      this.agreedEnd = out
      this.queue = this.queue.filter((q) => q.line !== null) // our own request to end is fulfilled
    }
    for (const l of this.listeners) l(out)
    return out
  }

  /** Propose our queued line as soon as there is one, unless another replica's line is decided first. */
  private async race(slot: number, ident: ReturnType<Engine['identity']>): Promise<Uint8Array> {
    const { engine, stream } = this
    for (;;) {
      const decided = stream.log.peek(slot)
      if (decided) return decided
      const head = this.queue[0]
      if (head) return this.propose(slot, ident, head)
      await new Promise<void>((resolve) => {
        let cancel = () => {}
        const done = () => {
          cancel()
          this.wake = this.wake.filter((w) => w !== done)
          engine.signal.removeEventListener('abort', done)
          resolve()
        }
        this.wake.push(done)
        engine.signal.addEventListener('abort', done, { once: true })
        cancel = stream.log.onDecided(slot, done)
      })
      engine.assertOpen()
      // Woken because the log failed (the run went, the store gave up): nothing more will come.
      if (stream.log.failure) throw stream.log.failure
    }
  }

  /**
   * Propose the queue's head for one slot. Store faults that may succeed are retried for the same
   * slot (a resent proposal that finds its own record is recognised by the line's id). If the
   * proposal fails for good, whether it was written is unknown: the line leaves the queue rather
   * than risk being agreed twice, and the error reaches the input() call.
   */
  private async propose(slot: number, ident: ReturnType<Engine['identity']>, head: Queued): Promise<Uint8Array> {
    const value: LineValue = { line: head.line, id: head.id, who: this.who, at: this.clock() }
    try {
      return await this.engine.propose(this.stream, slot, ident, { ok: true, value })
    } catch (err) {
      if (this.queue[0] === head) this.queue.shift()
      throw err
    }
  }
}
