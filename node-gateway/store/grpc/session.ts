/**
 * Connections to etcd's endpoints: per endpoint, one lean HTTP/2 connection for the unary calls
 * (h2-connection.ts) and one node:http2 session for the lean watches, each opened on first use and
 * again after it closes. Calls and watches stick to one endpoint and move to the next one on a
 * retryable failure (a connection that cannot be opened is skipped within the same call, since
 * nothing was sent). Connections are unref'd: idle ones do not keep the process alive. One that
 * does not answer a ping in time is dropped (`ping`). Plaintext (http://) endpoints only.
 */
import http2 from 'node:http2'
import { badArgument } from '../../../core/errors.js'
import { H2Connection } from './h2-connection.js'
import { clientClosed, ConnectFailed, retryAs } from './status.js'

/** HTTP/2 flow-control windows: large, so a multi-MiB range page needs no WINDOW_UPDATE round trips. */
const WINDOW = 16 << 20

/** True if every endpoint is plaintext (http:// or no scheme), i.e. usable by the lean transport. */
export function allPlaintext(endpoints: string | string[]): boolean {
  const list = typeof endpoints === 'string' ? [endpoints] : endpoints
  return list.length > 0 && list.every((e) => /^http:\/\//i.test(e) || !e.includes('://'))
}

/**
 * Ping `session`; if no answer comes within `timeoutMs`, destroy it (a frozen member, a half-open
 * connection). After a long event-loop stall the timer can run before the answer is read: it looks
 * once more after the next poll phase before giving up. `answered(true)` when it answers.
 */
export function ping(session: http2.ClientHttp2Session, timeoutMs: number, answered?: (ok: boolean) => void): void {
  if (session.closed || session.destroyed) return answered?.(false)
  let done = false
  const timer = setTimeout(() => setImmediate(() => done || session.destroy()), timeoutMs)
  timer.unref()
  try {
    session.ping((err) => {
      done = true
      clearTimeout(timer)
      if (err) session.destroy()
      answered?.(!err)
    })
  } catch {
    clearTimeout(timer)
    session.destroy()
    answered?.(false)
  }
}

export class Endpoint {
  readonly authority: string
  private session: http2.ClientHttp2Session | undefined
  private ready: Promise<http2.ClientHttp2Session> | undefined
  /** The unary calls' connection (h2-connection.ts). */
  private lean: H2Connection | undefined
  /** Connections retired (GOAWAY, stream ids used up) while calls on them finish. */
  private readonly retired = new Set<H2Connection>()

  constructor(url: string, private readonly dialTimeoutMs: number) {
    this.authority = url.includes('://') ? url : `http://${url}`
  }

  /** The connected lean connection, or undefined if it must be (re)opened with dial(). */
  conn(): H2Connection | undefined {
    const c = this.lean
    return c !== undefined && c.usable ? c : undefined
  }

  /** The lean connection, once connected (ConnectFailed if it cannot be opened). */
  dial(): Promise<H2Connection> {
    const c = this.lean
    if (c && !c.draining) return c.ready
    const { hostname, port } = new URL(this.authority)
    const conn = new H2Connection(this.authority, hostname.replace(/^\[|\]$/g, ''), Number(port) || 80, { dialTimeoutMs: this.dialTimeoutMs })
    conn.onRetire = () => {
      if (this.lean === conn) this.lean = undefined
      // Still draining its calls: close() must reach it too.
      for (const r of this.retired) if (r.closed) this.retired.delete(r)
      if (!conn.closed) this.retired.add(conn)
    }
    this.lean = conn
    return conn.ready
  }

  /** The connected session, or undefined if it must be (re)opened with connect(). */
  current(): http2.ClientHttp2Session | undefined {
    const s = this.session
    return s && !s.connecting && !s.closed && !s.destroyed ? s : undefined
  }

  connect(): Promise<http2.ClientHttp2Session> {
    const s = this.current()
    if (s) return Promise.resolve(s)
    if (this.ready) return this.ready
    const session = http2.connect(this.authority, { settings: { enablePush: false, initialWindowSize: WINDOW } })
    session.unref()
    this.session = session
    const forget = () => {
      if (this.session === session) {
        this.session = undefined
        this.ready = undefined
      }
    }
    // Later errors surface on the streams; keep the session from throwing an unhandled 'error'.
    session.on('error', forget)
    session.on('close', forget)
    session.on('goaway', forget)
    const ready = new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer)
        forget()
        session.destroy()
        reject(new ConnectFailed(`connect to ${this.authority} failed: ${why}`))
      }
      const timer = setTimeout(() => fail(`no connection within ${this.dialTimeoutMs} ms`), this.dialTimeoutMs)
      timer.unref()
      session.once('connect', () => {
        clearTimeout(timer)
        session.removeListener('error', onError)
        session.removeListener('close', onClose)
        try {
          session.setLocalWindowSize(WINDOW)
        } catch {
          /* only a throughput hint */
        }
        if (this.ready === ready) this.ready = undefined
        resolve(session)
      })
      const onError = (err: Error) => fail(err.message)
      const onClose = () => fail('closed while connecting')
      session.once('error', onError)
      session.once('close', onClose)
    })
    this.ready = ready
    // A rejected connect nobody awaits any more (its caller timed out) must not be unhandled.
    ready.catch(() => {})
    return ready
  }

  close(): void {
    const s = this.session
    this.session = undefined
    this.ready = undefined
    s?.destroy()
    const c = this.lean
    this.lean = undefined
    c?.close(clientClosed)
    for (const r of this.retired) r.close(clientClosed)
    this.retired.clear()
  }
}

