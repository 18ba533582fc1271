/**
 * The live subscriptions of one connection (SUBSCRIBE / UNSUBSCRIBE): checked, paced, admitted by
 * the hubs, and their slots pushed as SLOTS frames encoded once per batch (peer-frames.ts).
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import type { Message, Messages } from '../../core/protocol.js'
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

export class ConnectionSubscriptions {
  /** Live subscriptions by client id; `sub` is unset while the subscription is being set up. */
  private readonly subs = new Map<number, { sub?: Subscription }>()
  private readonly subscribes: Bucket

  constructor(private readonly ctx: PeerContext, private readonly owner: SubscriptionOwner) {
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
    const entry: { sub?: Subscription } = {}
    this.subs.set(msg.sub, entry)
    let sub: Subscription
    try {
      sub = await hubs.subscribe(o.run!, msg.stream, msg.from, {
        push: (first, records) => {
          metrics.pushed.inc(records.length)
          o.sendFrame(encodeSlots(msg.sub, first, records))
        },
        caughtUp: () => o.send({ type: 'caughtUp', sub: msg.sub }),
        failed: (err) => o.error(msg.sub, err),
        buffered: () => o.buffered(),
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
