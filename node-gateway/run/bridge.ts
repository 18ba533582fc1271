/**
 * The synchronous bridge between a script's worker thread and the replica on the main thread.
 * A SharedArrayBuffer holds a control word and one message:
 *   ctl[0] state: 0 idle · 1 request written · 2 response written
 *   ctl[1] byte length of the message in `data`
 * The worker writes a request, posts a wake-up message, and blocks in Atomics.wait; the main
 * thread performs the call asynchronously, writes the response and notifies. Messages are
 * encoded with core's codec (data only, never code).
 *   request  := [op, name, args, site]
 *   response := [ok, value | error]
 */
import { createCodec } from '../../core/codec.js'
import { createCborFormat } from '../codec/cbor-format.js'

export const BRIDGE_BYTES = 4 * 1024 * 1024
export const IDLE = 0
export const REQUEST = 1
export const RESPONSE = 2

export type Op = 'now' | 'perf' | 'random' | 'uuid' | 'bytes' | 'once' | 'input' | 'check'

export const codec = createCodec(createCborFormat())

export class BridgeBuffer {
  readonly ctl: Int32Array
  readonly data: Uint8Array
  constructor(readonly sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, 2)
    this.data = new Uint8Array(sab, 8)
  }

  write(value: unknown, state: number): void {
    const bytes = codec.encode(value)
    if (bytes.length > this.data.length) throw new RangeError(`bridge message of ${bytes.length} bytes exceeds ${this.data.length}`)
    this.data.set(bytes)
    Atomics.store(this.ctl, 1, bytes.length)
    Atomics.store(this.ctl, 0, state)
  }

  read(): unknown {
    return codec.decode(this.data.slice(0, Atomics.load(this.ctl, 1)), 'bridge message')
  }
}
