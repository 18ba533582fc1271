/**
 * Gateway-wide and per-run caps: what one connection's limits (peer.ts) cannot bound. Each cap is
 * taken synchronously, before any await, and given back by the function `take` returns, so
 * concurrent requests can never pass a check together. Over a cap: REPJS_LIMIT.
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import type { EtcdHeldLock } from '../store/etcd-store.js'

export interface SharedLimits {
  /** Open WebSocket connections, gateway-wide. */
  maxConnections: number
  /** Connections from one IP address that have not completed HELLO yet. */
  maxPendingPerIp: number
  /** Streams followed (one etcd watch each), gateway-wide. */
  maxStreams: number
  /** Run-once leases held, gateway-wide. */
  maxLeases: number
  /** Connections to one run. */
  maxRunConnections: number
  /** Streams of one run followed at once. */
  maxRunStreams: number
  /** Run-once leases held for one run. */
  maxRunLeases: number
  /** Bytes one run may write (records, votes, markers, run record) through this gateway process. */
  maxRunBytes: number
}

export const DEFAULT_SHARED_LIMITS: SharedLimits = {
  maxConnections: 10_000,
  maxPendingPerIp: 256,
  maxStreams: 10_000,
  maxLeases: 10_000,
  maxRunConnections: 1_000,
  maxRunStreams: 1_024,
  maxRunLeases: 1_024,
  maxRunBytes: 1024 * 1024 * 1024,
}

/** A counter with a cap; `what` names it in the REPJS_LIMIT message. */
export class Counter {
  n = 0
  constructor(
    readonly max: number,
    readonly what: string,
  ) {}
}

export function limitError(message: string, retryable = true): RepJSError {
  return new RepJSError(ErrorCodes.LIMIT, message, { retryable })
}

/** Take one unit of every counter or none (REPJS_LIMIT naming the first full one); returns the give-back, idempotent. */
export function take(counters: Counter[]): () => void {
  const full = counters.find((c) => c.n >= c.max)
  if (full) throw limitError(`more than ${full.max} ${full.what}: try again later`)
  for (const c of counters) c.n++
  let given = false
  return () => {
    if (given) return
    given = true
    for (const c of counters) c.n--
  }
}

interface RunUsage {
  connections: Counter
  leases: Counter
}

/** A token bucket: `rate` per second, at most `burst` saved up. */
export class Bucket {
  private tokens: number
  private last = Date.now()
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst
  }

  take(): boolean {
    const now = Date.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}

/** The counters of one gateway process. */
export class Usage {
  readonly connections: Counter
  readonly leases: Counter
  private readonly runs = new Map<string, RunUsage>()
  private readonly written = new Map<string, number>()
  private readonly pending = new Map<string, Counter>()

  constructor(readonly limits: SharedLimits) {
    this.connections = new Counter(limits.maxConnections, 'connections to this gateway')
    this.leases = new Counter(limits.maxLeases, 'run-once leases on this gateway')
  }

  private run(run: string): RunUsage {
    let u = this.runs.get(run)
    if (!u) {
      u = {
        connections: new Counter(this.limits.maxRunConnections, `connections to run '${run}'`),
        leases: new Counter(this.limits.maxRunLeases, `run-once leases of run '${run}'`),
      }
      this.runs.set(run, u)
    }
    return u
  }

  /** Runs with a connection or a lease counted here (their entries are dropped once nothing is held). */
  get trackedRuns(): number {
    return this.runs.size
  }

  /** A connection joins `run` (at HELLO); the give-back drops the run's entry once nothing is held. */
  joinRun(run: string): () => void {
    const u = this.run(run)
    const give = take([u.connections])
    return () => {
      give()
      this.prune(run, u)
    }
  }

  /** A run-once lease for `run`, counted gateway-wide, per run and in `perConnection`. */
  takeLease(run: string, perConnection: Counter): () => void {
    const u = this.run(run)
    const give = take([perConnection, u.leases, this.leases])
    return () => {
      give()
      this.prune(run, u)
    }
  }

  /** Drop a run's entry once it holds nothing (a lease can outlive the run's last connection). */
  private prune(run: string, u: RunUsage): void {
    if (u.connections.n === 0 && u.leases.n === 0 && this.runs.get(run) === u) this.runs.delete(run)
  }

  /**
   * Reserve `bytes` about to be written for `run` (over maxRunBytes: REPJS_LIMIT, not retryable: the
   * run is full); the returned refund gives them back when nothing was written (a lost proposal).
   */
  write(run: string, bytes: number): () => void {
    const total = (this.written.get(run) ?? 0) + bytes
    if (total > this.limits.maxRunBytes) {
      throw limitError(`run '${run}' wrote more than ${this.limits.maxRunBytes} bytes through this gateway (maxRunBytes): start a new run or raise the limit`, false)
    }
    this.written.set(run, total)
    let refunded = false
    return () => {
      if (refunded) return
      refunded = true
      this.written.set(run, (this.written.get(run) ?? bytes) - bytes)
    }
  }

  /**
   * A new connection from `ip`: counted gateway-wide until `closed()`, and among `ip`'s connections
   * waiting for HELLO until `helloed()` (or `closed()`).
   */
  connect(ip: string): { closed(): void; helloed(): void } {
    const giveConnection = take([this.connections])
    let helloed: () => void
    try {
      helloed = this.preHello(ip)
    } catch (err) {
      giveConnection()
      throw err
    }
    return { helloed, closed: () => (helloed(), giveConnection()) }
  }

  private preHello(ip: string): () => void {
    let c = this.pending.get(ip)
    if (!c) this.pending.set(ip, (c = new Counter(this.limits.maxPendingPerIp, `connections from ${ip} waiting for HELLO`)))
    const give = take([c])
    return () => {
      give()
      if (c.n === 0 && this.pending.get(ip) === c) this.pending.delete(ip)
    }
  }
}

/**
 * `lock`, giving back its lease count once: when it is released or lost, or one TTL after it is
 * detached (its lease lives on until then, so dropping connections cannot pile up leases past a cap).
 */
export function leased(lock: EtcdHeldLock, give: () => void): EtcdHeldLock {
  let given = false
  const giveOnce = () => {
    if (given) return
    given = true
    give()
  }
  lock.signal.addEventListener('abort', giveOnce, { once: true })
  // Everything else (handle, ref, marker, signal, markStarted, decide) is the lock's own.
  return Object.assign(Object.create(lock) as EtcdHeldLock, {
    release: async () => {
      giveOnce()
      await lock.release()
    },
    detach: () => {
      lock.detach()
      const t = setTimeout(giveOnce, lock.ttlMs)
      ;(t as { unref?: () => void }).unref?.()
    },
  })
}
