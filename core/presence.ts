/**
 * Presence: every replica announces itself under its run, so `repjs runs`, the gateway's /metrics
 * and /dashboard can show who is there:
 *
 *   /repjs/v1/<run>/p/<replicaId>   lease-bound; value CBOR map
 *                                   {v: 1, replica, name, runtime, status, slot, head, at}
 *
 * `status`, `slot` and `head` are the replica's Status (slot: the next slot it will use on the main
 * stream; head: the highest decided slot it knows, -1 if none); `at` the replica's clock (ms) when
 * written. The store binds the key to a lease of PRESENCE_TTL_S seconds that it keeps alive: closing
 * the replica deletes the key, a crashed replica's key expires within PRESENCE_TTL_S (a gateway
 * deletes it when the connection goes). The key is written when status, slot or head change, at
 * most once per PRESENCE_MIN_INTERVAL_MS, and not otherwise (the lease keeps it). Presence never
 * blocks or fails a call: a failed write is logged and retried on the next tick.
 */
import type { BinaryFormat } from './codec.js'
import { ErrorCodes, RepJSError } from './errors.js'
import type { Status, StatusEmitter, StatusState } from './status.js'
import type { Store } from './store.js'

export type ReplicaRuntime = 'node' | 'browser' | 'electron' | 'repjs-run'
export const RUNTIMES: readonly ReplicaRuntime[] = ['node', 'browser', 'electron', 'repjs-run']
const STATES: readonly StatusState[] = ['connecting', 'live', 'catching-up', 'waiting-for-quorum', 'reconnecting', 'closed']

/** The presence lease's TTL: how long a crashed replica stays listed. */
export const PRESENCE_TTL_S = 10
/** Presence writes of one replica are at least this far apart. */
export const PRESENCE_MIN_INTERVAL_MS = 1000
/** Largest presence value stored (a gateway refuses larger ones). */
export const MAX_PRESENCE_BYTES = 1024
const MAX_NAME = 128

export interface Presence {
  v: 1
  replica: string
  name: string
  runtime: ReplicaRuntime
  status: StatusState
  slot: number
  head: number
  at: number
}

export function encodePresence(format: BinaryFormat, p: Presence): Uint8Array {
  return format.encode({ v: 1, replica: p.replica, name: p.name, runtime: p.runtime, status: p.status, slot: p.slot, head: p.head, at: p.at })
}

function bad(reason: string): RepJSError {
  return new RepJSError(ErrorCodes.BAD_ARGUMENT, `not a presence value: ${reason}`, { details: { reason } })
}

/** Decode and check a presence value (REPJS_BAD_ARGUMENT if it is not one). */
export function decodePresence(format: BinaryFormat, bytes: Uint8Array): Presence {
  if (bytes.length > MAX_PRESENCE_BYTES) throw bad(`${bytes.length} bytes, over ${MAX_PRESENCE_BYTES}`)
  let tree: unknown
  try {
    tree = format.decode(bytes)
  } catch (err) {
    throw bad(`undecodable (${(err as Error).message})`)
  }
  if (!(tree instanceof Map) || tree.size !== 8) throw bad('expected a map of 8 entries')
  const map = tree as Map<unknown, unknown>
  const [v, replica, name, runtime, status, slot, head, at] = ['v', 'replica', 'name', 'runtime', 'status', 'slot', 'head', 'at'].map((k) => map.get(k))
  if (v !== 1) throw bad(`version ${String(v)}, expected 1`)
  if (typeof replica !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(replica)) throw bad('replica must be 1-128 of [A-Za-z0-9._-]')
  if (typeof name !== 'string' || name.length > MAX_NAME) throw bad(`name must be a string of at most ${MAX_NAME} characters`)
  if (!RUNTIMES.includes(runtime as ReplicaRuntime)) throw bad(`runtime must be one of ${RUNTIMES.join(', ')}`)
  if (!STATES.includes(status as StatusState)) throw bad(`status must be one of ${STATES.join(', ')}`)
  if (!Number.isSafeInteger(slot) || (slot as number) < 0) throw bad('slot must be a non-negative integer')
  if (!Number.isSafeInteger(head) || (head as number) < -1) throw bad('head must be an integer >= -1')
  if (typeof at !== 'number' || !Number.isFinite(at)) throw bad('at must be a number (ms)')
  return { v: 1, replica, name, runtime: runtime as ReplicaRuntime, status: status as StatusState, slot: slot as number, head: head as number, at }
}

export interface AnnounceOptions {
  store: Store
  format: BinaryFormat
  run: string
  replica: string
  name: string
  runtime: ReplicaRuntime
  status: StatusEmitter
  clock: () => number
}

/**
 * Keep this replica's presence key up to date (if the store supports presence); returns a stop
 * function. Stops by itself when the status turns 'closed' (the store then drops the key).
 */
export function announcePresence(o: AnnounceOptions): () => void {
  const present = o.store.present?.bind(o.store)
  if (!present) return () => {}
  let written: string | undefined
  let lastWrite = -Infinity
  let writing = false
  let failures = 0
  let stopped = false
  let soon: ReturnType<typeof setTimeout> | undefined
  const signature = (s: Status) => `${s.state}:${s.slot}:${s.head}`
  const fire = () => {
    soon = undefined
    tick()
  }
  const tick = () => {
    const s = o.status.current
    if (stopped || writing || s.state === 'closed' || signature(s) === written) return
    const wait = lastWrite + PRESENCE_MIN_INTERVAL_MS - Date.now()
    if (wait > 0) {
      if (soon === undefined) {
        soon = setTimeout(fire, wait)
        ;(soon as { unref?: () => void } | undefined)?.unref?.()
      }
      return
    }
    writing = true
    lastWrite = Date.now()
    const sig = signature(s)
    const value = encodePresence(o.format, { v: 1, replica: o.replica, name: o.name.slice(0, MAX_NAME), runtime: o.runtime, status: s.state, slot: s.slot, head: s.head, at: o.clock() })
    present(o.run, o.replica, value).then(
      () => {
        written = sig
        failures = 0
      },
      (err: unknown) => {
        // Retried on the next tick; said once per streak of failures, never thrown at a call.
        if (failures++ === 0 && !stopped) console.warn(`repjs: could not write this replica's presence (retrying): ${(err as Error)?.message ?? String(err)}`)
      },
    ).finally(() => {
      writing = false
    })
  }
  const interval = setInterval(tick, PRESENCE_MIN_INTERVAL_MS)
  ;(interval as { unref?: () => void }).unref?.()
  const off = o.status.on((s) => (s.state === 'closed' ? stop() : tick()))
  function stop() {
    stopped = true
    clearInterval(interval)
    clearTimeout(soon)
    off()
  }
  tick()
  return stop
}
