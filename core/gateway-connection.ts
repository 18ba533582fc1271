/**
 * One gateway store's connection (see gateway-store.ts for what it guarantees): HELLO/WELCOME and
 * the run record check, reconnects with Backoff across the URLs, PING liveness, requests by id with
 * deadlines (re-sent on the next connection), subscriptions resumed from their next slot, the lock
 * table re-attached (gateway-locks.ts), and health reported to the engine.
 */
import { ErrorCodes, RepJSError, closedError } from './errors.js'
import {
  CLOSE, decodeMessage, encodeMessage, SUBPROTOCOLS, type Message, type Messages,
} from './protocol.js'
import type { FollowHandlers, OpenRunOptions, StoreHealth } from './store.js'
import { defaultSocket, lostLock, positive, type GatewayStoreOptions, type SocketFactory, type SocketLike } from './gateway-options.js'
import { GatewayLocks, type RequestOptions } from './gateway-locks.js'
import { Backoff } from './retry.js'
import { RequestDeadlines } from './gateway-deadlines.js'

interface Pending {
  frame: Uint8Array
  resolve(m: Message): void
  reject(e: unknown): void
  /** MARK_STARTED / DECIDE_LOCKED: the lock's handle; (re-)sent only while the lock is attached. */
  lock?: number
  /** ATTACH: about one connection only; dropped with it (the next connection attaches anew). */
  perConnection?: boolean
  /** PROPOSE: the slot its DECIDED delivers (see `delivered`). */
  place?: { stream: string; slot: number }
  /** What its deadline does (unset: it has none); started again each time the request is (re-)sent. */
  expire?: () => void
}

interface Sub {
  stream: string
  next: number
  handlers: FollowHandlers
  caughtUp: boolean
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** The connection to the gateway(s); GatewayStore (gateway-store.ts) maps the Store contract onto its requests. */
export class GatewayConnection {
  protected readonly urls: string[]
  /** Opens a socket; the default (isomorphic-ws) is loaded on the first connection. */
  protected open: SocketFactory | undefined
  protected ws: SocketLike | undefined
  protected ready = false
  protected closed = false
  protected attempt = 0
  protected urlIndex = 0
  protected run: string | undefined
  protected meta: Uint8Array | undefined
  protected runOptions: OpenRunOptions = {}
  protected hello: Pending | undefined
  protected nextId = 1
  protected readonly pending = new Map<number, Pending>()
  protected readonly subs = new Map<number, Sub>()
  /**
   * The PROPOSEs sent on this connection and not yet answered, by id, and the slot each decides:
   * kept past a request's deadline (its late DECIDED still delivers, as the gateway counts on),
   * forgotten with the connection (an answer never crosses connections).
   */
  protected readonly proposals = new Map<number, { stream: string; slot: number }>()
  /** Run-once locks held, by the handle the gateway gave them (unique across connections). */
  protected readonly locks = new GatewayLocks({
    socket: () => this.ws,
    ready: () => this.ready,
    request: this.request.bind(this),
    sendWaiting: (handle) => {
      for (const [id, p] of this.pending) if (p.lock === handle) this.sendPending(p, id)
    },
    failWaiting: (handle, err) => {
      for (const [id, p] of this.pending) {
        if (p.lock !== handle) continue
        this.pending.delete(id)
        this.deadlines.clear(id)
        p.reject(err)
      }
    },
  })
  /** Delays between reconnects. */
  protected readonly backoff: Backoff
  protected readonly health = new Set<(h: StoreHealth, reason?: string, error?: unknown) => void>()
  protected fatal: RepJSError | undefined
  /** The latest PRESENT value, sent again on each new connection. */
  protected presence: Uint8Array | undefined
  /** This connection's gateway stores PRESENT (it said PRESENCE_ON). */
  protected presenceOn = false
  /** The run record of the first WELCOME: every later one must be the same run. */
  protected welcomedMeta: Uint8Array | undefined
  protected readonly pingMs: number
  protected readonly requestMs: number
  protected readonly deadlines: RequestDeadlines
  protected liveness: ReturnType<typeof setInterval> | undefined
  /** When a frame last came from the current connection's gateway. */
  protected lastHeard = 0
  protected pings = 0

