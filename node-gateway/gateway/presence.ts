/**
 * The presence key of one connection (PRESENT, core/presence.ts): checked, then written under a
 * lease of this connection's, at most once per PRESENCE_MIN_INTERVAL_MS whatever the client sends
 * (the latest value wins), and deleted (lease revoked) when the connection goes. A failed write is
 * logged and retried a second later; the client never hears of it.
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { decodePresence, PRESENCE_MIN_INTERVAL_MS, type Presence } from '../../core/presence.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { metaKey, presenceKey } from '../store/keys.js'
import type { PresenceWriter } from './served-store.js'

const format = createCborFormat()

/** A PRESENT value as the gateway stores it: a presence value naming the connection's replica. */
export function checkPresence(value: Uint8Array, replica: string): Presence {
  const p = decodePresence(format, value)
  if (p.replica !== replica) {
    throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `PRESENT names replica '${p.replica}', but this connection is replica '${replica}': a replica announces only itself`)
  }
  return p
}

export class ConnectionPresence {
  private readonly key: string
  private readonly meta: string
  private pending: Uint8Array | undefined
  private lastWrite = -Infinity
  private writing = false
  private closed = false
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly lease: PresenceWriter,
    run: string,
    replica: string,
    private readonly log: { warn(o: object, m?: string): void },
    private readonly written: () => void,
  ) {
    this.key = presenceKey(run, replica)
    this.meta = metaKey(run)
  }

  /** Store `value` (already checked) now, or when a second has passed since the last write. */
  offer(value: Uint8Array): void {
    this.pending = value
    this.flush()
  }

  private flush(): void {
    if (this.closed || this.writing || !this.pending || this.timer) return
    const wait = this.lastWrite + PRESENCE_MIN_INTERVAL_MS - Date.now()
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.flush()
      }, wait)
      return
    }
    const value = this.pending
    this.pending = undefined
    this.writing = true
    this.lastWrite = Date.now()
    this.lease.put(this.key, value, this.meta).then(this.written, (err: unknown) => {
      this.log.warn({ err, key: this.key }, 'could not write a presence key (retrying)')
      this.pending ??= value
    }).finally(() => {
      this.writing = false
      this.flush()
    })
  }

  /** The connection is gone: revoke the lease (the key goes with it). */
  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    void this.lease.close()
  }
}
