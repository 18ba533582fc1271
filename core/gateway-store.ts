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
import WebSocket from 'isomorphic-ws'
import { ErrorCodes, RepJSError, closedError } from './errors.js'
import {
  CLOSE, decodeMessage, encodeMessage, LOCK_BUSY, LOCK_DECIDED, LOCK_HELD, SUBPROTOCOL, type Message, type Messages,
} from './protocol.js'
import type { AcquireResult, FollowHandlers, HeldLock, OpenRunOptions, ProposeResult, SlotRef, Store, StoreHealth } from './store.js'

/** The WebSocket surface used here; `ws` in Node and the browser's WebSocket both have it. */
export interface SocketLike {
  binaryType: string
  readonly protocol: string
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
}
export type SocketFactory = (url: string, protocols: string[]) => SocketLike

/** A run token, or a function giving a fresh one (called before every connection to a gateway). */
export type TokenSource = string | (() => string | Promise<string>)

/** Client-side timing of gateway connections. */
export interface GatewayTimeouts {
  /** Send a PING every this many ms; drop a connection silent for two intervals (default 15 000). */
  pingIntervalMs?: number
  /** Fail a request unanswered for this many ms with a retryable error (default 30 000; AWAIT_VOTES has none). */
  requestTimeoutMs?: number
}

export interface GatewayStoreOptions extends GatewayTimeouts {
  /** Gateway URL(s), e.g. 'ws://127.0.0.1:7420'; tried in turn on reconnect. */
  urls: string | string[]
  /** A run token from `repjs token --run R` (not needed by a gateway started without a secret), or a function returning one. */
  token?: TokenSource
  /** This replica's id (the lock holder the gateway records). */
  replicaId: string
  /** Backoff between reconnects, ms (default 100 .. 5000, with jitter). */
  backoffMs?: { initial: number; max: number }
  /** Open sockets differently (tests, custom transports). */
  socket?: SocketFactory
}

interface Pending {
  frame: Uint8Array
  resolve(m: Message): void
  reject(e: unknown): void
  /** MARK_STARTED / DECIDE_LOCKED: the lock's handle; (re-)sent only while the lock is attached. */
  lock?: number
  /** ATTACH: about one connection only; dropped with it (the next connection attaches anew). */
  perConnection?: boolean
  /** The request deadline's timer, if it has one. */
  deadline?: ReturnType<typeof setTimeout>
  /** Restart the deadline: each time the request is (re-)sent, it runs from that send. */
  rearm?: () => void
}

interface HeldEntry {
  ref: SlotRef
  ttlMs: number
  ac: AbortController
  /** While detached: fires one TTL after the drop, when the lease may have expired; the lock is then lost. */
  expiry?: ReturnType<typeof setTimeout>
  /** Attached on the current connection (by its ACQUIRED or a re-ATTACH): its requests may be sent. */
  attached: boolean
  /** Released while detached: RELEASE is sent once the lock is re-attached. */
  releasing: boolean
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

const defaultSocket: SocketFactory = (url, protocols) => new WebSocket(url, protocols) as SocketLike

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !(v > 0)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `${name} must be a positive number of ms, got ${String(v)}`)
  return v
}

function lostLock(): RepJSError {
  return new RepJSError(ErrorCodes.LEASE_LOST, "this run-once lock's lease ended (it expired while this replica was away from the gateway for longer than its TTL, or was revoked)")
}

