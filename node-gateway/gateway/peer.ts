/**
 * One replica connection: hello (token, run), then requests answered with the same id. Every frame
 * is validated; a malformed one gets an ERROR and a close, never an exception that escapes.
 * Its subscriptions are connection-subscriptions.ts, its run-once locks connection-locks.ts.
 */
import type { WebSocket } from 'ws'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import {
  CLOSE, decodeMessage, encodeMessage, SUBPROTOCOL_V2, type Message, type Messages,
} from '../../core/protocol.js'
import { ConnectionLocks, type LockOwner } from './connection-locks.js'
import type { RunGuard } from '../store/run-guards.js'
import { storeError } from '../store/etcd-errors.js'
import { ConnectionSubscriptions, type SubscriptionOwner } from './connection-subscriptions.js'
import { Bucket } from './limits.js'
import { observeSince } from './metrics.js'
import { at, watchLiveness } from './liveness.js'
import { NAME, slotRef, type PeerContext } from './peer-context.js'
import { closeReason, wrote, writtenBytes } from './peer-frames.js'
import { checkTokenReplica, verifyToken, TokenError } from './token.js'
import { checkMeta, checkRecord, checkSnapshotWrite, checkVote, DEFAULT_MAX_VALUE_BYTES } from './validate.js'
import { checkPresence, ConnectionPresence } from './presence.js'
import { PRESENCE_TTL_S } from '../../core/presence.js'

/** After the gateway closes a connection, how long the client gets to finish the close handshake. */
export const CLOSE_GRACE_MS = 5000

