/**
 * The synchronous bridge between a script's worker thread and the replica on the main thread.
 * A SharedArrayBuffer holds a control word and one message:
 *   ctl[0] state: 0 idle · 1 request written · 2 response written
 *   ctl[1] byte length of the message in `data`
 * The worker writes a request, wakes the host (Atomics.notify; the host waits with
 * Atomics.waitAsync) and blocks in Atomics.wait until the state is RESPONSE; the main thread
 * performs the call asynchronously, writes the response and notifies. A wake-up is only a hint:
 * the host's notify for one answer can arrive after the worker has taken that answer (it saw the
 * state change before it waited) and is waiting for the next, so the worker waits in a loop on the
 * state itself. Each request carries a sequence number its response repeats; a response for
 * another request is REPJS_CORRUPT, never a value. Messages are encoded with core's codec (data
 * only, never code).
 *   request  := [seq, op, name, args, site]
 *   response := [seq, ok, value | error, live]
 */
import { createCodec } from '../../core/codec.js'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { createCborFormat } from '../../core/cbor-format.js'

export const BRIDGE_BYTES = 4 * 1024 * 1024
export const IDLE = 0
export const REQUEST = 1
export const RESPONSE = 2
const STATE = 0
const LENGTH = 1
const CTL_BYTES = 8

export type Op = 'now' | 'perf' | 'random' | 'uuid' | 'bytes' | 'once' | 'input' | 'check'

export const codec = createCodec(createCborFormat())

export interface BridgeOptions {
  /**
   * How the host wakes the worker after writing a response (default: Atomics.notify at once).
   * Tests delay it to reproduce a host descheduled between its store and its notify.
   */
  wake?: (notify: () => void) => void
}

export class BridgeBuffer {
  readonly ctl: Int32Array
  readonly data: Uint8Array
  private readonly wake: (notify: () => void) => void

  constructor(readonly sab: SharedArrayBuffer, options: BridgeOptions = {}) {
    this.ctl = new Int32Array(sab, 0, CTL_BYTES / 4)
    this.data = new Uint8Array(sab, CTL_BYTES)
    this.wake = options.wake ?? ((notify) => notify())
  }

  static create(bytes = BRIDGE_BYTES, options?: BridgeOptions): BridgeBuffer {
    return new BridgeBuffer(new SharedArrayBuffer(CTL_BYTES + bytes), options)
  }

  /** The state word (IDLE, REQUEST or RESPONSE). */
  get state(): number {
    return Atomics.load(this.ctl, STATE)
  }

  private write(value: unknown, state: number): void {
    const bytes = codec.encode(value)
    if (bytes.length > this.data.length) throw new RangeError(`bridge message of ${bytes.length} bytes exceeds ${this.data.length}`)
    this.data.set(bytes)
    Atomics.store(this.ctl, LENGTH, bytes.length)
    Atomics.store(this.ctl, STATE, state)
  }

  private read(): unknown {
    return codec.decode(this.data.slice(0, Atomics.load(this.ctl, LENGTH)), 'bridge message')
  }

  /** Worker: send a request and block until the host has answered it. */
  call(request: unknown[]): unknown[] {
    const seq = (this.seq = (this.seq % 0x7fffffff) + 1)
    this.write([seq, ...request], REQUEST)
    Atomics.notify(this.ctl, STATE) // the host waits on the control word (Atomics.waitAsync)
    for (let state; (state = Atomics.load(this.ctl, STATE)) !== RESPONSE; ) Atomics.wait(this.ctl, STATE, state)
    const response = this.read()
    Atomics.store(this.ctl, STATE, IDLE)
    if (!Array.isArray(response) || response[0] !== seq) {
      throw new RepJSError(ErrorCodes.CORRUPT, `the bridge answered request ${seq} with a message for ${Array.isArray(response) ? String(response[0]) : 'no request'}: the replica stops rather than hand the script a value of another call (please report this as a RepJS bug)`)
    }
    return response.slice(1)
  }

  private seq = 0
  /** Host: the sequence number of the request being answered. */
  private answering = 0

  /** Host: the request the worker wrote (state REQUEST), without its sequence number. */
  request(): unknown[] {
    const request = this.read() as unknown[]
    this.answering = request[0] as number
    return request.slice(1)
  }

  /** Host: answer the request last read and wake the worker. */
  respond(response: unknown[]): void {
    this.write([this.answering, ...response], RESPONSE)
    this.wake(() => Atomics.notify(this.ctl, STATE))
  }

  /** Host: wake anything waiting on the control word (the host's own answer loop at exit). */
  interrupt(): void {
    Atomics.notify(this.ctl, STATE)
  }
}