  constructor(private readonly opts: GatewayStoreOptions) {
    this.urls = Array.isArray(opts.urls) ? opts.urls : [opts.urls]
    if (this.urls.length === 0) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'gateway store needs at least one URL')
    this.open = opts.socket
    this.pingMs = positive(opts.pingIntervalMs, 15_000, 'pingIntervalMs')
    this.requestMs = positive(opts.requestTimeoutMs, 30_000, 'requestTimeoutMs')
    this.deadlines = new RequestDeadlines(this.requestMs)
    const { initial, max } = opts.backoffMs ?? { initial: 100, max: 5000 }
    this.backoff = new Backoff({ initialMs: initial, maxMs: max })
    const t = opts.token
    if (t !== undefined && typeof t !== 'string' && typeof t !== 'function') throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'token must be a string or a function returning one')
  }

  protected report(h: StoreHealth, reason?: string, error?: unknown): void {
    for (const l of this.health) l(h, reason, error)
  }

  /** The token for the next connection: the fixed one, or a fresh one from the token function. */
  protected async token(): Promise<string> {
    const t = this.opts.token
    const got = typeof t === 'function' ? await t() : (t ?? '')
    if (typeof got !== 'string') throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `the token function returned ${typeof got}, not a string`)
    return got
  }

  protected connect(): void {
    if (this.closed) return
    const url = this.urls[this.urlIndex++ % this.urls.length]!
    this.token().then(
      async (token) => {
        if (!this.open) {
          try {
            this.open = await defaultSocket()
          } catch (err) {
            if (this.closed) return
            return this.fail(new RepJSError(ErrorCodes.BAD_ARGUMENT, `cannot load the WebSocket library (isomorphic-ws; is it installed?): ${(err as Error).message}`))
          }
        }
        this.openSocket(url, token)
      },
      (err: unknown) => {
        if (this.closed) return
        this.report('reconnecting', `the token function failed (${err instanceof Error ? err.message : String(err)}); trying again`)
        this.retryLater(false)
      },
    )
  }

  protected openSocket(url: string, token: string): void {
    if (this.closed) return
    let ws: SocketLike
    try {
      ws = this.open!(url, SUBPROTOCOLS)
    } catch (err) {
      return this.fail(new RepJSError(ErrorCodes.BAD_ARGUMENT, `cannot open gateway URL '${url}': ${(err as Error).message}`))
    }
    this.ws = ws
    // `ws` in Node hands over its own Buffer ('nodebuffer'), not a copy into a new ArrayBuffer; a
    // browser's WebSocket ignores that value (not one of its types) and takes 'arraybuffer'.
    try {
      ws.binaryType = 'nodebuffer'
    } catch {
      // An old browser throws on a value it does not know.
    }
    if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer'
    ws.onopen = () => {
      const hello = { run: this.run!, replica: this.opts.replicaId, token, meta: this.meta! }
      // Lifecycle options count only until the run is opened: a reconnect must never create a run
      // that went while this replica was away (it then fails with REPJS_RUN_GONE).
      const { newRun = false, ttlMs = 0 } = this.welcomedMeta ? {} : this.runOptions
      ws.send(encodeMessage(newRun || ttlMs ? { type: 'helloRun', ...hello, newRun, ttlMs } : { type: 'hello', ...hello }))
    }
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now()
      this.receive(ev.data)
    }
    ws.onerror = () => {}
    ws.onclose = (ev) => this.dropped(ws, ev.code, ev.reason)
    // Heard nothing (no WELCOME, no PONG, no frame) for two intervals: the gateway or the path to it
    // is gone without a close (half-open); drop the socket without waiting for its close.
    this.lastHeard = Date.now()
    let lastTick = this.lastHeard
    this.liveness = setInterval(() => {
      const now = Date.now()
      // A tick far behind schedule means this thread was blocked: frames may be waiting unread.
      if (now - lastTick > 1.5 * this.pingMs) this.lastHeard = now
      lastTick = now
      if (now - this.lastHeard >= 2 * this.pingMs) return this.abandon(ws, `no answer from the gateway for ${now - this.lastHeard} ms`)
      if (this.ready) ws.send(encodeMessage({ type: 'ping', n: ++this.pings }))
    }, this.pingMs)
  }

  protected abandon(ws: SocketLike, reason: string): void {
    ws.onopen = ws.onmessage = ws.onclose = null
    try {
      ws.close(CLOSE.TIMEOUT, reason)
    } catch {
      // A socket still connecting may refuse a close code; it is dropped either way.
    }
    this.dropped(ws, CLOSE.TIMEOUT, reason)
  }

  protected receive(data: unknown): void {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined
    if (!bytes) return
    let msg: Message
    try {
      msg = decodeMessage(bytes)
    } catch {
      this.ws?.close(CLOSE.PROTOCOL_ERROR, 'bad frame from gateway')
      return
    }
    switch (msg.type) {
      case 'welcome':
        return this.welcomed(msg)
      case 'slots': {
        const sub = this.subs.get(msg.sub)
        if (!sub) return
        // SLOTS continue where the subscription stands: a gap would make slots look missing.
        // (What each record holds is checked by the engine: it names its slot.)
        if (msg.first > sub.next) {
          this.ws?.close(CLOSE.PROTOCOL_ERROR, `SLOTS from slot ${msg.first}, expected ${sub.next}`)
          return
        }
        msg.records.forEach((rec, i) => {
          const slot = msg.first + i
          if (slot < sub.next) return
          sub.next = slot + 1
          sub.handlers.slot(slot, rec)
        })
        return
      }
      case 'caughtUp': {
        const sub = this.subs.get(msg.sub)
        if (sub && !sub.caughtUp) {
          sub.caughtUp = true
          sub.handlers.caughtUp()
        }
        return
      }
      case 'presenceOn':
        this.presenceOn = true
        if (this.presence && this.ready) this.ws?.send(encodeMessage({ type: 'present', value: this.presence }))
        return
      case 'lockLost':
        return this.locks.lost(msg.lock)
      case 'error': {
        const err = new RepJSError(msg.code as RepJSError['code'], msg.message, { retryable: msg.retryable, retryAs: msg.status === 'reconnecting' ? 'reconnecting' : 'waiting-for-quorum' })
        if (msg.id === 0) {
          // Refused at hello (bad token...) is final; a retryable one (etcd down) is retried.
          // So is a run gone at a reconnect's HELLO (its full message, not the close reason's 123 bytes).
          if (!this.ready && !msg.retryable && (this.hello || msg.code === ErrorCodes.RUN_GONE)) this.fatal = err
          return
        }
        const sub = this.subs.get(msg.id)
        if (sub) return this.subscriptionFailed(msg.id, sub, err)
        this.proposals.delete(msg.id)
        return this.settle(msg.id, undefined, err)
      }
      case 'decided':
        this.delivered(msg)
        return this.settle(msg.id, msg)
      case 'voted': case 'votes': case 'acquired': case 'ok': case 'pong': case 'snapshot': case 'collected':
        return this.settle('id' in msg ? msg.id : 0, msg)
      default:
        this.ws?.close(CLOSE.PROTOCOL_ERROR, `unexpected ${msg.type} from gateway`)
    }
  }

  /**
   * A DECIDED answering a PROPOSE delivers its slot to the subscriptions of that stream whose next
   * slot it is, before anything after it on the connection: a repjs.v2 gateway then does not push
   * that slot to them (PROTOCOL.md, "DECIDED delivers"); a repjs.v1 gateway still does, and that
   * push is below `next`, so it is skipped as a duplicate.
   */
  protected delivered(msg: Messages['decided']): void {
    const place = this.proposals.get(msg.id)
    if (!place) return
    this.proposals.delete(msg.id)
    for (const sub of this.subs.values()) {
      if (sub.stream !== place.stream || sub.next !== place.slot) continue
      sub.next = place.slot + 1
      sub.handlers.slot(place.slot, msg.record)
    }
  }

  protected welcomed(msg: Messages['welcome']): void {
    // The run record is written once and never changes: another one (or a run created by this
    // HELLO) after a reconnect means the run was deleted, or deleted and created anew, meanwhile.
    if (this.welcomedMeta && (msg.created || !sameBytes(msg.meta, this.welcomedMeta))) {
      this.fail(new RepJSError(
        ErrorCodes.RUN_CHANGED,
        `run '${this.run}' changed while this replica was reconnecting: it was ${msg.created ? 'deleted' : 'deleted and created again with another run record'}. ` +
          'This replica stopped rather than write into another run: start it again to join the run as it is now.',
        { details: { run: this.run, created: msg.created } },
      ))
      this.ws?.close(1000, 'run changed')
      return
    }
    this.welcomedMeta ??= msg.meta
    this.ready = true
    this.attempt = 0
    this.backoff.reset()
    this.urlIndex-- // stay on the URL that works
    this.report('ok')
    const hello = this.hello
    this.hello = undefined
    hello?.resolve(msg)
    for (const [id, p] of this.pending) if (p.lock === undefined) this.sendPending(p, id)
    this.locks.attachAll()
    for (const [id, sub] of this.subs) this.ws!.send(encodeMessage({ type: 'subscribe', sub: id, stream: sub.stream, from: sub.next }))
    this.presenceOn = false
  }

  /** A refused subscription: retried after a pause if retryable, else reported to the follower. */
  protected subscriptionFailed(id: number, sub: Sub, err: RepJSError): void {
    if (!err.retryable) {
      this.subs.delete(id)
      return sub.handlers.error(err)
    }
    setTimeout(() => {
      if (this.ready && this.subs.get(id) === sub) this.ws!.send(encodeMessage({ type: 'subscribe', sub: id, stream: sub.stream, from: sub.next }))
    }, 500)
  }

  /** Send a pending request on the current connection; its deadline runs from now. */
  protected sendPending(p: Pending, id: number): void {
    if (p.place) this.proposals.set(id, p.place)
    this.ws!.send(p.frame)
    if (p.expire) this.deadlines.start(id, p.expire)
  }

  protected settle(id: number, msg: Message | undefined, err?: unknown): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    this.deadlines.clear(id)
    if (err) p.reject(err)
    else p.resolve(msg!)
  }

  protected dropped(ws: SocketLike, code: number, reason: string): void {
    if (ws !== this.ws) return
    this.ws = undefined
    this.ready = false
    this.proposals.clear()
    clearInterval(this.liveness)
    // Locks stay held (their leases outlive the connection for a TTL); they are re-attached on the next one.
    this.locks.detachAll(this.lastHeard)
    for (const [id, p] of this.pending) {
      if (!p.perConnection) continue
      this.pending.delete(id)
      this.deadlines.clear(id)
      p.reject(lostLock())
    }
    if (this.closed) return
    if (code === CLOSE.REPLACED) {
      return this.fail(new RepJSError(ErrorCodes.REPLACED, `another connection with replica id '${this.opts.replicaId}' joined this run at the gateway and took over; this replica stopped. Give every replica its own id.`, { details: { closeCode: code } }))
    }
    if (code === CLOSE.UNAUTHORIZED || code === CLOSE.FORBIDDEN_RUN || code === CLOSE.PROTOCOL_ERROR || code === CLOSE.RUN_GONE || this.fatal) {
      const as = code === CLOSE.PROTOCOL_ERROR ? ErrorCodes.PROTOCOL : code === CLOSE.RUN_GONE ? ErrorCodes.RUN_GONE : ErrorCodes.UNAUTHORIZED
      const err = this.fatal ?? new RepJSError(as, `gateway closed the connection: ${reason || code}`, { details: { closeCode: code } })
      return this.fail(err)
    }
    this.report('reconnecting', `gateway connection closed (${code}${reason ? ` ${reason}` : ''}); reconnecting`)
    // A restarting gateway, or an expired token (a fresh one is fetched): at once the first time.
    this.retryLater((code === CLOSE.GOING_AWAY || code === CLOSE.TOKEN_EXPIRED) && this.attempt === 0)
  }

  protected retryLater(now: boolean): void {
    // Taken even when reconnecting at once, so the delay after that one has doubled.
    const delay = this.backoff.next()
    this.attempt++
    setTimeout(() => this.connect(), now ? 0 : delay)
  }

  protected fail(err: RepJSError): void {
    this.closed = true
    this.fatal ??= err // later requests fail with the cause, not REPJS_CLOSED
    clearInterval(this.liveness)
    this.deadlines.clearAll()
    this.hello?.reject(err)
    this.hello = undefined
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.locks.dropAll(err)
    for (const sub of this.subs.values()) sub.handlers.error(err)
    this.report('failed', err.message, err)
  }

  /**
   * Send a request; its answer settles the promise. Past `requestTimeoutMs` without an answer, a
   * `'reject'` request fails with a retryable error (the engine sends it again as a new request; a
   * late answer to this one is ignored). An ACQUIRE must not be left behind that way (a late success
   * would hold a lock nobody knows of while the connection lives), so it is `'reconnect'`: the
   * connection is dropped (the gateway stops keeping its locks alive) and the request re-sent on the
   * next one. A lock granted by a lost answer then expires with its lease, and the re-sent ACQUIRE
   * finds the slot busy until it has: correct, at worst one TTL slow.
   */
  protected request<K extends Message['type']>(build: (id: number) => Message, opts: RequestOptions = {}): Promise<Messages[K]> {
    if (this.closed) return Promise.reject(this.fatal ?? closedError())
    const id = this.nextId++
    const frame = encodeMessage(build(id))
    return new Promise((resolve, reject) => {
      const { deadline = 'reject', ...about } = opts
      const p: Pending = { frame, ...about, resolve: resolve as (m: Message) => void, reject }
      const expire = () => {
        const reason = `no answer from the gateway within ${this.requestMs} ms`
        if (deadline === 'reject') {
          const status = this.ready ? 'waiting-for-quorum' : 'reconnecting'
          return this.settle(id, undefined, new RepJSError(ErrorCodes.UNAVAILABLE, `${reason}; retrying`, { retryable: true, retryAs: status }))
        }
        // Restarted from each send: when it fires while ready, this connection has had the request
        // for requestMs without answering it.
        if (this.ws && this.ready) this.abandon(this.ws, reason)
        if (this.pending.get(id) === p) this.deadlines.start(id, expire)
      }
      if (deadline !== 'none') p.expire = expire
      this.pending.set(id, p)
      // Sending starts the deadline; a request that waits for a connection or its lock's ATTACH
      // runs its deadline from now.
      if (this.ready && (p.lock === undefined || this.locks.attached(p.lock))) this.sendPending(p, id)
      else if (p.expire) this.deadlines.start(id, expire)
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.liveness)
    const err = closedError()
    this.hello?.reject(err)
    this.hello = undefined
    this.deadlines.clearAll()
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.locks.dropAll(err)
    this.subs.clear()
    this.ws?.close(1000, 'replica closed')
  }
}
