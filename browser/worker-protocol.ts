/**
 * The messages between the page and a script's Web Worker under `runInWorker()` (postMessage). The
 * agreed calls do not use them: they cross the plain-script bridge on a SharedArrayBuffer
 * (core/script/bridge.ts, the one `repjs run` uses too).
 */
import type { AgreedZone } from '../core/script/zone.js'

/** An error as `exit` carries it: plain data. */
export interface ErrorData {
  name: string
  message: string
  code?: string
  stack?: string
}

/** Worker → page messages. */
export type FromWorker =
  | { t: 'out'; stream: 'stdout' | 'stderr'; text: string }
  | { t: 'exit'; code: number; error?: ErrorData }
  /** A request is waiting on the bridge (only when the page has no Atomics.waitAsync). */
  | { t: 'call' }

/** Page → worker: the one message that starts the script. */
export interface InitMessage {
  t: 'init'
  sab: SharedArrayBuffer
  /** The script's absolute URL (call sites are made relative to its folder). */
  url: string
  type: 'classic' | 'module'
  /** A classic script's text, fetched once by the page (the same bytes the program id hashes). */
  source?: string
  /** 'message': also post { t: 'call' } for every request (no Atomics.waitAsync on the page). */
  notify: 'atomics' | 'message'
  /** The run's agreed time zone and locale (core/script/zone.ts), installed before the script starts. */
  zone?: AgreedZone
}

/** Plain data of an error, for exit messages. */
export function errorData(err: unknown): ErrorData {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as Error & { code?: unknown }
    return { name: String(e.name ?? 'Error'), message: String(e.message), ...(typeof e.code === 'string' ? { code: e.code } : {}), ...(e.stack ? { stack: String(e.stack) } : {}) }
  }
  return { name: 'Error', message: String(err) }
}