/** What a call or stream is given to work on: a connected session of one endpoint. */
export interface SessionUse {
  session: http2.ClientHttp2Session
  endpoint: Endpoint
  /** This endpoint failed: later calls and streams go to the next one. */
  failover(): void
}

/** Whether a failure moves later calls to the next endpoint: any retryable one. */
const MOVE_ON = (err: unknown): boolean => retryAs(err) !== undefined

/** The endpoints, which one calls go to, and what to fail when the whole thing closes. */
export class Sessions {
  private readonly endpoints: Endpoint[]
  /** Index of the endpoint calls go to; advanced on a retryable failure. */
  private cur = 0
  closed = false
  /** Calls and streams in flight, failed with ClientClosedError by close(). */
  private readonly pending = new Set<(err: Error) => void>()

  constructor(endpoints: string | string[], readonly timeoutMs: number) {
    const list = typeof endpoints === 'string' ? [endpoints] : [...endpoints]
    if (list.length === 0) throw badArgument('the lean etcd client needs at least one endpoint')
    if (!allPlaintext(list)) throw badArgument(`the lean etcd client speaks plaintext only (http://): ${list.join(', ')}`)
    if (!(timeoutMs > 0)) throw new RangeError(`callTimeoutMs must be a positive number of ms, not ${timeoutMs}`)
    this.endpoints = list.map((u) => new Endpoint(u, Math.min(timeoutMs, 0x7fffffff)))
  }

  /**
   * Run `use` on the current endpoint's session, opening it if needed, before `deadline`. On a
   * failure that `moveOn` says is the endpoint's, later calls go to the next endpoint; a session
   * that could not be opened (nothing was sent) is retried on the next one within the deadline.
   */
  run<T>(deadline: number, use: (u: SessionUse) => Promise<T>, moveOn?: (err: unknown) => boolean): Promise<T> {
    return this.attempt(deadline, (ep) => ep.current() ?? this.withDeadline(ep.connect(), deadline, ep), (session, endpoint, failover) => use({ session, endpoint, failover }), moveOn)
  }