export class GatewayStore implements Store {
  private readonly urls: string[]
  private readonly open: SocketFactory
  private ws: SocketLike | undefined
  private ready = false
  private closed = false
  private attempt = 0
  private urlIndex = 0
  private run: string | undefined
  private meta: Uint8Array | undefined
  private runOptions: OpenRunOptions = {}
  private hello: Pending | undefined
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly subs = new Map<number, Sub>()
  /** Run-once locks held, by the handle the gateway gave them (unique across connections). */
  private readonly locks = new Map<number, HeldEntry>()
  private readonly health = new Set<(h: StoreHealth, reason?: string, error?: unknown) => void>()
  private fatal: RepJSError | undefined
  /** The latest PRESENT value, sent again on each new connection. */
  private presence: Uint8Array | undefined
  /** This connection's gateway stores PRESENT (it said PRESENCE_ON). */
  private presenceOn = false
  /** The run record of the first WELCOME: every later one must be the same run. */
  private welcomedMeta: Uint8Array | undefined
  private readonly pingMs: number
  private readonly requestMs: number
  private liveness: ReturnType<typeof setInterval> | undefined
  /** When a frame last came from the current connection's gateway. */
  private lastHeard = 0
  private pings = 0

  constructor(private readonly opts: GatewayStoreOptions) {
    this.urls = Array.isArray(opts.urls) ? opts.urls : [opts.urls]
    if (this.urls.length === 0) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'gateway store needs at least one URL')
    this.open = opts.socket ?? defaultSocket
    this.pingMs = positive(opts.pingIntervalMs, 15_000, 'pingIntervalMs')
    this.requestMs = positive(opts.requestTimeoutMs, 30_000, 'requestTimeoutMs')
    const t = opts.token
    if (t !== undefined && typeof t !== 'string' && typeof t !== 'function') throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'token must be a string or a function returning one')
  }

  onHealth(listener: (h: StoreHealth, reason?: string, error?: unknown) => void): () => void {
    this.health.add(listener)
    return () => this.health.delete(listener)
  }

  private report(h: StoreHealth, reason?: string, error?: unknown): void {
    for (const l of this.health) l(h, reason, error)
  }

  openRun(run: string, meta: Uint8Array, opts: OpenRunOptions = {}): Promise<{ meta: Uint8Array; created: boolean }> {
    this.run = run
    this.meta = meta
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

  /** The token for the next connection: the fixed one, or a fresh one from the token function. */
  private async token(): Promise<string> {
    const t = this.opts.token
    const got = typeof t === 'function' ? await t() : (t ?? '')
    if (typeof got !== 'string') throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `the token function returned ${typeof got}, not a string`)
    return got
  }

  private connect(): void {
    if (this.closed) return
    const url = this.urls[this.urlIndex++ % this.urls.length]!
    this.token().then(
      (token) => this.openSocket(url, token),
      (err: unknown) => {
        if (this.closed) return
        this.report('reconnecting', `the token function failed (${err instanceof Error ? err.message : String(err)}); trying again`)
        this.retryLater(false)
      },
    )
  }

  private openSocket(url: string, token: string): void {
    if (this.closed) return
    let ws: SocketLike
    try {
      ws = this.open(url, [SUBPROTOCOL])
    } catch (err) {
      return this.fail(new RepJSError(ErrorCodes.BAD_ARGUMENT, `cannot open gateway URL '${url}': ${(err as Error).message}`))
    }
    this.ws = ws
    ws.binaryType = 'arraybuffer'
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

  private abandon(ws: SocketLike, reason: string): void {
    ws.onopen = ws.onmessage = ws.onclose = null
    try {
      ws.close(CLOSE.TIMEOUT, reason)
    } catch {
      // A socket still connecting may refuse a close code; it is dropped either way.
    }
    this.dropped(ws, CLOSE.TIMEOUT, reason)
  }

  private receive(data: unknown): void {
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
      case 'lockLost': {
        const held = this.locks.get(msg.lock)
        if (held) this.loseLock(msg.lock, held)
        return
      }
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
        return this.settle(msg.id, undefined, err)
      }
      case 'decided': case 'voted': case 'votes': case 'acquired': case 'ok': case 'pong': case 'snapshot': case 'collected':
        return this.settle('id' in msg ? msg.id : 0, msg)
      default:
        this.ws?.close(CLOSE.PROTOCOL_ERROR, `unexpected ${msg.type} from gateway`)
    }
  }

  private welcomed(msg: Messages['welcome']): void {
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
    this.urlIndex-- // stay on the URL that works
    this.report('ok')
    const hello = this.hello
    this.hello = undefined
    hello?.resolve(msg)
    for (const p of this.pending.values()) if (p.lock === undefined) this.sendPending(p)
    for (const [handle, held] of this.locks) this.attach(handle, held)
    for (const [id, sub] of this.subs) this.ws!.send(encodeMessage({ type: 'subscribe', sub: id, stream: sub.stream, from: sub.next }))
    this.presenceOn = false
  }

  /** A refused subscription: retried after a pause if retryable, else reported to the follower. */
  private subscriptionFailed(id: number, sub: Sub, err: RepJSError): void {
    if (!err.retryable) {
      this.subs.delete(id)
      return sub.handlers.error(err)
    }
    setTimeout(() => {
      if (this.ready && this.subs.get(id) === sub) this.ws!.send(encodeMessage({ type: 'subscribe', sub: id, stream: sub.stream, from: sub.next }))
    }, 500)
  }

  /** Re-attach a held lock on this connection, then (re-)send its requests, or release it if asked to. */
  private attach(handle: number, held: HeldEntry): void {
    const ws = this.ws
    const current = () => this.ws === ws && this.locks.get(handle) === held
    this.request<'acquired'>((id) => ({ type: 'attach', id, stream: held.ref.stream, slot: held.ref.slot, lock: handle }), { perConnection: true, deadline: 'none' }).then(
      (m) => {
        if (this.ws !== ws) return
        if (this.locks.get(handle) !== held) {
          // Given up while the ATTACH was on its way (its TTL ran out): the gateway must not keep it.
          if (m.state === LOCK_HELD) ws!.send(encodeMessage({ type: 'release', lock: handle }))
          return
        }
        // Decided meanwhile (perhaps by this holder's own DECIDE_LOCKED, whose answer was lost): the
        // engine finds the record when it asks for the slot again.
        if (m.state !== LOCK_HELD) return this.loseLock(handle, held)
        held.attached = true
        clearTimeout(held.expiry)
        if (held.releasing) return this.release(handle, held)
        for (const p of this.pending.values()) if (p.lock === handle) this.sendPending(p)
      },
      (err: unknown) => {
        if (!current()) return
        if (RepJSError.is(err) && err.retryable) return void setTimeout(() => current() && this.attach(handle, held), 500)
        this.loseLock(handle, held)
      },
    )
  }

  private loseLock(handle: number, held: HeldEntry): void {
    if (this.locks.get(handle) !== held) return
    this.locks.delete(handle)
    clearTimeout(held.expiry)
    const err = lostLock()
    held.ac.abort(err)
    for (const [id, p] of this.pending) {
      if (p.lock !== handle) continue
      this.pending.delete(id)
      clearTimeout(p.deadline)
      p.reject(err)
    }
  }

  private release(handle: number, held: HeldEntry): void {
    if (this.locks.get(handle) !== held) return
    if (!this.ready || !held.attached) {
      held.releasing = true
      return
    }
    this.locks.delete(handle)
    clearTimeout(held.expiry)
    this.ws!.send(encodeMessage({ type: 'release', lock: handle }))
  }

  /** Send a pending request on the current connection; its deadline runs from now. */
  private sendPending(p: Pending): void {
    this.ws!.send(p.frame)
    p.rearm?.()
  }

  private settle(id: number, msg: Message | undefined, err?: unknown): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    clearTimeout(p.deadline)
    if (err) p.reject(err)
    else p.resolve(msg!)
  }

  private dropped(ws: SocketLike, code: number, reason: string): void {
    if (ws !== this.ws) return
    this.ws = undefined
    this.ready = false
    clearInterval(this.liveness)
    // Locks stay held (their leases outlive the connection for a TTL); they are re-attached on the next one.
    for (const [handle, held] of this.locks) {
      // Counted from the last frame heard, not from noticing the drop (up to two ping intervals
      // later): the gateway renewed the lease every TTL/3 while it was attached, so the lease lasts at
      // least 2/3 TTL past that frame; past it the lock may be gone and `fn` must be told. A connection
      // that drops again before the re-attach does not extend it.
      if (!held.attached) continue
      held.attached = false
      const left = Math.max(0, this.lastHeard + (held.ttlMs * 2) / 3 - Date.now())
      held.expiry = setTimeout(() => !held.attached && this.loseLock(handle, held), left)
    }
    for (const [id, p] of this.pending) {
      if (!p.perConnection) continue
      this.pending.delete(id)
      clearTimeout(p.deadline)
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

  private retryLater(now: boolean): void {
    const { initial, max } = this.opts.backoffMs ?? { initial: 100, max: 5000 }
    const base = now ? 0 : Math.min(max, initial * 2 ** this.attempt)
    this.attempt++
    setTimeout(() => this.connect(), base / 2 + Math.random() * base)
  }

  private fail(err: RepJSError): void {
    this.closed = true
    this.fatal ??= err // later requests fail with the cause, not REPJS_CLOSED
    clearInterval(this.liveness)
    for (const p of this.pending.values()) clearTimeout(p.deadline)
    this.hello?.reject(err)
    this.hello = undefined
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.dropLocks(err)
    for (const sub of this.subs.values()) sub.handlers.error(err)
    this.report('failed', err.message, err)
  }

  private dropLocks(err: RepJSError): void {
    for (const held of this.locks.values()) {
      clearTimeout(held.expiry)
      held.ac.abort(err)
    }
    this.locks.clear()
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
  private request<K extends Message['type']>(build: (id: number) => Message, opts: { lock?: number; perConnection?: boolean; deadline?: 'reject' | 'reconnect' | 'none' } = {}): Promise<Messages[K]> {
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
        // Re-armed from each send: when it fires while ready, this connection has had the request
        // for requestMs without answering it.
        if (this.ws && this.ready) this.abandon(this.ws, reason)
        if (this.pending.get(id) === p) p.deadline = setTimeout(expire, this.requestMs)
      }
      if (deadline !== 'none') {
        p.rearm = () => {
          clearTimeout(p.deadline)
          if (this.pending.get(id) === p) p.deadline = setTimeout(expire, this.requestMs)
        }
        p.deadline = setTimeout(expire, this.requestMs)
      }
      this.pending.set(id, p)
      if (this.ready && (p.lock === undefined || this.locks.get(p.lock)?.attached)) this.sendPending(p)
    })
  }

  async propose(ref: SlotRef, record: Uint8Array, clearVotes = false): Promise<ProposeResult> {
    const m = await this.request<'decided'>((id) => ({ type: 'propose', id, stream: ref.stream, slot: ref.slot, clearVotes, record }))
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
    const handle = m.lock
    const held: HeldEntry = { ref, ttlMs, ac: new AbortController(), attached: true, releasing: false }
    this.locks.set(handle, held)
    const { signal } = held.ac
    const lock: HeldLock = {
      ref,
      marker: m.hasBytes ? m.bytes : undefined,
      signal,
      markStarted: async (marker) => {
        if (signal.aborted) throw lostLock()
        await this.request<'ok'>((id) => ({ type: 'markStarted', id, lock: handle, marker }), { lock: handle })
      },
      decide: async (record) => {
        if (signal.aborted) throw lostLock()
        const d = await this.request<'decided'>((id) => ({ type: 'decideLocked', id, lock: handle, record }), { lock: handle })
        return { won: d.won, record: d.record }
      },
      release: async () => this.release(handle, held),
    }
    return { state: 'held', lock }
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

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.liveness)
    const err = closedError()
    this.hello?.reject(err)
    this.hello = undefined
    for (const p of this.pending.values()) (clearTimeout(p.deadline), p.reject(err))
    this.pending.clear()
    this.dropLocks(err)
    this.subs.clear()
    this.ws?.close(1000, 'replica closed')
  }
}
