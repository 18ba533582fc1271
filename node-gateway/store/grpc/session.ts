/**
 * HTTP/2 sessions to etcd's endpoints, shared by the lean unary calls and the lean watches: one
 * persistent session per endpoint, opened on first use and again after it closes; calls stick to
 * one endpoint and move to the next one on a retryable failure (a session that cannot be opened is
 * skipped within the same call, since nothing was sent). Sessions are unref'd: idle sessions do not
 * keep the process alive. A session that does not answer a ping in time is dropped (`ping`).
 * Plaintext (http://) endpoints only.
 */
import http2 from 'node:http2'
import { badArgument } from '../../../core/errors.js'
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

  constructor(url: string, private readonly dialTimeoutMs: number) {
    this.authority = url.includes('://') ? url : `http://${url}`
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
  }
}

/** What a call or stream is given to work on: a connected session of one endpoint. */
export interface SessionUse {
  session: http2.ClientHttp2Session
  endpoint: Endpoint
  /** This endpoint failed: later calls and streams go to the next one. */
  failover(): void
}

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
  async run<T>(deadline: number, use: (u: SessionUse) => Promise<T>, moveOn: (err: unknown) => boolean = (err) => retryAs(err) !== undefined): Promise<T> {
    if (this.closed) throw clientClosed('KV')
    const n = this.endpoints.length
    let lastConnectError: Error | undefined
    for (let attempt = 0; attempt < n; attempt++) {
      const idx = this.cur
      const endpoint = this.endpoints[idx]!
      const failover = () => {
        if (this.cur === idx) this.cur = (idx + 1) % n
      }
      try {
        const session = endpoint.current() ?? (await this.withDeadline(endpoint.connect(), deadline, endpoint))
        if (this.closed) throw clientClosed('KV')
        return await use({ session, endpoint, failover })
      } catch (err) {
        if (this.closed) throw clientClosed('KV')
        if (moveOn(err)) failover()
        if (!(err instanceof ConnectFailed) || Date.now() >= deadline) throw err
        lastConnectError = err
      }
    }
    throw lastConnectError!
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
    for (const reject of [...this.pending]) reject(clientClosed('KV'))
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
