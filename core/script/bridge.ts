/**
 * The synchronous bridge between a plain script's worker (a worker thread under `repjs run`, a Web
 * Worker under `runInWorker`) and the thread that owns its replica (the host). One layout, one
 * encoding, in a SharedArrayBuffer: a control block of int32 words, one float64 and one message.
 *
 *   ctl[STATE]   IDLE 0 · REQUEST 1 · RESPONSE 2
 *   ctl[ASKS]    the request's id (the worker's counter), written BEFORE its state is set to REQUEST,
 *                so a host that reads on seeing the state reads the id of that request
 *   ctl[ANSWERS] the id of the request a response answers
 *   ctl[OP]      request: the op (core/script/calls.ts OPS index)
 *   ctl[NAME]    request: the logged name's id; ctl[SITE] the call site's id. The worker numbers the
 *                names and sites it sees; a text crosses the bridge only the first time (in `data`)
 *                and the host keeps the id → text tables
 *   ctl[TAG]     what `num` and `data` hold (request: ARGS_*, response: TAG_*)
 *   ctl[LENGTH]  bytes in `data`
 *   ctl[LIVE]    response: 1 when the replica is live (`repjs run --quiet-replay`)
 *   num          a float64: a request's one numeric argument, a number response
 *   data         request: core's codec of [new name text | null, new site text | null, args];
 *                response: UTF-8 (TAG_STRING), raw bytes (TAG_BYTES), core's codec (TAG_VALUE,
 *                TAG_ERROR, TAG_STOPPED)
 * The common call (Date.now, Math.random at a known site) encodes nothing: a few words each way.
 *
 * The worker writes a request, wakes the host (Atomics.notify on STATE; the host waits with
 * Atomics.waitAsync, or, in a browser without it, on a message) and blocks in Atomics.wait until
 * the state is RESPONSE. A wake-up is only a hint: the host's notify for one answer can arrive
 * after the worker has taken that answer (it saw the state change before it waited) and is waiting
 * for the next, so the worker waits in a loop on the state itself. A response that names another
 * request is REPJS_CORRUPT, never a value. Values cross as data, never code.
 *
 * After the message area: the replay window (core/script/replay-window.ts), decided records the
 * worker answers a replayed call from without a request.
 */
import { createCodec } from '../codec.js'
import { createCborFormat } from '../cbor-format.js'
import { ErrorCodes, RepJSError } from '../errors.js'
import { OPS, type Op } from './calls.js'
import { ReplayWindow, WINDOW_BYTES } from './replay-window.js'

export const BRIDGE_BYTES = 4 * 1024 * 1024

export const STATE = 0
export const ASKS = 1
export const ANSWERS = 2
const OP = 3
const NAME = 4
const SITE = 5
const TAG = 6
const LENGTH = 7
const LIVE = 8
const CTL_BYTES = 40 // 10 words, to the float64's alignment
const NUM_BYTES = 8

export const IDLE = 0
export const REQUEST = 1
export const RESPONSE = 2

const ARGS_NONE = 0
const ARGS_NUMBER = 1
const ARGS_DATA = 2

const TAG_UNDEFINED = 0
const TAG_NUMBER = 1
const TAG_STRING = 2
const TAG_BYTES = 3
const TAG_NULL = 4
const TAG_VALUE = 5
/** An error for the script to throw (agreed, or from argument checks). */
const TAG_ERROR = 6
/** RepJS stopped this replica (a divergence, a fatal store error): the script must not go on. */
const TAG_STOPPED = 7

export const codec = createCodec(createCborFormat())
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface Request {
  op: Op
  name: string
  args: unknown[]
  site: string
}

/** What the host answers: a value, an error for the script to throw, or that the replica stopped. */
export type Answer = { value: unknown; live?: boolean } | { error: unknown; live?: boolean } | { stopped: unknown }

/** What the worker gets back. */
export type Reply = { ok: true; value: unknown; live: boolean } | { ok: false; error: unknown; stopped: boolean; live: boolean }

