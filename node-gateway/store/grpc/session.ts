/**
 * Connections to etcd's endpoints: per endpoint, one lean HTTP/2 connection (h2-connection.ts)
 * for the unary calls and the watches alike, opened on first use and again after it closes or
 * stops taking calls (GOAWAY). Calls and watches stick to one endpoint and move to the next one on
 * a retryable failure (a connection that cannot be opened is skipped within the same call, since
 * nothing was sent). Connections are unref'd: idle ones do not keep the process alive. One that
 * does not answer a ping in time is dropped. Plaintext (http://) endpoints only.
 */
import { badArgument } from '../../../core/errors.js'
import { H2Connection } from './h2-connection.js'
import { clientClosed, ConnectFailed, retryAs } from './status.js'

/** True if every endpoint is plaintext (http:// or no scheme), i.e. usable by the lean transport. */
export function allPlaintext(endpoints: string | string[]): boolean {
  const list = typeof endpoints === 'string' ? [endpoints] : endpoints
  return list.length > 0 && list.every((e) => /^http:\/\//i.test(e) || !e.includes('://'))
}

export class Endpoint {
  readonly authority: string
  /** The connection (h2-connection.ts). */
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

  close(): void {
    const c = this.lean
    this.lean = undefined
    c?.close(clientClosed)
    for (const r of this.retired) r.close(clientClosed)
    this.retired.clear()
  }
}

/** What a stream is given to work on: a connected connection of one endpoint. */
export interface SessionUse {
  conn: H2Connection
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
   * Run `use` on the current endpoint's connection, opening it if needed, before `deadline`. On a
   * failure that `moveOn` says is the endpoint's, later calls go to the next endpoint; a connection
   * that could not be opened (nothing was sent) is retried on the next one within the deadline.
   */
  run<T>(deadline: number, use: (u: SessionUse) => T | Promise<T>, moveOn?: (err: unknown) => boolean): Promise<T> {
    return this.attempt(deadline, (ep) => this.open(ep, deadline), async (conn, endpoint, failover) => use({ conn, endpoint, failover }), moveOn)
  }

  /** Run a unary call on the current endpoint's connection, as `run` does, without its awaits when connected. */
  unary<T>(deadline: number, use: (conn: H2Connection) => Promise<T>): Promise<T> {
    const open = (ep: Endpoint) => this.open(ep, deadline)
    // The usual case, a connected endpoint: no async frame, no awaits before the call is sent.
    const idx = this.cur
    const conn = this.closed ? undefined : this.endpoints[idx]!.conn()
    if (conn === undefined) return this.attempt(deadline, open, use)
    return use(conn).catch((err: unknown) => {
      const next = this.failed(err, idx, deadline, MOVE_ON)
      return this.attempt(deadline, open, use, MOVE_ON, 1, next)
    })
  }

  /** `ep`'s connection, connected (ConnectFailed if it cannot be opened before `deadline`). */
  private open(ep: Endpoint, deadline: number): H2Connection | Promise<H2Connection> {
    return ep.conn() ?? this.withDeadline(ep.dial(), deadline, ep)
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
    if (!(err instanceof ConnectFailed) || performance.now() >= deadline) throw err
    return err
  }

  /** Endpoint `idx` failed: later calls and streams go to the next one. */
  private failover(idx: number): void {
    if (this.cur === idx) this.cur = (idx + 1) % this.endpoints.length
  }

  /** Fail `onClosed` with ClientClosedError if the connections close before `untrack`. */
  track(onClosed: (err: Error) => void): void {
    this.pending.add(onClosed)
  }

  untrack(onClosed: (err: Error) => void): void {
    this.pending.delete(onClosed)
  }

  /** Close every connection; calls and streams in flight fail with ClientClosedError. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const reject of [...this.pending]) reject(clientClosed())
    this.pending.clear()
    for (const ep of this.endpoints) ep.close()
  }

  private withDeadline<T>(p: Promise<T>, deadline: number, ep: Endpoint): Promise<T> {
    const left = Math.min(deadline - performance.now(), 0x7fffffff)
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
