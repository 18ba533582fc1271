/**
 * One replica connection: hello (token, run), then requests answered with the same id. Every frame
 * is validated; a malformed one gets an ERROR and a close, never an exception that escapes.
 */
import type { WebSocket } from 'ws'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import {
  CLOSE, decodeMessage, encodeMessage, LOCK_BUSY, LOCK_DECIDED, LOCK_HELD, type Message, type Messages,
} from '../../core/protocol.js'
import type { HeldLock } from '../../core/store.js'
import type { EtcdStore } from '../store/etcd-store.js'
import { storeError } from '../store/etcd-errors.js'
import { MAX_SLOT } from '../store/keys.js'
import type { Hubs, Subscription } from './hub.js'
import type { Metrics } from './metrics.js'
import { checkTokenReplica, verifyToken, TokenError } from './token.js'
import { checkMeta, checkRecord, checkVote, DEFAULT_MAX_VALUE_BYTES } from './validate.js'

export interface PeerLimits {
  /** Requests awaiting etcd at once, per connection. */
  maxInFlight: number
  /** Frames per second (token bucket, burst 2x). */
  ratePerSecond: number
  /** Bytes queued for a slow client before it is closed with SLOW_CONSUMER. */
  maxBufferedBytes: number
  /** Live subscriptions per connection (each one holds etcd reads and a share of a watch). */
  maxSubscriptions: number
  /** Run-once locks held per connection (each one is an etcd lease with keep-alives). */
  maxLocks: number
  /** Largest record, run record or vote stored (default DEFAULT_MAX_VALUE_BYTES, 1 MiB). */
  maxValueBytes?: number
}

/** After the gateway closes a connection, how long the client gets to finish the close handshake. */
export const CLOSE_GRACE_MS = 5000

/**
 * SLOTS frames, encoded once for all the subscribers a hub hands the same records array to with
 * the same subscription id; kept while that array lives (the hub makes a new one per batch).
 */
const slotsFrames = new WeakMap<Uint8Array[], Map<string, Uint8Array>>()
export function encodeSlots(sub: number, first: number, records: Uint8Array[]): Uint8Array {
  let byKey = slotsFrames.get(records)
  if (!byKey) slotsFrames.set(records, (byKey = new Map()))
  const key = `${sub}:${first}`
  let frame = byKey.get(key)
  if (!frame) byKey.set(key, (frame = encodeMessage({ type: 'slots', sub, first, records })))
  return frame
}


/** A close reason is at most 123 bytes of UTF-8; cut on a character boundary. */
export function closeReason(reason: string): string {
  let out = reason.length > 123 ? reason.slice(0, 123) : reason
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1)
  return out
}

export interface PeerContext {
  store: EtcdStore
  hubs: Hubs
  metrics: Metrics
  limits: PeerLimits
  secret: string | undefined
  gatewayId: string
  /** The live connection of each (run, replica id) on this gateway: a later one takes over. */
  live: Map<string, Peer>
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void }
}

const NAME = /^[A-Za-z0-9._-]{1,128}$/

