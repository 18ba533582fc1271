/**
 * What a gateway store is given: its options and timeouts, the WebSocket surface it uses, and the
 * small checks shared by the store (gateway-store.ts) and its lock table (gateway-locks.ts).
 */
import { ErrorCodes, RepJSError } from './errors.js'

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

let loading: Promise<SocketFactory> | undefined

/**
 * The default socket factory: isomorphic-ws (`ws` in Node, the global WebSocket in browsers),
 * imported on the first gateway connection, so a replica connected straight to etcd never loads
 * it (`ws` is ~80 ms of a fresh Node process's start-up).
 */
export function defaultSocket(): Promise<SocketFactory> {
  loading ??= import('isomorphic-ws').then(
    ({ default: WebSocket }) => (url: string, protocols: string[]) => new WebSocket(url, protocols) as SocketLike,
    (err: unknown) => {
      loading = undefined // a later connection tries again
      throw err
    },
  )
  return loading
}

export function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !(v > 0)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `${name} must be a positive number of ms, got ${String(v)}`)
  return v
}

export function lostLock(): RepJSError {
  return new RepJSError(ErrorCodes.LEASE_LOST, "this run-once lock's lease ended (it expired while this replica was away from the gateway for longer than its TTL, or was revoked)")
}