  /** Run a unary call on the current endpoint's lean connection, as `run` does with sessions. */
  unary<T>(deadline: number, use: (conn: H2Connection) => Promise<T>): Promise<T> {
    const open = (ep: Endpoint) => ep.conn() ?? this.withDeadline(ep.dial(), deadline, ep)
    // The usual case, a connected endpoint: no async frame, no awaits before the call is sent.
    const idx = this.cur
    const conn = this.closed ? undefined : this.endpoints[idx]!.conn()
    if (conn === undefined) return this.attempt(deadline, open, use)
    return use(conn).catch((err: unknown) => {
      const next = this.failed(err, idx, deadline, MOVE_ON)
      return this.attempt(deadline, open, use, MOVE_ON, 1, next)
    })
  }

  private async attempt<C, T>(
    deadline: number,
    open: (ep: Endpoint) => C | Promise<C>,
    use: (c: C, ep: Endpoint, failover: () => void) => Promise<T>,
    moveOn: (err: unknown) => boolean = MOVE_ON,
    from = 0,
    lastConnectError?: ConnectFailed,
  ): Promise<T> {
    if (this.closed) throw clientClosed()
    for (let attempt = from; attempt < this.endpoints.length; attempt++) {
      const idx = this.cur
      const endpoint = this.endpoints[idx]!
      try {
        const c = await open(endpoint)
        if (this.closed) throw clientClosed()
        return await use(c, endpoint, () => this.failover(idx))
      } catch (err) {
        lastConnectError = this.failed(err, idx, deadline, moveOn)
      }
    }
    throw lastConnectError!
  }

  /**
   * A call or stream on endpoint `idx` failed with `err`: rethrown (ClientClosedError once closed)
   * unless nothing was sent (ConnectFailed) and the deadline allows the next endpoint.
   */
  private failed(err: unknown, idx: number, deadline: number, moveOn: (err: unknown) => boolean): ConnectFailed {
    if (this.closed) throw clientClosed()
    if (moveOn(err)) this.failover(idx)
    if (!(err instanceof ConnectFailed) || Date.now() >= deadline) throw err
    return err
  }

  /** Endpoint `idx` failed: later calls and streams go to the next one. */
  private failover(idx: number): void {
    if (this.cur === idx) this.cur = (idx + 1) % this.endpoints.length
  }

  /** Fail `onClosed` with ClientClosedError if the sessions close before `untrack`. */
  track(onClosed: (err: Error) => void): void {
    this.pending.add(onClosed)
  }

  untrack(onClosed: (err: Error) => void): void {
    this.pending.delete(onClosed)
  }

  /** Close every session; calls and streams in flight fail with ClientClosedError. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const reject of [...this.pending]) reject(clientClosed())
    this.pending.clear()
    for (const ep of this.endpoints) ep.close()
  }

  private withDeadline<T>(p: Promise<T>, deadline: number, ep: Endpoint): Promise<T> {
    const left = Math.min(deadline - Date.now(), 0x7fffffff)
    if (left <= 0) return Promise.reject(new ConnectFailed(`connect to ${ep.authority}: deadline exceeded`))
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ConnectFailed(`connect to ${ep.authority}: no connection within the call deadline`)), left)
      p.then(
        (v) => (clearTimeout(timer), resolve(v)),
        (e) => (clearTimeout(timer), reject(e)),
      )
    })
  }
}

/** Keepalive pings per session, shared by the watches on it: one in flight at a time, and when the last answer came. */
const pings = new WeakMap<http2.ClientHttp2Session, { busy: boolean; ok: number }>()

/**
 * A watch on `session` saw no data for `every` ms: ping the session (once for all its watches), and
 * drop it if the ping is not answered within `timeoutMs`. Answers the time of the session's last
 * answered ping if it is recent (then nothing is sent).
 */
export function keepalive(session: http2.ClientHttp2Session, every: number, timeoutMs: number): number | undefined {
  if (session.closed || session.destroyed) return undefined
  let st = pings.get(session)
  if (!st) pings.set(session, (st = { busy: false, ok: 0 }))
  if (Date.now() - st.ok < every) return st.ok
  if (st.busy) return undefined
  st.busy = true
  const state = st
  ping(session, timeoutMs, (ok) => {
    state.busy = false
    if (ok) state.ok = Date.now()
  })
  return undefined
}
