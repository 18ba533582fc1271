/**
 * The live subscriptions of one connection (SUBSCRIBE / UNSUBSCRIBE): checked, paced, admitted by
 * the hubs, and their slots pushed as SLOTS frames encoded once per batch (peer-frames.ts).
 * On repjs.v2 a PROPOSE's DECIDED delivers its slot (PROTOCOL.md, "DECIDED delivers"): a push that
 * reaches a subscription's next slot while this connection's proposal for it is in flight is held
 * until that proposal is answered, so the slot goes once, in the DECIDED, not in SLOTS as well.
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { encodeMessage, type Message, type Messages } from '../../core/protocol.js'
import { MAX_SLOT } from '../../core/keys.js'
import type { Subscription } from './hub.js'
import { Bucket, limitError } from './limits.js'
import { NAME, type PeerContext } from './peer-context.js'
import { encodeSlots } from './peer-frames.js'

/** What the subscriptions need of their connection. */
export interface SubscriptionOwner {
  readonly run: string | undefined
  readonly closed: boolean
  send(msg: Message): void
  sendFrame(frame: Uint8Array): void
  error(id: number, err: unknown): void
  /** Bytes queued on the socket. */
  buffered(): number
  slowConsumer(): void
}

/** What a subscription is sent, in order: slots, the end of its history, or its error. */
type Item = { first: number; records: Uint8Array[] } | { caughtUp: true } | { failed: unknown }

interface Entry {
  sub?: Subscription
  readonly stream: string
  next: number
  /**
   * Items held while a proposal of this connection for `next` is in flight, in order (a CAUGHT_UP or
   * an error behind held slots waits with them), and their bytes, which count as queued for the
   * hub's pacing.
   */
  held?: Item[]
  heldBytes: number
  /** The hold was given up (too many bytes): nothing is held until the stream's next answer. */
  holdOff: boolean
}

const placeKey = (stream: string, slot: number) => `${slot}\u0000${stream}`

export class ConnectionSubscriptions {
  /**
   * Live subscriptions by client id; `sub` is unset while the subscription is being set up. `next`
   * is the slot the client expects next on it: one past the last slot sent, or delivered by a
   * DECIDED (`delivered`); the hub's pushes below it are not sent again.
   */
  private readonly subs = new Map<number, Entry>()
  private readonly subscribes: Bucket
  /** repjs.v2 only: this connection's proposals in flight, by stream and slot, and how many. */
  private readonly proposals = new Map<string, number>()

  constructor(private readonly ctx: PeerContext, private readonly owner: SubscriptionOwner, private readonly decidedDelivers: boolean) {
    this.subscribes = new Bucket(ctx.limits.subscribesPerSecond, ctx.limits.maxSubscriptions)
  }

  async subscribe(msg: Messages['subscribe']): Promise<void> {
    const o = this.owner
    const { limits, hubs, metrics } = this.ctx
    if (this.subs.has(msg.sub)) return o.error(msg.sub, new RepJSError(ErrorCodes.BAD_ARGUMENT, `subscription ${msg.sub} exists`))
    if (!NAME.test(msg.stream)) return o.error(msg.sub, new RepJSError(ErrorCodes.BAD_ARGUMENT, 'bad stream name'))
    if (msg.from > MAX_SLOT) return o.error(msg.sub, new RepJSError(ErrorCodes.BAD_ARGUMENT, `from ${msg.from} is beyond the last storable slot ${MAX_SLOT}`))
    if (this.subs.size >= limits.maxSubscriptions) {
      return o.error(msg.sub, new RepJSError(ErrorCodes.LIMIT, `more than ${limits.maxSubscriptions} subscriptions on one connection`))
    }
    // Each SUBSCRIBE starts a history read: churn is bounded, a refused one is retried by the client.
    if (!this.subscribes.take()) return o.error(msg.sub, limitError(`more than ${limits.subscribesPerSecond} SUBSCRIBEs per second on one connection: subscribe again later`))
    try {
      hubs.admit(o.run!, msg.stream)
    } catch (err) {
      return o.error(msg.sub, err)
    }
    // Taken now, not after the await: a second SUBSCRIBE with this id, or an UNSUBSCRIBE, may come
    // while the subscription is being set up.
    const entry: Entry = { stream: msg.stream, next: msg.from, heldBytes: 0, holdOff: false }
    this.subs.set(msg.sub, entry)
    let sub: Subscription
    try {
      sub = await hubs.subscribe(o.run!, msg.stream, msg.from, {
        push: (first, records) => this.emit(msg.sub, entry, { first, records }),
        caughtUp: () => this.emit(msg.sub, entry, { caughtUp: true }),
        failed: (err) => this.emit(msg.sub, entry, { failed: err }),
        buffered: () => o.buffered() + entry.heldBytes,
        maxBuffered: limits.maxBufferedBytes,
        stalled: () => o.slowConsumer(),
      })
    } catch (err) {
      if (this.subs.get(msg.sub) === entry) this.subs.delete(msg.sub)
      return o.error(msg.sub, err)
    }
    if (o.closed || this.subs.get(msg.sub) !== entry) sub.close()
    else entry.sub = sub
  }