export interface BridgeOptions {
  /**
   * How the host wakes the worker after writing a response (default: Atomics.notify at once).
   * Tests delay it to reproduce a host descheduled between its store and its notify.
   */
  wake?: (notify: () => void) => void
  /** Worker: after each request is written (a browser page without Atomics.waitAsync waits for a message). */
  requested?: () => void
}

export class ScriptBridge {
  readonly ctl: Int32Array
  readonly num: Float64Array
  readonly data: Uint8Array
  /** The decided records the worker may answer from itself (core/script/replay-window.ts), after the message. */
  readonly replay: ReplayWindow
  private readonly wake: (notify: () => void) => void
  private readonly requested: (() => void) | undefined
  // worker side
  private asks = 0
  private readonly nameIds = new Map<string, number>()
  private readonly siteIds = new Map<string, number>()
  // host side
  private answering = 0
  private readonly names: string[] = []
  private readonly sites: string[] = []

  constructor(readonly sab: SharedArrayBuffer, options: BridgeOptions = {}) {
    this.ctl = new Int32Array(sab, 0, CTL_BYTES / 4)
    this.num = new Float64Array(sab, CTL_BYTES, 1)
    const dataBytes = sab.byteLength - CTL_BYTES - NUM_BYTES - WINDOW_BYTES
    this.data = new Uint8Array(sab, CTL_BYTES + NUM_BYTES, dataBytes)
    this.replay = new ReplayWindow(sab, CTL_BYTES + NUM_BYTES + dataBytes)
    this.wake = options.wake ?? ((notify) => notify())
    this.requested = options.requested
  }

  static create(bytes = BRIDGE_BYTES, options?: BridgeOptions): ScriptBridge {
    // The message area is a multiple of 8 bytes, so the window after it is aligned for its float64s.
    return new ScriptBridge(new SharedArrayBuffer(CTL_BYTES + NUM_BYTES + Math.ceil(bytes / 8) * 8 + WINDOW_BYTES), options)
  }

  /** The state word (IDLE, REQUEST or RESPONSE). */
  get state(): number {
    return Atomics.load(this.ctl, STATE)
  }

  private put(bytes: Uint8Array): number {
    if (bytes.length > this.data.length) throw new RangeError(`bridge message of ${bytes.length} bytes exceeds ${this.data.length}`)
    this.data.set(bytes)
    return bytes.length
  }

  /** The message's bytes, copied out (decoders do not take views of a SharedArrayBuffer). */
  private bytes(): Uint8Array {
    return this.data.slice(0, this.ctl[LENGTH]!)
  }

  // ---- worker ---------------------------------------------------------------------------------

  /** Worker: send a request and block until the host has answered it. */
  call(op: Op, name: string, args: unknown[], site: string): Reply {
    const ctl = this.ctl
    let nameId = this.nameIds.get(name)
    const newName = nameId === undefined
    if (newName) this.nameIds.set(name, (nameId = this.nameIds.size))
    let siteId = this.siteIds.get(site)
    const newSite = siteId === undefined
    if (newSite) this.siteIds.set(site, (siteId = this.siteIds.size))
    ctl[OP] = OPS.indexOf(op)
    ctl[NAME] = nameId!
    ctl[SITE] = siteId!
    if (!newName && !newSite && args.length === 0) ctl[TAG] = ARGS_NONE
    else if (!newName && !newSite && args.length === 1 && typeof args[0] === 'number') {
      ctl[TAG] = ARGS_NUMBER
      this.num[0] = args[0]
    } else {
      ctl[TAG] = ARGS_DATA
      ctl[LENGTH] = this.put(codec.encode([newName ? name : null, newSite ? site : null, args]))
    }
    const id = (this.asks = (this.asks % 0x7fffffff) + 1)
    ctl[ASKS] = id
    Atomics.store(ctl, STATE, REQUEST) // a sequentially consistent store publishes the writes above
    Atomics.notify(ctl, STATE)
    this.requested?.()
    for (let state; (state = Atomics.load(ctl, STATE)) !== RESPONSE; ) Atomics.wait(ctl, STATE, state)
    const answers = ctl[ANSWERS]
    const reply = answers === id ? this.reply() : undefined
    this.replay.reset()
    Atomics.store(ctl, STATE, IDLE)
    if (!reply) {
      throw new RepJSError(ErrorCodes.CORRUPT, `the bridge answered request ${id} with the response to request ${answers}: the replica stops rather than hand the script a value of another call (please report this as a RepJS bug)`)
    }
    return reply
  }

