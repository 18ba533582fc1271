/**
 * PING acknowledgements (RFC 9113 section 6.7) held for the connection's next write. etcd's
 * grpc-go server sends a BDP-estimation PING with nearly every unary call; acknowledging each in
 * a write of its own made two write syscalls per call on our side (strace: 8,042 writes for 4,000
 * Txns) and one more read on etcd's. An ack rides on the next request's write, or goes out alone
 * within 10 ms (the RFC asks for an answer with priority, and sets no deadline).
 *
 * One timer per connection, armed when an ack is held and left armed when a write takes the acks:
 * a setTimeout and clearTimeout for every call's ack showed 161 ms in a 2,000-call `--cpu-prof`.
 * When it fires it sends what is held, if anything, and is armed again (refresh) by the next ack.
 */
import { ACK, PING, writeFrameHeader } from './h2-frames.js'

const HOLD_MS = 10
/** One PING ack frame: a 9-byte header and the 8 bytes of the PING's payload. */
const ACK_BYTES = 17

export class PingAcks {
  /** The payloads of the PINGs to acknowledge (views of read slabs, never overwritten: read-slab.ts). */
  private held: Buffer[] = []
  private timer: NodeJS.Timeout | undefined
  private armed = false

  constructor(private readonly write: (bytes: Buffer) => void) {}

  /** A PING with `payload` came: acknowledge it with the next write. */
  hold(payload: Buffer): void {
    this.held.push(payload)
    if (this.armed) return
    this.armed = true
    if (this.timer) this.timer.refresh()
    else (this.timer = setTimeout(() => this.fire(), HOLD_MS)).unref()
  }

  /** Bytes the held acks take at the front of the next write. */
  get size(): number {
    return this.held.length * ACK_BYTES
  }

  /**
   * Write the held acks at `out[off]` on (`size` bytes: the writer reserved them in the buffer of its
   * own frames, so a call's write with acks costs no extra buffer or copy) and forget them.
   */
  writeInto(out: Buffer, off: number): void {
    for (const payload of this.held) {
      writeFrameHeader(out, off, 8, PING, ACK, 0)
      payload.copy(out, off + 9, 0, 8)
      off += ACK_BYTES
    }
    this.held = []
  }

  /** Send the held acks now, in a write of their own (no call's write took them in time). */
  flush(): void {
    if (this.held.length === 0) return
    const out = Buffer.allocUnsafe(this.size)
    this.writeInto(out, 0)
    this.write(out)
  }

  /** The connection is gone: nothing more is sent. */
  clear(): void {
    this.held = []
    this.armed = false
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private fire(): void {
    this.armed = false
    this.flush()
  }
}