  /** Send an item of the hub to the client, or hold it behind held slots (see the top of this file). */
  private emit(sub: number, entry: Entry, item: Item): void {
    if (entry.held) {
      entry.held.push(item)
      if ('records' in item) for (const r of item.records) entry.heldBytes += r.byteLength
      // Holding is only an economy (a slot sent before its DECIDED is simply not delivered again by
      // it): past a quarter of the socket's budget, send what is held rather than let it grow.
      if (entry.heldBytes > this.ctx.limits.maxBufferedBytes / 4) {
        entry.holdOff = true
        this.release(sub, entry)
      }
      return
    }
    if ('records' in item) this.push(sub, entry, item.first, item.records)
    else if ('caughtUp' in item) this.owner.send({ type: 'caughtUp', sub })
    else this.owner.error(sub, item.failed)
  }

  /** Send what is held, in order (an item may be held again behind another proposal). */
  private release(sub: number, entry: Entry): void {
    const held = entry.held
    entry.held = undefined
    entry.heldBytes = 0
    for (const item of held ?? []) this.emit(sub, entry, item)
  }

  /** Send what the client does not have yet of a hub push, or start holding it. */
  private push(sub: number, entry: Entry, first: number, records: Uint8Array[]): void {
    const skip = entry.next - first
    if (skip >= records.length) return
    if (skip >= 0 && !entry.holdOff && this.proposals.has(placeKey(entry.stream, entry.next))) {
      entry.held = [{ first, records }]
      for (const r of records) entry.heldBytes += r.byteLength
      return
    }
    entry.next = first + records.length
    if (skip <= 0) this.sendSlots(sub, first, records, true)
    else this.sendSlots(sub, first + skip, records.slice(skip), false)
  }

  private sendSlots(sub: number, first: number, records: Uint8Array[], shared: boolean): void {
    this.ctx.metrics.pushed.inc(records.length)
    this.owner.sendFrame(shared ? encodeSlots(sub, first, records) : encodeMessage({ type: 'slots', sub, first, records }))
  }

  /**
   * A PROPOSE for `slot` of `stream` is in flight; call what this returns once it is answered, right
   * after its answer was sent: a DECIDED (`decided`) delivers that slot to the subscriptions of the
   * stream that stand at it (the client does the same on receipt), so the hub's push of it is not
   * sent again; then the pushes held for the proposal go on. Nothing on a repjs.v1 connection.
   */
  proposing(stream: string, slot: number): (decided: boolean) => void {
    if (!this.decidedDelivers) return () => {}
    const key = placeKey(stream, slot)
    this.proposals.set(key, (this.proposals.get(key) ?? 0) + 1)
    return (decided) => {
      const left = this.proposals.get(key)! - 1
      if (left > 0) this.proposals.set(key, left)
      else this.proposals.delete(key)
      for (const [id, entry] of this.subs) {
        if (entry.stream !== stream) continue
        if (decided && entry.next === slot) entry.next = slot + 1
        entry.holdOff = false
        if (entry.held) this.release(id, entry)
      }
    }
  }

  unsubscribe(id: number): void {
    const entry = this.subs.get(id)
    this.subs.delete(id)
    entry?.sub?.close()
  }

  /** Every subscription ends with `err` (the run went), so a replica waiting for others' slots stops too. */
  failAll(err: RepJSError): void {
    for (const id of this.subs.keys()) this.owner.error(id, err)
  }

  closeAll(): void {
    for (const s of this.subs.values()) s.sub?.close()
    this.subs.clear()
  }
}
