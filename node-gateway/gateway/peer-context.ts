/** What a connection (peer.ts) is given by the gateway: its store, hubs, metrics, limits and shared caps. */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { MAX_SLOT } from '../../core/keys.js'
import type { Hubs } from './hub.js'
import type { Usage } from './limits.js'
import type { LivenessOptions } from './liveness.js'
import type { Metrics } from './metrics.js'
import type { Peer } from './peer.js'
import type { ServedStore } from './served-store.js'

export interface PeerLimits {
  /** Requests awaiting etcd at once, per connection. */
  maxInFlight: number
  /** Frames per second (token bucket, burst 2x). */
  ratePerSecond: number
  /** Bytes queued for a slow client before it is closed with SLOW_CONSUMER. */
  maxBufferedBytes: number
  /** Live subscriptions per connection (each one holds etcd reads and a share of a watch). */
  maxSubscriptions: number
  /** Run-once locks held per connection (each one is an etcd lease with keep-alives). */
  maxLocks: number
  /** Largest record, run record or vote stored (default DEFAULT_MAX_VALUE_BYTES, 1 MiB). */
  maxValueBytes?: number
  /** SUBSCRIBEs per second per connection (each starts a history read); burst: maxSubscriptions. */
  subscribesPerSecond: number
}

export interface PeerContext {
  store: ServedStore
  hubs: Hubs
  metrics: Metrics
  limits: PeerLimits
  usage: Usage
  liveness: LivenessOptions
  secret: string | undefined
  gatewayId: string
  /** The live connection of each (run, replica id) on this gateway: a later one takes over. */
  live: Map<string, Peer>
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void }
}

/** Run, replica and stream names: 1-128 of [A-Za-z0-9._-]. */
export const NAME = /^[A-Za-z0-9._-]{1,128}$/

/** The slot a request names, checked: a stream name and a storable slot (else REPJS_BAD_ARGUMENT). */
export function slotRef(run: string, stream: string, slot: number): { run: string; stream: string; slot: number } {
  // Most requests name the stream the previous one did: its name is not matched again.
  if (stream !== lastStream && !NAME.test(stream)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `bad stream name '${stream.slice(0, 64)}'`)
  if (slot > MAX_SLOT) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `slot ${slot} is beyond the last storable slot ${MAX_SLOT}`)
  lastStream = stream
  return { run, stream, slot }
}
let lastStream = ''
