/**
 * Run-once calls: fn runs on exactly one replica, under an etcd lease kept alive while it runs;
 * the outcome is recorded only while the lock is still held (fencing). A "started" marker lets the
 * next holder see that a holder died mid-call and record REPJS_IN_DOUBT (or rerun, if the call
 * was declared idempotent) instead of running a non-idempotent operation twice.
 */
import type { Engine, Outcome, StreamState } from './engine.js'
import { ErrorCodes, RepJSError, type CallIdentity } from './errors.js'
import { cryptoUUID } from './prng.js'
import { encodeRecord } from './record.js'
import type { HeldLock } from './store.js'

export interface OnceOptions {
  /** Lease TTL in ms (default 10,000); the lease is kept alive while fn runs. */
  ttlMs?: number
  /** When a holder died mid-call: record REPJS_IN_DOUBT (default) or run fn again (idempotent work). */
  onInDoubt?: 'error' | 'rerun'
}

export function inDoubtError(stream: string, slot: number, holder: string): RepJSError {
  return new RepJSError(
    ErrorCodes.IN_DOUBT,
    `Run-once call at stream '${stream}' slot ${slot} was started by replica ${holder}, which stopped before recording ` +
      `an outcome; whether its side effect happened is unknown. Check the shared resource by hand; for idempotent work pass { onInDoubt: 'rerun' }.`,
    { details: { stream, slot, holder } },
  )
}

export async function decideOnce(
  engine: Engine,
  stream: StreamState,
  slot: number,
  ident: CallIdentity,
  fn: (signal: AbortSignal) => unknown,
  opts: OnceOptions,
): Promise<Uint8Array> {
  const ref = { run: engine.run, stream: stream.name, slot }
  const ttl = opts.ttlMs ?? 10_000
  // `attempt` tells this call's own marker apart from one an earlier incarnation of this replica left.
  const attempt = cryptoUUID()
  const marker = encodeRecord(engine.codec, ref, { ...ident, by: engine.replicaId, ok: true, value: { onInDoubt: opts.onInDoubt ?? 'error', attempt } })
  let mine: Outcome | undefined
  for (;;) {
    const got = await engine.retryingStore.acquire(ref, engine.replicaId, ttl)
    if (got.state === 'decided') return got.record
    if (got.state === 'busy') {
      await waitDecided(engine, stream, slot, Math.min(Math.max(ttl / 4, 50), 1000))
      const hit = stream.log.peek(slot)
      if (hit) return hit
      continue
    }
    const lock = got.lock
    try {
      const outcome = await holdAndRun(engine, stream, slot, ident, lock, marker, attempt, mine, fn)
      mine = outcome
      return (await lock.decide(engine.encode(ref, ident, outcome))).record
    } catch (err) {
      if (!RepJSError.is(err, ErrorCodes.LEASE_LOST)) throw err
    } finally {
      await lock.release()
    }
  }
}

async function holdAndRun(
  engine: Engine,
  stream: StreamState,
  slot: number,
  ident: CallIdentity,
  lock: HeldLock,
  marker: Uint8Array,
  attempt: string,
  mine: Outcome | undefined,
  fn: (signal: AbortSignal) => unknown,
): Promise<Outcome> {
  if (lock.marker) {
    // An earlier holder started this slot. Its identity must be ours before anything runs.
    const prior = engine.check(stream, slot, ident, lock.marker)
    if (prior.by === engine.replicaId && mine) return mine
    const started = prior.value as { onInDoubt?: string; attempt?: string } | undefined
    // Our own marker, and fn never ran here (it runs only once MARK_STARTED answered, which then
    // sets `mine`): the answer was lost with the lock. Nothing happened; run it now.
    const ours = prior.by === engine.replicaId && started?.attempt === attempt
    if (!ours && started?.onInDoubt !== 'rerun') return { ok: false, value: inDoubtError(stream.name, slot, prior.by) }
  } else {
    await lock.markStarted(marker)
    if (mine) return mine
  }
  return engine.runLocal(() => fn(lock.signal))
}

function waitDecided(engine: Engine, stream: StreamState, slot: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    let settled = false
    let cancel = () => {}
    const done = () => {
      if (settled) return
      settled = true
      clearTimeout(t)
      cancel()
      engine.signal.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    engine.signal.addEventListener('abort', done, { once: true })
    cancel = stream.log.onDecided(slot, done)
  })
}
