/**
 * Keeps one etcd lease alive by its id, whoever granted it: the run-once lock's holder (a direct
 * replica, or a gateway for its client) and any gateway a client re-attaches through later, since a
 * gateway keeps nothing a lease needs (ids are cluster-wide). One keep-alive every TTL/3 through
 * the transport's `LeaseRenewer` (lean: one short LeaseKeepAlive stream per keep-alive; etcd3: one
 * stream, re-opened after a fault), sooner again after a failure. The lease is reported lost (`signal` aborts) when
 * etcd says it expired, or when no keep-alive has succeeded for two TTLs (as etcd3's Lease does: a
 * leader change renews leases, so one TTL without an answer does not mean it expired).
 * `detach()` stops keeping it alive without revoking it: it then lives one more TTL (the grace a
 * holder gets to re-attach), and expires unless someone keeps it alive again.
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'

export interface KeptLease {
  readonly id: string
  /** The lease's TTL (ms): how long it outlives its last keep-alive. */
  readonly ttlMs: number
  /** Aborts (reason: REPJS_LEASE_LOST) when the lease is lost. Never aborts after detach() or revoke(). */
  readonly signal: AbortSignal
  /** Resolves once etcd answered the first keep-alive; rejects with REPJS_LEASE_LOST if the lease is gone. */
  readonly ready: Promise<void>
  /** Stop keeping the lease alive after one last keep-alive (best effort); do not revoke it. */
  detach(): void
  /** Stop and revoke the lease (deleting the keys attached to it). Never throws. */
  revoke(): Promise<void>
}

/** What keeping one lease alive takes from a transport (lean-leases.ts, etcd3-transport.ts). */
export interface LeaseRenewer {
  /** One keep-alive: the TTL etcd answered (<= 0: the lease is gone). */
  keepAlive(): Promise<number>
  revoke(): Promise<void>
  /** Done: release what keep-alives hold (etcd3's stream). */
  close(): void
}

function leaseLost(id: string, why: string): RepJSError {
  return new RepJSError(ErrorCodes.LEASE_LOST, `run-once lease ${id} lost: ${why}`, { details: { lease: id } })
}

/**
 * Keep lease `id` (granted for `ttlSec` seconds) alive through `renewer` until detach(), revoke() or
 * its loss. `granted`: the caller has just granted it (its whole TTL is ahead): `ready` at once, the
 * first keep-alive a third of the TTL later, instead of a round trip now.
 */
export function keepLease(renewer: LeaseRenewer, id: string, ttlSec: number, granted = false): KeptLease {
  const ac = new AbortController()
  const ttlMs = ttlSec * 1000
  let stopped = false
  let lastOk = Date.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  let settleReady: ((err?: RepJSError) => void) | undefined
  const ready = new Promise<void>((resolve, reject) => {
    settleReady = (err) => {
      settleReady = undefined
      if (err) reject(err)
      else resolve()
    }
  })
  ready.catch(() => {})

  const stop = () => {
    stopped = true
    clearTimeout(timer)
    renewer.close()
  }
  const lose = (why: string) => {
    if (stopped) return
    stop()
    const err = leaseLost(id, why)
    settleReady?.(err)
    ac.abort(err)
  }
  const schedule = (ms: number) => {
    clearTimeout(timer)
    timer = setTimeout(tick, ms)
  }
  async function tick(): Promise<void> {
    if (stopped) return
    if (Date.now() - lastOk > 2 * ttlMs) return lose(`no keep-alive succeeded for ${2 * ttlSec} s`)
    schedule(ttlMs / 3)
    let ttl: number
    try {
      ttl = await renewer.keepAlive()
    } catch {
      // Unreachable or a broken stream: try again soon (the lease is lost only after two TTLs).
      if (!stopped) schedule(Math.min(100, ttlMs / 3))
      return
    }
    if (stopped) return
    if (ttl <= 0) return lose('it expired (its holder was gone for longer than its TTL)')
    lastOk = Date.now()
    settleReady?.()
  }
  if (granted) {
    settleReady?.()
    schedule(ttlMs / 3)
  } else void tick()

  return {
    id,
    ttlMs,
    signal: ac.signal,
    ready,
    detach() {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      // One last keep-alive: the lease lives a whole TTL from now, whatever the schedule was.
      const done = () => {
        clearTimeout(giveUp)
        renewer.close()
      }
      const giveUp = setTimeout(done, 1000)
      giveUp.unref?.()
      renewer.keepAlive().then(done, done)
    },
    async revoke() {
      stop()
      try {
        await renewer.revoke()
      } catch {
        // Already expired or revoked, or etcd unreachable: then it expires within its TTL.
      }
    },
  }
}
