/**
 * Replicated input. Each `input()` call takes the next slot of the input stream; the local line
 * source (a terminal, the <repjs-prompt> element) races the other replicas for it:
 *  - if a local line is queued, it is proposed; if it wins, every replica gets it;
 *  - if another replica's line wins, this replica returns that line (and shows it as typed there,
 *    marked with who typed it); its own line stays queued, in order, for the next input() call.
 * No typed line is ever lost. Waiting uses the log's watch (decided slots pushed), not polling.
 * End of input is a value too, but only an explicit one (`endInput()`): when agreed, input()
 * returns null on every replica; lines still queued then are reported as not sent.
 */
import type { Engine, StreamState } from './engine.js'
import { ErrorCodes, RepJSError } from './errors.js'

export const INPUT_STREAM = 'input'

/** An agreed line: who typed it, and whether it was this replica. */
export interface InputLine {
  /** The line, or null for the agreed end of input. */
  line: string | null
  /** Replica id that typed it. */
  replica: string
  /** Display name of that replica (connect({ name })). */
  who: string
  /** True if this replica typed it. */
  local: boolean
  slot: number
  /** When it was typed: the typing replica's clock, recorded with the line, so agreed. */
  time: number
}

interface Queued {
  seq: number
  line: string | null
}

export class InputQueue {
  private queue: Queued[] = []
  private seq = 0
  private wake: Array<() => void> = []
  private listeners = new Set<(l: InputLine) => void>()
  ended = false

  constructor(
    private readonly engine: Engine,
    private readonly stream: StreamState,
    private readonly who: string,
    private readonly clock: () => number,
  ) {}

  /** A line typed on this replica. It waits for an input() call if none is pending. */
  type(line: string): void {
    if (typeof line !== 'string') throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'a typed line must be a string')
    this.push(line)
  }

  /** Explicitly end input for every replica (Ctrl-D, a button). */
  end(): void {
    this.push(null)
  }

  private push(line: string | null): void {
    this.queue.push({ seq: this.seq++, line })
    for (const w of this.wake.splice(0)) w()
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

  async next(): Promise<InputLine> {
    const { engine, stream } = this
    const ident = engine.identity('input', 'input')
    const rec = await engine.slot(stream, ident, (slot) => this.race(slot, ident))
    const v = engine.unwrap(rec) as { line: unknown; seq: unknown; who: unknown; at: unknown }
    if ((v.line !== null && typeof v.line !== 'string') || typeof v.seq !== 'number' || typeof v.who !== 'string' || typeof v.at !== 'number') {
      throw new RepJSError(ErrorCodes.CORRUPT, `input slot holds no line; the run's log was written outside RepJS`)
    }
    const local = rec.by === engine.replicaId
    if (local && this.queue[0]?.seq === v.seq) this.queue.shift()
    const out: InputLine = { line: v.line as string | null, replica: rec.by, who: v.who, local, slot: rec.slot!, time: v.at }
    if (out.line === null) this.ended = true
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
      if (head) return engine.propose(stream, slot, ident, { ok: true, value: { line: head.line, seq: head.seq, who: this.who, at: this.clock() } })
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
    }
  }
}