  private reply(): Reply {
    const tag = this.ctl[TAG]
    const live = this.ctl[LIVE] === 1
    switch (tag) {
      case TAG_NUMBER:
        return { ok: true, value: this.num[0], live }
      case TAG_STRING:
        return { ok: true, value: decoder.decode(this.bytes()), live }
      case TAG_BYTES:
        return { ok: true, value: this.bytes(), live }
      case TAG_NULL:
        return { ok: true, value: null, live }
      case TAG_VALUE:
        return { ok: true, value: codec.decode(this.bytes(), 'bridge response'), live }
      case TAG_ERROR:
      case TAG_STOPPED: {
        return { ok: false, error: codec.decode(this.bytes(), 'bridge response'), stopped: tag === TAG_STOPPED, live }
      }
      default:
        return { ok: true, value: undefined, live }
    }
  }

  // ---- host -----------------------------------------------------------------------------------

  /** Host: the request the worker wrote (state REQUEST). */
  request(): Request {
    const ctl = this.ctl
    this.answering = Atomics.load(ctl, ASKS)
    const nameId = ctl[NAME]!
    const siteId = ctl[SITE]!
    let args: unknown[] = []
    const tag = ctl[TAG]
    if (tag === ARGS_NUMBER) args = [this.num[0]]
    else if (tag === ARGS_DATA) {
      const [name, site, a] = codec.decode(this.bytes(), 'bridge request') as [string | null, string | null, unknown[]]
      if (name !== null) this.names[nameId] = name
      if (site !== null) this.sites[siteId] = site
      args = a
    }
    return { op: OPS[ctl[OP]!] ?? ('?' as Op), name: this.names[nameId] ?? '?', args, site: this.sites[siteId] ?? '' }
  }

  /** Host: answer the request last read and wake the worker. */
  respond(answer: Answer): void {
    const ctl = this.ctl
    let tag: number
    let length = 0
    if ('stopped' in answer) {
      tag = TAG_STOPPED
      length = this.put(codec.encode(answer.stopped))
    } else if ('error' in answer) {
      tag = TAG_ERROR
      length = this.put(codec.encode(answer.error))
    } else {
      const v = answer.value
      if (typeof v === 'number') {
        tag = TAG_NUMBER
        this.num[0] = v
      } else if (typeof v === 'string') {
        tag = TAG_STRING
        length = this.put(encoder.encode(v)) // encodeInto cannot write into a shared buffer everywhere
      } else if (v instanceof Uint8Array) {
        tag = TAG_BYTES
        length = this.put(v)
      } else if (v === null) tag = TAG_NULL
      else if (v === undefined) tag = TAG_UNDEFINED
      else {
        tag = TAG_VALUE
        length = this.put(codec.encode(v))
      }
    }
    ctl[TAG] = tag
    ctl[LENGTH] = length
    ctl[LIVE] = 'live' in answer && answer.live ? 1 : 0
    ctl[ANSWERS] = this.answering
    Atomics.store(ctl, STATE, RESPONSE) // a sequentially consistent store publishes the writes above
    this.wake(() => Atomics.notify(ctl, STATE))
  }

  /** Host: wake anything waiting on the state word (the host's own answer loop at its end). */
  interrupt(): void {
    Atomics.notify(this.ctl, STATE)
  }
}
