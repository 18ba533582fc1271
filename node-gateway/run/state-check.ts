/**
 * `repjs run --check-every N`, the script's side. A running SHA-256 of what the script consumed and
 * produced, in the order its thread did it: the outcome of every agreed bridge call (the value it
 * got, or the agreed error's name, message and code) and every byte it wrote to stdout (also while
 * --quiet-replay drops it). After every N-th agreed call the worker makes one more bridge call,
 * op 'check' with the hash so far (its first 128 bits, as hex), which the host agrees with
 * `rep.check`: a replica whose script saw other values (a bridge fault) or printed something else
 * (state that is not agreed: an environment variable, a local file) stops with REPJS_DIVERGED.
 */
import { createHash } from 'node:crypto'
import { codec } from '../../core/script/bridge.js'
import { CHECK, type ScriptCall } from '../../core/script/calls.js'

export type BridgeCall = ScriptCall

export interface StateTracker {
  /** The bridge call to patch with: the same calls, hashed and checked every N. */
  call: BridgeCall
  /** Bytes the script wrote to stdout. */
  output(bytes: Uint8Array): void
}

/** The name of the check slots in the log. */
export const CHECK_NAME = 'repjs.check'

export function trackState(call: BridgeCall, every: number): StateTracker {
  const hash = createHash('sha256')
  let calls = 0
  const consumed = (outcome: unknown) => {
    hash.update(codec.encode(outcome))
    if (++calls % every === 0) call(CHECK.op, CHECK_NAME, [hash.copy().digest('hex').slice(0, 32)])
  }
  return {
    call(op, name, args, patched) {
      let value: unknown
      try {
        value = call(op, name, args, patched)
      } catch (err) {
        const e = err as { name?: unknown; message?: unknown; code?: unknown } | null
        consumed([false, String(e?.name), String(e?.message), String(e?.code)])
        throw err
      }
      consumed([true, value])
      return value
    },
    output(bytes) {
      hash.update(bytes)
    },
  }
}
