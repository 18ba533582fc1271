/**
 * The synchronous bridge between a script's Web Worker and the page, for `runInWorker()` (the
 * browser twin of node-gateway/run/bridge.ts). A SharedArrayBuffer holds a control block, one
 * float64 and one message. The encoding is tiny and dependency-free so the worker bootstrap stays
 * small, and the common call (Date.now, Math.random) encodes nothing but a few integers:
 *   ctl[0] state: 0 idle · 1 request written · 2 response written (the worker Atomics.waits on it)
 *   ctl[1] byte length of the message in `data`
 *   ctl[2] response tag (TAG_*)
 *   ctl[3] request counter: the worker bumps it (after the state) and notifies; the page waits on it (Atomics.waitAsync)
 *   ctl[4] request op (OPS index)
 *   ctl[5] request call site id: the worker numbers the call sites it sees; a site's text goes
 *          along (in `data`) only the first time, and the page keeps the id → text table
 *   ctl[6] request name (NAMES index): the patched function, recorded with the slot under the
 *          same name `repjs run` records it (so a tab and a Node process agree on each call)
 *   ctl[7] response counter: the request id (ctl[8]) of the request this response answers
 *   ctl[8] request id: written with the request, before its state, so a reader that sees the state
 *          REQUEST (rather than the counter's wake-up) also reads the id of that request
 *   num    a float64: the request's argument (bytes: the count), a number response
 *   response := tag + (float64 | UTF-8 string | bytes | UTF-8 JSON error)
 */
import type { AgreedZone } from '../core/script/zone.js'

export const BRIDGE_BYTES = 4 * 1024 * 1024
const CTL_BYTES = 40 // 9 words, padded to the float64's alignment
const NUM_BYTES = 8

export const STATE = 0
export const LENGTH = 1
export const TAG = 2
export const SEQ = 3
export const OP = 4
export const SITE = 5
export const NAME = 6
export const ANSWERS = 7
export const ASKS = 8

export const IDLE = 0
export const REQUEST = 1
export const RESPONSE = 2

export const TAG_UNDEFINED = 0
export const TAG_NUMBER = 1
export const TAG_STRING = 2
export const TAG_BYTES = 3
export const TAG_NULL = 4
/** An error for the script to throw (agreed, or from argument checks). */
export const TAG_ERROR = 5
/** RepJS stopped this replica (divergence, a fatal store error): the worker reports exit 70 and blocks. */
export const TAG_STOPPED = 6

export const OPS = ['now', 'perf', 'random', 'uuid', 'bytes', 'input'] as const
export type Op = (typeof OPS)[number]
/** The names the calls are logged under: the same as node-gateway/run/patches.ts uses. */
export const NAMES = ['Date.now', 'new Date', 'Date', 'performance.now', 'Math.random', 'crypto.randomUUID', 'crypto.getRandomValues', 'prompt'] as const
export type Name = (typeof NAMES)[number]
export interface Request {
  op: Op
  name: Name
  /** The argument (bytes: how many). */
  arg: number
  siteId: number
  /** The site's text when the worker sends it for the first time. */
  site?: string
}
export type Response = { tag: number; value: unknown }

/** An error as it crosses the bridge (and as `exit` carries it): plain data. */
export interface ErrorData {
  name: string
  message: string
  code?: string
  stack?: string
}

/** Worker → page messages (postMessage). */
export type FromWorker =
  | { t: 'out'; stream: 'stdout' | 'stderr'; text: string }
  | { t: 'exit'; code: number; error?: ErrorData }
  /** A request is waiting (only when the page has no Atomics.waitAsync). */
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

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface BridgeOptions {
  /**
   * How the page wakes the worker after writing a response (default: Atomics.notify at once).
   * Tests delay it to reproduce a page descheduled between its store and its notify.
   */
  wake?: (notify: () => void) => void
}

export class Bridge {
  readonly ctl: Int32Array
  readonly num: Float64Array
  readonly data: Uint8Array
  private readonly wake: (notify: () => void) => void

  constructor(readonly sab: SharedArrayBuffer, options: BridgeOptions = {}) {
    this.ctl = new Int32Array(sab, 0, CTL_BYTES / 4)
    this.num = new Float64Array(sab, CTL_BYTES, 1)
    this.data = new Uint8Array(sab, CTL_BYTES + NUM_BYTES)
    this.wake = options.wake ?? ((notify) => notify())
  }

  static create(bytes = BRIDGE_BYTES, options?: BridgeOptions): Bridge {
    return new Bridge(new SharedArrayBuffer(CTL_BYTES + NUM_BYTES + bytes), options)
  }

