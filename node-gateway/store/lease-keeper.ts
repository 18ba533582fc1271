/**
 * Keeps one etcd lease alive by its id, whoever granted it: the run-once lock's holder (a direct
 * replica, or a gateway for its client) and any gateway a client re-attaches through later, since a
 * gateway keeps nothing a lease needs (ids are cluster-wide). One keep-alive every TTL/3 on a
 * LeaseKeepAlive stream, re-opened after a fault. The lease is reported lost (`signal` aborts) when
 * etcd says it expired, or when no keep-alive has succeeded for two TTLs (as etcd3's Lease does: a
 * leader change renews leases, so one TTL without an answer does not mean it expired).
 * `detach()` stops keeping it alive without revoking it: it then lives one more TTL (the grace a
 * holder gets to re-attach), and expires unless someone keeps it alive again.
 */
import type { Etcd3 } from 'etcd3'
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

type KeepAliveStream = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>

function leaseLost(id: string, why: string): RepJSError {
  return new RepJSError(ErrorCodes.LEASE_LOST, `run-once lease ${id} lost: ${why}`, { details: { lease: id } })
}

/** Keep lease `id` (granted for `ttlSec` seconds) alive until detach(), revoke() or its loss. */
export function keepLease(client: Etcd3, id: string, ttlSec: number): KeptLease {
  const ac = new AbortController()
  const ttlMs = ttlSec * 1000
  let stopped = false
  let stream: KeepAliveStream | undefined
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
    stream?.end()
    stream = undefined
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
  const open = async (): Promise<KeepAliveStream> => {
    const s = await client.leaseClient.leaseKeepAlive()
    s.on('data', (res: { TTL: string }) => {
      if (stream !== s) return
      if (Number(res.TTL) <= 0) return lose('it expired (its holder was gone for longer than its TTL)')
      lastOk = Date.now()
      settleReady?.()
    })
    // A broken stream is re-opened by the next tick.
    const broken = () => {
      if (stream === s) stream = undefined
    }
    s.on('error', broken)
    s.on('end', broken)
    return s
  }
  async function tick(): Promise<void> {
    if (stopped) return
    if (Date.now() - lastOk > 2 * ttlMs) return lose(`no keep-alive succeeded for ${2 * ttlSec} s`)
    try {
      if (!stream) {
        const s = await open()
        if (stopped) return void s.end()
        stream = s
      }
      stream.write({ ID: id })
      schedule(ttlMs / 3)
    } catch {
      stream = undefined
      schedule(Math.min(100, ttlMs / 3))
    }
  }
  void tick()

  return {
    id,
    ttlMs,
    signal: ac.signal,
    ready,
    detach() {
      if (stopped) return
      const last = stream
      stopped = true
      clearTimeout(timer)
      stream = undefined
      if (!last) return
      // One last keep-alive: the lease lives a whole TTL from now, whatever the schedule was.
      last.write({ ID: id })
      last.on('data', () => last.end())
      setTimeout(() => last.end(), 1000).unref?.()
    },
    async revoke() {
      stop()
      try {
        await client.leaseClient.leaseRevoke({ ID: id })
      } catch {
        // Already expired or revoked, or etcd unreachable: then it expires within its TTL.
      }
    },
  }
}