/** One connection; what its subscriptions and locks read of it (SubscriptionOwner, LockOwner) is public. */
export class Peer implements SubscriptionOwner, LockOwner {
  run: string | undefined
  replica = ''
  /** The run as this connection opened it: its writes are refused once the run is deleted or re-created. */
  guard: RunGuard | undefined
  private inFlight = 0
  private readonly frames: Bucket
  /** Gives back what this connection holds of the gateway's shared caps, on close. */
  private readonly giveBack: (() => void)[] = []
  /** Gives back this connection's place among its IP's connections waiting for HELLO. */
  private helloed = () => {}
  /** Refunds of the bytes reserved for a write request, by request id, until `request` takes them. */
  private readonly reserved = new Map<number, () => void>()
  /** This connection's live subscriptions. */
  private readonly subs: ConnectionSubscriptions
  /** Run-once locks held on this connection. */
  private readonly locks: ConnectionLocks
  private readonly waits = new Map<number, AbortController>()
  /** This connection's presence key (after its first PRESENT). */
  private presence: ConnectionPresence | undefined
  closed = false

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: PeerContext,
    ip: string,
  ) {
    const { limits } = ctx
    this.frames = new Bucket(limits.ratePerSecond, limits.ratePerSecond * 2)
    // repjs.v2: a PROPOSE's DECIDED delivers its slot to this connection's subscriptions.
    this.subs = new ConnectionSubscriptions(ctx, this, ws.protocol === SUBPROTOCOL_V2)
    this.locks = new ConnectionLocks(ctx, this)
    this.giveBack.push(watchLiveness(ws, ctx.liveness, () => this.run !== undefined, (reason) => {
      this.ctx.metrics.refused.inc({ reason: 'timeout' })
      this.error(0, new RepJSError(ErrorCodes.TIMEOUT, `${reason}: closing; reconnect`, { retryable: true, retryAs: 'reconnecting' }))
      this.close(CLOSE.TIMEOUT, reason)
    }))
    ws.on('message', (data, isBinary) => {
      try {
        this.onFrame(data as Buffer, isBinary)
      } catch (err) {
        this.internal(err)
      }
    })
    // A client that closes normally is done with its locks; after any other close it may re-attach.
    ws.on('close', (code) => this.cleanup(code === 1000 ? 'release' : 'detach'))
    ws.on('error', () => this.cleanup('detach'))
    // Over a connection cap the socket is told why (a browser sees close codes, not HTTP statuses).
    try {
      const seat = ctx.usage.connect(ip)
      this.helloed = seat.helloed
      this.giveBack.push(seat.closed)
    } catch (err) {
      this.refuse(CLOSE.OVERLOADED, err as RepJSError, 'overloaded')
    }
  }

  /** A bug of ours, not the client's: log it and drop the connection rather than the process. */
  private internal(err: unknown): void {
    this.ctx.log.warn({ err, run: this.run, replica: this.replica }, 'gateway error on a connection')
    this.close(1011, 'internal gateway error')
  }

  send(msg: Message): void {
    this.sendFrame(encodeMessage(msg))
  }

  sendFrame(frame: Uint8Array): void {
    if (this.closed) return
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) return this.slowConsumer()
    this.ws.send(frame)
  }

  /** Bytes queued on the socket. */
  buffered(): number {
    return this.ws.bufferedAmount
  }

  slowConsumer(): void {
    if (this.closed) return
    this.ctx.metrics.refused.inc({ reason: 'slow-consumer' })
    this.close(CLOSE.SLOW_CONSUMER, 'too many bytes buffered: read faster or reconnect')
  }

  error(id: number, err: unknown): void {
    const e = RepJSError.is(err) ? err : storeError(err, 'a gateway request')
    // Strings in frames are capped at 4096 bytes on decode: keep messages well under that.
    this.send({ type: 'error', id, code: e.code, message: e.message.slice(0, 1000), retryable: e.retryable, status: e.retryAs ?? '' })
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    // After a final close (the reference client does not reconnect) nobody will re-attach.
    this.cleanup(code === CLOSE.PROTOCOL_ERROR || code === CLOSE.UNAUTHORIZED || code === CLOSE.FORBIDDEN_RUN ? 'release' : 'detach')
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

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    if (!isBinary) return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.PROTOCOL, 'text frames are not part of repjs.v1: send binary frames'), 'text')
    if (!this.frames.take()) return this.refuse(CLOSE.RATE_LIMITED, new RepJSError(ErrorCodes.LIMIT, `more than ${this.ctx.limits.ratePerSecond} frames/s: slow down`), 'rate')
    let msg: Message
    try {
      msg = decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    } catch (err) {
      return this.refuse(CLOSE.PROTOCOL_ERROR, err as RepJSError, 'malformed')
    }
    if (!this.run) {
      if (msg.type !== 'hello' && msg.type !== 'helloRun') return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.PROTOCOL, `expected hello, got ${msg.type}`), 'no-hello')
      return void this.hello(msg).catch((err) => this.internal(err))
    }
    void this.dispatch(msg).catch((err) => this.internal(err))
  }

  private async hello(msg: Messages['hello'] | Messages['helloRun']): Promise<void> {
    if (!NAME.test(msg.run) || !NAME.test(msg.replica)) {
      return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.BAD_ARGUMENT, 'run and replica ids must be 1-128 of [A-Za-z0-9._-]'), 'bad-hello')
    }
    if (this.ctx.secret !== undefined) {
      try {
        const claims = verifyToken(this.ctx.secret, msg.token, msg.run)
        checkTokenReplica(claims, msg.replica)
        this.giveBack.push(at(claims.exp * 1000, () => this.tokenExpired(claims.exp)))
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
    try {
      this.giveBack.push(this.ctx.usage.joinRun(msg.run))
    } catch (err) {
      return this.refuse(CLOSE.OVERLOADED, err as RepJSError, 'run-connections')
    }
    this.helloed()
    this.run = msg.run
    this.replica = msg.replica
    try {
      const how = msg.type === 'helloRun' ? { newRun: msg.newRun, ...(msg.ttlMs ? { ttlMs: msg.ttlMs } : {}) } : {}
      const opened = await this.timed('open', () => this.ctx.store.openRun(msg.run, msg.meta, how))
      // Only a connection that is in takes over an earlier one of its replica id.
      if (this.closed) return opened.guard.close()
      this.guard = opened.guard
      // The run went (deleted, expired, created again): every subscription of this connection ends
      // with the error, so a replica waiting for others' slots stops too, not only one that writes.
      this.giveBack.push(opened.guard.onGone((err) => {
        this.subs.failAll(err)
      }))
      this.takeOver()
      this.send({ type: 'welcome', meta: opened.meta, created: opened.created, gateway: this.ctx.gatewayId })
      this.send({ type: 'presenceOn', ttlMs: PRESENCE_TTL_S * 1000 })
    } catch (err) {
      if (RepJSError.is(err, ErrorCodes.RUN_GONE)) return this.refuse(CLOSE.RUN_GONE, err, 'run-gone')
      if (RepJSError.is(err, ErrorCodes.BAD_ARGUMENT)) return this.refuse(CLOSE.PROTOCOL_ERROR, err, 'bad-hello')
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

  /** An open connection outlives no token: the client gets a new one and reconnects. */
  private tokenExpired(exp: number): void {
    const err = new TokenError('expired', `the token expired at ${new Date(exp * 1000).toISOString()}: get a new one and reconnect`)
    this.ctx.metrics.refused.inc({ reason: 'token-expired' })
    this.send({ type: 'error', id: 0, code: err.code, message: err.message, retryable: true, status: 'reconnecting' })
    this.close(CLOSE.TOKEN_EXPIRED, err.message)
  }

  /** `fn`'s promise, its latency observed once it settles (one promise added, not an async frame's two). */
  timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    const done = () => observeSince(this.ctx.metrics.etcdLatency, op, t0)
    return fn().then((v) => (done(), v), (err: unknown) => (done(), Promise.reject(err)))
  }

  private get maxValueBytes(): number {
    return this.ctx.limits.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES
  }

  private ref(stream: string, slot: number) {
    return slotRef(this.run!, stream, slot)
  }

  /** Requests that wait on etcd count against maxInFlight; over it, the request gets REPJS_LIMIT. */
  private async request(id: number, fn: () => Promise<Message | undefined>, answered?: (reply: Message | undefined) => void): Promise<void> {
    // Bytes reserved for this request's write (see dispatch): kept only if it wrote.
    const refund = this.reserved.get(id)
    this.reserved.delete(id)
    let reply: Message | undefined
    if (this.inFlight >= this.ctx.limits.maxInFlight) {
      refund?.()
      return this.error(id, new RepJSError(ErrorCodes.LIMIT, `more than ${this.ctx.limits.maxInFlight} requests in flight on one connection`, { retryable: true, retryAs: 'waiting-for-quorum' }))
    }
    this.inFlight++
    try {
      reply = await fn()
      if (reply) this.send(reply)
    } catch (err) {
      this.error(id, err)
    } finally {
      this.inFlight--
      if (refund && !wrote(reply)) refund()
      answered?.(reply)
    }
  }

  private async dispatch(msg: Message): Promise<void> {
    const { store } = this.ctx
    const written = writtenBytes(msg)
    if (written) {
      try {
        this.reserved.set(written.id, this.ctx.usage.write(this.run!, written.bytes))
      } catch (err) {
        return this.error(written.id, err)
      }
    }
    switch (msg.type) {
      case 'propose': {
        let answered: ((decided: boolean) => void) | undefined
        return this.request(msg.id, () => {
          this.ctx.metrics.proposals.inc()
          const ref = this.ref(msg.stream, msg.slot)
          checkRecord('record', ref, this.replica, msg.record, this.maxValueBytes)
          answered = this.subs.proposing(msg.stream, msg.slot)
          return this.timed('propose', () => store.propose(ref, msg.record, msg.clearVotes, this.guard))
            .then((res): Message => ({ type: 'decided', id: msg.id, won: res.won, record: res.record }))
        }, (reply) => answered?.(reply !== undefined))
      }
      case 'subscribe':
        return this.subs.subscribe(msg)
      case 'unsubscribe': {
        return this.subs.unsubscribe(msg.sub)
      }
      case 'vote':
        return this.request(msg.id, async () => {
          const ref = this.ref(msg.stream, msg.slot)
          checkVote(ref, this.replica, msg.value, this.maxValueBytes)
          const decided = await this.timed('vote', () => store.vote(ref, this.replica, msg.value, this.guard))
          return { type: 'voted', id: msg.id, decided: decided !== undefined, record: decided ?? new Uint8Array() }
        })
      case 'readSnapshot':
        return this.request(msg.id, async () => {
          const ref = this.ref(msg.stream, 0)
          const snap = await this.timed('readSnapshot', () => store.readSnapshot(ref.run, ref.stream))
          return { type: 'snapshot', id: msg.id, present: snap !== undefined, snapshot: snap ?? new Uint8Array() }
        })
      case 'writeSnapshot':
        return this.request(msg.id, async () => {
          const ref = this.ref(msg.stream, msg.slot)
          checkSnapshotWrite(ref, msg.snapshot, this.maxValueBytes)
          const snap = await this.timed('writeSnapshot', () => store.writeSnapshot(ref, msg.snapshot, this.guard))
          return { type: 'snapshot', id: msg.id, present: true, snapshot: snap }
        })
      case 'collect':
        return this.request(msg.id, async () => {
          const deleted = await this.timed('collect', () => store.collect(this.ref(msg.stream, msg.below), this.guard))
          return { type: 'collected', id: msg.id, deleted }
        })
      case 'awaitVotes':
        return this.request(msg.id, async () => {
          const ac = new AbortController()
          this.waits.set(msg.id, ac)
          try {
            const values = await store.awaitVotes(this.ref(msg.stream, msg.slot), Math.min(msg.n, 10_000), ac.signal, this.guard)
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
        return this.request(msg.id, () => this.locks.acquire(msg.id, this.ref(msg.stream, msg.slot), Math.min(Math.max(msg.ttlMs, 1000), 3_600_000)))
      case 'attach':
        return this.request(msg.id, () => this.locks.attach(msg.id, this.ref(msg.stream, msg.slot), msg.lock))
      case 'markStarted':
        return this.request(msg.id, async () => {
          const lock = this.locks.get(msg.lock)
          checkRecord('marker', lock.ref, this.replica, msg.marker, this.maxValueBytes)
          await lock.markStarted(msg.marker)
          return { type: 'ok', id: msg.id }
        })
      case 'decideLocked':
        return this.request(msg.id, async () => {
          const lock = this.locks.get(msg.lock)
          checkRecord('record', lock.ref, this.replica, msg.record, this.maxValueBytes)
          const res = await this.timed('decide', () => lock.decide(msg.record))
          return { type: 'decided', id: msg.id, won: res.won, record: res.record }
        })
      case 'release':
        // A stale handle (an old connection's, a lost lock's) names no lock here: nothing to revoke.
        if (!(await this.locks.release(msg.lock))) {
          return this.error(0, new RepJSError(ErrorCodes.LEASE_LOST, `RELEASE of lock ${msg.lock}, which this connection does not hold: nothing was released (ACQUIRE or ATTACH it first)`))
        }
        return
      case 'ping':
        return this.send({ type: 'pong', n: msg.n })
      case 'present':
        try {
          checkPresence(msg.value, this.replica)
        } catch (err) {
          return this.refuse(CLOSE.PROTOCOL_ERROR, err as RepJSError, 'bad-presence')
        }
        this.presence ??= new ConnectionPresence(store.presenceLease(), this.run!, this.replica, this.ctx.log, () => this.ctx.metrics.presenceWrites.inc())
        return this.presence.offer(msg.value)
      default:
        return this.refuse(CLOSE.PROTOCOL_ERROR, new RepJSError(ErrorCodes.PROTOCOL, `${msg.type} is not a client message`), 'wrong-direction')
    }
  }

  /**
   * 'release' revokes the locks' leases (the client closed normally, or was refused for good);
   * 'detach' leaves each lease to live one more TTL, for the client to re-attach (to this gateway or another).
   */
  private cleanup(locks: 'release' | 'detach'): void {
    if (this.closed) return
    this.closed = true
    if (this.run && this.ctx.live.get(this.liveKey) === this) this.ctx.live.delete(this.liveKey)
    this.guard?.close()
    this.subs.closeAll()
    for (const w of this.waits.values()) w.abort()
    this.locks.closeAll(locks)
    this.presence?.close()
    for (const give of this.giveBack) give()
  }
}