export class Peer {
  private run: string | undefined
  private replica = ''
  private inFlight = 0
  private tokens: number
  private lastRefill = Date.now()
  /** Live subscriptions by client id; `sub` is unset while the subscription is being set up. */
  private readonly subs = new Map<number, { sub?: Subscription }>()
  private readonly locks = new Map<number, HeldLock>()
  private readonly waits = new Map<number, AbortController>()
  private nextLock = 1
  private closed = false

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: PeerContext,
  ) {
    this.tokens = ctx.limits.ratePerSecond * 2
    ws.on('message', (data, isBinary) => {
      try {
        this.onFrame(data as Buffer, isBinary)
      } catch (err) {
        this.internal(err)
      }
    })
    ws.on('close', () => this.cleanup())
    ws.on('error', () => this.cleanup())
  }

  /** A bug of ours, not the client's: log it and drop the connection rather than the process. */
  private internal(err: unknown): void {
    this.ctx.log.warn({ err, run: this.run, replica: this.replica }, 'gateway error on a connection')
    this.close(1011, 'internal gateway error')
  }

  private send(msg: Message): void {
    this.sendFrame(encodeMessage(msg))
  }

  private sendFrame(frame: Uint8Array): void {
    if (this.closed) return
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) return this.slowConsumer()
    this.ws.send(frame)
  }

  private slowConsumer(): void {
    if (this.closed) return
    this.ctx.metrics.refused.inc({ reason: 'slow-consumer' })
    this.close(CLOSE.SLOW_CONSUMER, 'too many bytes buffered: read faster or reconnect')
  }

  private error(id: number, err: unknown): void {
    const e = RepJSError.is(err) ? err : storeError(err, 'a gateway request')
    // Strings in frames are capped at 4096 bytes on decode: keep messages well under that.
    this.send({ type: 'error', id, code: e.code, message: e.message.slice(0, 1000), retryable: e.retryable, status: String(e.details.status ?? '') })
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    this.cleanup()
    try {
      this.ws.close(code, closeReason(reason))
    } catch {
      this.ws.terminate()
      return
    }
    // ws waits 30 s for the client's close frame; a client that is not reading (a slow consumer,
    // a hostile one) would hold its socket and buffers that long.
    const ws = this.ws
    if (ws.readyState === ws.CLOSED) return
    const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
    timer.unref?.()
    ws.once('close', () => clearTimeout(timer))
  }

  private refuse(code: number, err: RepJSError, reason: string): void {
    this.ctx.metrics.refused.inc({ reason })
    this.error(0, err)
    this.close(code, err.message)
  }

  private allow(): boolean {
    const now = Date.now()
    const { ratePerSecond } = this.ctx.limits
    this.tokens = Math.min(ratePerSecond * 2, this.tokens + ((now - this.lastRefill) / 1000) * ratePerSecond)
    this.lastRefill = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    if (!isBinary) return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.PROTOCOL, 'text frames are not part of repjs.v1: send binary frames'), 'text')
    if (!this.allow()) return this.refuse(CLOSE.RATE_LIMITED, new RepJSError(ErrorCodes.LIMIT, `more than ${this.ctx.limits.ratePerSecond} frames/s: slow down`), 'rate')
    let msg: Message
    try {
      msg = decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    } catch (err) {
      return this.refuse(CLOSE.PROTOCOL_ERROR, err as RepJSError, 'malformed')
    }
    if (!this.run) {
      if (msg.type !== 'hello') return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.PROTOCOL, `expected hello, got ${msg.type}`), 'no-hello')
      return void this.hello(msg).catch((err) => this.internal(err))
    }
    void this.dispatch(msg).catch((err) => this.internal(err))
  }

  private async hello(msg: Messages['hello']): Promise<void> {
    if (!NAME.test(msg.run) || !NAME.test(msg.replica)) {
      return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.BAD_ARGUMENT, 'run and replica ids must be 1-128 of [A-Za-z0-9._-]'), 'bad-hello')
    }
    if (this.ctx.secret !== undefined) {
      try {
        checkTokenReplica(verifyToken(this.ctx.secret, msg.token, msg.run), msg.replica)
      } catch (err) {
        const wrongRun = err instanceof TokenError && err.reason === 'wrong-run'
        return this.refuse(wrongRun ? CLOSE.FORBIDDEN_RUN : CLOSE.UNAUTHORIZED, err as RepJSError, (err as TokenError).reason ?? 'token')
      }
    }
    try {
      checkMeta(msg.run, msg.meta, this.maxValueBytes)
    } catch (err) {
      return this.refuse(CLOSE.PROTOCOL_ERROR, err as RepJSError, 'bad-meta')
    }
    this.run = msg.run
    this.replica = msg.replica
    this.takeOver()
    try {
      const opened = await this.timed('open', () => this.ctx.store.openRun(msg.run, msg.meta))
      this.send({ type: 'welcome', meta: opened.meta, created: opened.created, gateway: this.ctx.gatewayId })
    } catch (err) {
      this.error(0, err)
      this.close(CLOSE.GOING_AWAY, 'etcd unavailable; retry')
    }
  }

  private get liveKey(): string {
    return `${this.run}\u0000${this.replica}`
  }

  /**
   * One live connection per (run, replica id) on this gateway: the latest HELLO takes over and the
   * earlier connection is closed with REPLACED (a reconnect whose old socket is half-open, a reloaded
   * tab). Votes are keyed by the replica id, so a replica id votes once per slot however it connects.
   */
  private takeOver(): void {
    const prev = this.ctx.live.get(this.liveKey)
    this.ctx.live.set(this.liveKey, this)
    if (!prev) return
    this.ctx.metrics.refused.inc({ reason: 'replaced' })
    prev.error(0, new RepJSError(ErrorCodes.REPLACED, `another connection of replica '${this.replica}' joined run '${this.run}' on this gateway and took over`))
    prev.close(CLOSE.REPLACED, `replica ${this.replica} connected again`)
  }

  private async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const end = this.ctx.metrics.etcdLatency.startTimer({ op })
    try {
      return await fn()
    } finally {
      end()
    }
  }

  private get maxValueBytes(): number {
    return this.ctx.limits.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES
  }

  private ref(stream: string, slot: number) {
    if (!NAME.test(stream)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `bad stream name '${stream.slice(0, 64)}'`)
    if (slot > MAX_SLOT) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `slot ${slot} is beyond the last storable slot ${MAX_SLOT}`)
    return { run: this.run!, stream, slot }
  }

  /** Requests that wait on etcd count against maxInFlight; over it, the request gets REPJS_LIMIT. */
  private async request(id: number, fn: () => Promise<Message | undefined>): Promise<void> {
    if (this.inFlight >= this.ctx.limits.maxInFlight) {
      return this.error(id, new RepJSError(ErrorCodes.LIMIT, `more than ${this.ctx.limits.maxInFlight} requests in flight on one connection`, { retryable: true, details: { status: 'waiting-for-quorum' } }))
    }
    this.inFlight++
    try {
      const reply = await fn()
      if (reply) this.send(reply)
    } catch (err) {
      this.error(id, err)
    } finally {
      this.inFlight--
    }
  }

  private async dispatch(msg: Message): Promise<void> {
    const { store } = this.ctx
    switch (msg.type) {
      case 'propose':
        return this.request(msg.id, async () => {
          this.ctx.metrics.proposals.inc()
          const ref = this.ref(msg.stream, msg.slot)
          checkRecord('record', ref, this.replica, msg.record, this.maxValueBytes)
          const res = await this.timed('propose', () => store.propose(ref, msg.record, msg.clearVotes))
          return { type: 'decided', id: msg.id, won: res.won, record: res.record }
        })
      case 'subscribe':
        return this.subscribe(msg)
      case 'unsubscribe': {
        const entry = this.subs.get(msg.sub)
        this.subs.delete(msg.sub)
        entry?.sub?.close()
        return
      }
      case 'vote':
        return this.request(msg.id, async () => {
          const ref = this.ref(msg.stream, msg.slot)
          checkVote(ref, this.replica, msg.value, this.maxValueBytes)
          const decided = await this.timed('vote', () => store.vote(ref, this.replica, msg.value))
          return { type: 'voted', id: msg.id, decided: decided !== undefined, record: decided ?? new Uint8Array() }
        })
      case 'awaitVotes':
        return this.request(msg.id, async () => {
          const ac = new AbortController()
          this.waits.set(msg.id, ac)
          try {
            const values = await store.awaitVotes(this.ref(msg.stream, msg.slot), Math.min(msg.n, 10_000), ac.signal)
            return { type: 'votes', id: msg.id, values }
          } catch (err) {
            if (ac.signal.aborted) return undefined
            throw err
          } finally {
            this.waits.delete(msg.id)
          }
        })
      case 'cancel':
        this.waits.get(msg.id)?.abort()
        return
      case 'acquire':
        return this.request(msg.id, async () => {
          if (this.locks.size >= this.ctx.limits.maxLocks) {
            throw new RepJSError(ErrorCodes.LIMIT, `more than ${this.ctx.limits.maxLocks} run-once locks held on one connection`, { retryable: true })
          }
          const ref = this.ref(msg.stream, msg.slot)
          const ttl = Math.min(Math.max(msg.ttlMs, 1000), 3_600_000)
          const got = await this.timed('acquire', () => store.acquire(ref, this.replica, ttl))
          if (got.state === 'decided') return { type: 'acquired', id: msg.id, state: LOCK_DECIDED, lock: 0, hasBytes: true, bytes: got.record }
          if (got.state === 'busy') return { type: 'acquired', id: msg.id, state: LOCK_BUSY, lock: 0, hasBytes: false, bytes: new Uint8Array() }
          if (this.closed) {
            await got.lock.release()
            return undefined
          }
          const lockId = this.nextLock++
          this.locks.set(lockId, got.lock)
          got.lock.signal.addEventListener('abort', () => {
            this.locks.delete(lockId)
            this.send({ type: 'lockLost', lock: lockId })
          }, { once: true })
          const marker = got.lock.marker
          return { type: 'acquired', id: msg.id, state: LOCK_HELD, lock: lockId, hasBytes: marker !== undefined, bytes: marker ?? new Uint8Array() }
        })
      case 'markStarted':
        return this.request(msg.id, async () => {
          const lock = this.lock(msg.lock)
          checkRecord('marker', lock.ref, this.replica, msg.marker, this.maxValueBytes)
          await lock.markStarted(msg.marker)
          return { type: 'ok', id: msg.id }
        })
      case 'decideLocked':
        return this.request(msg.id, async () => {
          const lock = this.lock(msg.lock)
          checkRecord('record', lock.ref, this.replica, msg.record, this.maxValueBytes)
          const res = await this.timed('decide', () => lock.decide(msg.record))
          return { type: 'decided', id: msg.id, won: res.won, record: res.record }
        })
      case 'release': {
        const lock = this.locks.get(msg.lock)
        this.locks.delete(msg.lock)
        await lock?.release()
        return
      }
      case 'ping':
        return this.send({ type: 'pong', n: msg.n })
      default:
        return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.PROTOCOL, `${msg.type} is not a client message`), 'wrong-direction')
    }
  }

  private lock(id: number): HeldLock {
    const lock = this.locks.get(id)
    if (!lock) throw new RepJSError(ErrorCodes.LEASE_LOST, `lock ${id} is not held on this connection`)
    return lock
  }

  private async subscribe(msg: Messages['subscribe']): Promise<void> {
    if (this.subs.has(msg.sub)) return this.error(msg.sub, new RepJSError(ErrorCodes.BAD_ARGUMENT, `subscription ${msg.sub} exists`))
    if (!NAME.test(msg.stream)) return this.error(msg.sub, new RepJSError(ErrorCodes.BAD_ARGUMENT, 'bad stream name'))
    if (msg.from > MAX_SLOT) return this.error(msg.sub, new RepJSError(ErrorCodes.BAD_ARGUMENT, `from ${msg.from} is beyond the last storable slot ${MAX_SLOT}`))
    if (this.subs.size >= this.ctx.limits.maxSubscriptions) {
      return this.error(msg.sub, new RepJSError(ErrorCodes.LIMIT, `more than ${this.ctx.limits.maxSubscriptions} subscriptions on one connection`))
    }
    // Taken now, not after the await: a second SUBSCRIBE with this id, or an UNSUBSCRIBE, may come
    // while the subscription is being set up.
    const entry: { sub?: Subscription } = {}
    this.subs.set(msg.sub, entry)
    let sub: Subscription
    try {
      sub = await this.ctx.hubs.subscribe(this.run!, msg.stream, msg.from, {
        push: (first, records) => {
          this.ctx.metrics.pushed.inc(records.length)
          this.sendFrame(encodeSlots(msg.sub, first, records))
        },
        caughtUp: () => this.send({ type: 'caughtUp', sub: msg.sub }),
        failed: (err) => this.error(msg.sub, err),
        buffered: () => this.ws.bufferedAmount,
        maxBuffered: this.ctx.limits.maxBufferedBytes,
        stalled: () => this.slowConsumer(),
      })
    } catch (err) {
      if (this.subs.get(msg.sub) === entry) this.subs.delete(msg.sub)
      return this.error(msg.sub, err)
    }
    if (this.closed || this.subs.get(msg.sub) !== entry) sub.close()
    else entry.sub = sub
  }

  private cleanup(): void {
    if (this.closed) return
    this.closed = true
    if (this.run && this.ctx.live.get(this.liveKey) === this) this.ctx.live.delete(this.liveKey)
    for (const s of this.subs.values()) s.sub?.close()
    this.subs.clear()
    for (const w of this.waits.values()) w.abort()
    for (const l of this.locks.values()) void l.release()
    this.locks.clear()
  }
}
