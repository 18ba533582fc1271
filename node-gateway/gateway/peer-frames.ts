/**
 * A connection's frames and what they cost: SLOTS frames encoded once for all subscribers, close
 * reasons cut to the protocol's size, and which requests write how many bytes into a run.
 */
import { encodeMessage, type Message } from '../../core/protocol.js'

/**
 * SLOTS frames, encoded once for all the subscribers a hub hands the same records array to with
 * the same subscription id; kept while that array lives (the hub makes a new one per batch).
 */
const slotsFrames = new WeakMap<Uint8Array[], Map<string, Uint8Array>>()
export function encodeSlots(sub: number, first: number, records: Uint8Array[]): Uint8Array {
  let byKey = slotsFrames.get(records)
  if (!byKey) slotsFrames.set(records, (byKey = new Map()))
  const key = `${sub}:${first}`
  let frame = byKey.get(key)
  if (!frame) byKey.set(key, (frame = encodeMessage({ type: 'slots', sub, first, records })))
  return frame
}

/** A close reason is at most 123 bytes of UTF-8; cut on a character boundary. */
export function closeReason(reason: string): string {
  let out = reason.length > 123 ? reason.slice(0, 123) : reason
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1)
  return out
}

/** Whether a request's answer says it wrote to etcd (a lost proposal or an already decided vote did not). */
export function wrote(reply: Message | undefined): boolean {
  if (reply?.type === 'decided') return reply.won
  if (reply?.type === 'voted') return !reply.decided
  if (reply?.type === 'snapshot') return true
  return reply?.type === 'ok'
}

/** The bytes a client message asks the gateway to write into its run, and the id to refuse it with. */
export function writtenBytes(msg: Message): { id: number; bytes: number } | undefined {
  switch (msg.type) {
    case 'propose': case 'decideLocked':
      return { id: msg.id, bytes: msg.record.length }
    case 'vote':
      return { id: msg.id, bytes: msg.value.length }
    case 'markStarted':
      return { id: msg.id, bytes: msg.marker.length }
    case 'writeSnapshot':
      return { id: msg.id, bytes: msg.snapshot.length }
    default:
      return undefined
  }
}
