/**
 * Store over a RepJS gateway (WebSocket, protocol `repjs.v1`): the same engine, another store.
 * Reconnects with exponential backoff and jitter across a list of gateway URLs; on reconnect it
 * re-sends every request still in flight with its original id (proposals are create-if-absent,
 * so a re-sent proposal is decided once) and resubscribes each stream from its next undelivered
 * slot. A run-once lock outlives its connection for its lease's TTL: after a reconnect (to this
 * gateway or another) the client re-attaches to each lock it holds by its handle, then re-sends that
 * lock's MARK_STARTED / DECIDE_LOCKED (both idempotent); the lock is lost only if its lease ended.
 * Liveness: the client sends a protocol PING every `pingIntervalMs` and drops a connection it heard
 * nothing from for two intervals (a half-open gateway: browsers have no ping API), then reconnects
 * and re-sends. A request unanswered for `requestTimeoutMs` fails with a retryable
 * REPJS_UNAVAILABLE, which the engine retries as a new request. The token may be a function, asked
 * for a fresh token before every connection (and after the gateway closes one whose token expired).
 */
import { encodeMessage, LOCK_BUSY, LOCK_DECIDED, type Messages } from './protocol.js'
import type { AcquireResult, FollowHandlers, OpenRunOptions, ProposeResult, RunMetaSource, SlotRef, Store, StoreHealth } from './store.js'
import { metaBytes } from './store.js'
import { GatewayConnection } from './gateway-connection.js'

export type { GatewayStoreOptions, GatewayTimeouts, SocketFactory, SocketLike, TokenSource } from './gateway-options.js'

/** The Store contract over a gateway connection: each operation is one request (or subscription). */
export class GatewayStore extends GatewayConnection implements Store {
  onHealth(listener: (h: StoreHealth, reason?: string, error?: unknown) => void): () => void {
    this.health.add(listener)
    return () => this.health.delete(listener)
  }

  openRun(run: string, meta: RunMetaSource, opts: OpenRunOptions = {}): Promise<{ meta: Uint8Array; created: boolean }> {
    this.run = run
    // The gateway creates the run from the hello's record if it must: it always goes with it.
    this.meta = metaBytes(meta)
    this.runOptions = opts
    return new Promise((resolve, reject) => {
      this.hello = {
        frame: new Uint8Array(),
        resolve: (m) => {
          const w = m as Messages['welcome']
          resolve({ meta: w.meta, created: w.created })
        },
        reject,
      }
      this.connect()
    })
  }

  async propose(ref: SlotRef, record: Uint8Array, clearVotes = false): Promise<ProposeResult> {
    const place = { stream: ref.stream, slot: ref.slot }
    const m = await this.request<'decided'>((id) => ({ type: 'propose', id, stream: ref.stream, slot: ref.slot, clearVotes, record }), { place })
    return { won: m.won, record: m.record }
  }

  follow(_run: string, stream: string, fromSlot: number, handlers: FollowHandlers): () => void {
    const id = this.nextId++
    this.subs.set(id, { stream, next: fromSlot, handlers, caughtUp: false })
    if (this.ready) this.ws!.send(encodeMessage({ type: 'subscribe', sub: id, stream, from: fromSlot }))
    return () => {
      if (this.subs.delete(id) && this.ready) this.ws!.send(encodeMessage({ type: 'unsubscribe', sub: id }))
    }
  }

  async readSnapshot(_run: string, stream: string): Promise<Uint8Array | undefined> {
    const m = await this.request<'snapshot'>((id) => ({ type: 'readSnapshot', id, stream }))
    return m.present ? m.snapshot : undefined
  }

  async writeSnapshot(ref: SlotRef, snapshot: Uint8Array): Promise<Uint8Array> {
    const m = await this.request<'snapshot'>((id) => ({ type: 'writeSnapshot', id, stream: ref.stream, slot: ref.slot, snapshot }))
    return m.snapshot
  }

  async collect(ref: SlotRef): Promise<number> {
    // No deadline: a long stream is deleted in many transactions (re-sent after a reconnect, it deletes what is left).
    const m = await this.request<'collected'>((id) => ({ type: 'collect', id, stream: ref.stream, below: ref.slot }), { deadline: 'none' })
    return m.deleted
  }

  async vote(ref: SlotRef, _voter: string, value: Uint8Array): Promise<Uint8Array | undefined> {
    const m = await this.request<'voted'>((id) => ({ type: 'vote', id, stream: ref.stream, slot: ref.slot, value }))
    return m.decided ? m.record : undefined
  }

  async awaitVotes(ref: SlotRef, n: number, signal: AbortSignal): Promise<Uint8Array[]> {
    signal.throwIfAborted()
    let sent = 0
    // No deadline: waiting for other replicas' votes may take any time (CANCEL ends it).
    const p = this.request<'votes'>((id) => ((sent = id), { type: 'awaitVotes', id, stream: ref.stream, slot: ref.slot, n }), { deadline: 'none' })
    const onAbort = () => {
      if (this.ready) this.ws!.send(encodeMessage({ type: 'cancel', id: sent }))
      this.settle(sent, undefined, signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return (await p).values
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  async acquire(ref: SlotRef, _holder: string, ttlMs: number): Promise<AcquireResult> {
    const m = await this.request<'acquired'>((id) => ({ type: 'acquire', id, stream: ref.stream, slot: ref.slot, ttlMs }), { deadline: 'reconnect' })
    if (m.state === LOCK_DECIDED) return { state: 'decided', record: m.bytes }
    if (m.state === LOCK_BUSY) return { state: 'busy' }
    return { state: 'held', lock: this.locks.hold(ref, ttlMs, m.lock, m.hasBytes ? m.bytes : undefined) }
  }

  /**
   * PRESENT (no answer), only to a gateway that said PRESENCE_ON after WELCOME (an earlier gateway
   * would refuse the frame): it keeps the key under this connection's lease; sent again on each new
   * connection.
   */
  async present(_run: string, _replica: string, value: Uint8Array): Promise<void> {
    this.presence = value
    if (this.ready && this.presenceOn && this.ws && !this.closed) this.ws.send(encodeMessage({ type: 'present', value }))
  }
}