  private writeText(text: string): number {
    // encodeInto cannot write into a shared buffer in every browser: encode, then copy.
    const bytes = encoder.encode(text)
    if (bytes.length > this.data.length) throw new RangeError(`bridge message of ${bytes.length} bytes exceeds ${this.data.length}`)
    this.data.set(bytes)
    return bytes.length
  }

  private readText(): string {
    // TextDecoder does not take views of a SharedArrayBuffer: copy out first.
    return decoder.decode(this.data.slice(0, Atomics.load(this.ctl, LENGTH)))
  }

  /** Worker: write a request and wake the page. */
  writeRequest(op: number, name: number, arg: number, siteId: number, newSite?: string): void {
    const ctl = this.ctl
    ctl[OP] = op
    ctl[NAME] = name
    ctl[SITE] = siteId
    this.num[0] = arg
    ctl[LENGTH] = newSite === undefined ? -1 : this.writeText(newSite)
    ctl[ASKS] = (ctl[ASKS]! % 0x7fffffff) + 1
    Atomics.store(ctl, STATE, REQUEST)
    Atomics.add(ctl, SEQ, 1)
    Atomics.notify(ctl, SEQ)
  }

  readRequest(): Request {
    const ctl = this.ctl
    this.answering = Atomics.load(ctl, ASKS)
    const length = Atomics.load(ctl, LENGTH)
    return {
      op: OPS[ctl[OP]!] ?? ('?' as Op),
      name: NAMES[ctl[NAME]!] ?? ('?' as Name),
      arg: this.num[0]!,
      siteId: ctl[SITE]!,
      ...(length >= 0 ? { site: this.readText() } : {}),
    }
  }

  /** Page: write the response and wake the worker. */
  writeResponse(tag: number, value?: unknown): void {
    let length = 0
    if (tag === TAG_NUMBER) this.num[0] = value as number
    else if (tag === TAG_STRING) length = this.writeText(value as string)
    else if (tag === TAG_ERROR || tag === TAG_STOPPED) length = this.writeText(JSON.stringify(value ?? null))
    else if (tag === TAG_BYTES) {
      const bytes = value as Uint8Array
      if (bytes.length > this.data.length) throw new RangeError(`bridge message of ${bytes.length} bytes exceeds ${this.data.length}`)
      this.data.set(bytes)
      length = bytes.length
    }
    this.ctl[TAG] = tag
    this.ctl[LENGTH] = length
    this.ctl[ANSWERS] = this.answering
    Atomics.store(this.ctl, STATE, RESPONSE) // a sequentially consistent store publishes the writes above
    this.wake(() => Atomics.notify(this.ctl, STATE))
  }

  /** Page: the id of the request being answered. */
  private answering = 0

  /**
   * Worker: block until the page has answered the request just written, and read the answer. A
   * wake-up is only a hint (the page's notify for an earlier answer, which this worker took without
   * blocking, can arrive late), so wait on the state itself; an answer to another request is
   * REPJS_CORRUPT (thrown as a plain error with that code: this file stays dependency-free).
   */
  awaitResponse(): Response {
    const seq = Atomics.load(this.ctl, ASKS)
    for (let state; (state = Atomics.load(this.ctl, STATE)) !== RESPONSE; ) Atomics.wait(this.ctl, STATE, state)
    const answers = Atomics.load(this.ctl, ANSWERS)
    const response = this.readResponse()
    Atomics.store(this.ctl, STATE, IDLE)
    if (answers !== seq) {
      throw Object.assign(new Error(`the bridge answered request ${seq} with the response to request ${answers}: the replica stops rather than hand the script a value of another call (please report this as a RepJS bug)`), { code: 'REPJS_CORRUPT' })
    }
    return response
  }

  private readResponse(): Response {
    const tag = Atomics.load(this.ctl, TAG)
    switch (tag) {
      case TAG_NUMBER:
        return { tag, value: this.num[0] }
      case TAG_STRING:
        return { tag, value: this.readText() }
      case TAG_BYTES:
        return { tag, value: this.data.slice(0, Atomics.load(this.ctl, LENGTH)) }
      case TAG_NULL:
        return { tag, value: null }
      case TAG_ERROR:
      case TAG_STOPPED:
        return { tag, value: JSON.parse(this.readText()) as ErrorData }
      default:
        return { tag, value: undefined }
    }
  }
}

/** Plain data of an error, for the bridge and for exit messages. */
export function errorData(err: unknown): ErrorData {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as Error & { code?: unknown }
    return { name: String(e.name ?? 'Error'), message: String(e.message), ...(typeof e.code === 'string' ? { code: e.code } : {}), ...(e.stack ? { stack: String(e.stack) } : {}) }
  }
  return { name: 'Error', message: String(err) }
}
