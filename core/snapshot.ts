/**
 * Snapshots of a stream: the program's state recorded at a slot, so a late replica starts there
 * (`restore`) instead of replaying the stream from slot 0, and the slots below can be deleted
 * (`collect`).
 *
 *   snapshot := [version=1, run, stream, slot, state]      at /repjs/v1/<run>/snap/<stream>
 *
 * Taking a snapshot is an agreed operation: it takes the stream's next slot, whose record (kind
 * 'snapshot', name 'snapshot', argsHash = the fingerprint of the encoded state, value `{ time }`,
 * the stream's agreed time then) is decided like any call's, first writer wins. A replica whose
 * state hashes differently at that slot gets REPJS_DIVERGED, as for any other call. The snapshot
 * key holds the latest snapshot only; it is replaced by a later one, never by an earlier one.
 *
 * Restoring positions the stream at the snapshot's slot and replays that one slot (checking the
 * restored state's hash against the record), so the stream's own state (agreed time) continues
 * as on the other replicas. Random generators of the 'batch' and 'seed' modes start anew at a
 * snapshot on every replica alike.
 */
import { fromWire, toWire, type Codec } from './codec.js'
import type { Engine, StreamState } from './engine.js'
import { badArgument, corruptError, ErrorCodes, RepJSError, type CallIdentity } from './errors.js'
import { fingerprint } from './hash.js'
import type { RecordPlace } from './record.js'
import { snapKey } from './keys.js'
import { restartRandom } from './random.js'
import { agreedTime, restartTime } from './time.js'

export const SNAPSHOT_VERSION = 1
const KIND = 'snapshot'

export interface DecodedSnapshot {
  slot: number
  state: unknown
}

function encodeState(codec: Codec, state: unknown): Uint8Array {
  try {
    return codec.format.encode(toWire(state))
  } catch (err) {
    throw badArgument(`snapshot() needs a state RepJS can encode (plain data: objects, arrays, numbers, strings, Maps, Dates, bytes...): ${(err as Error).message}`)
  }
}

/** Encode a snapshot taken at `at`. Throws REPJS_BAD_ARGUMENT if the state cannot be encoded. */
export function encodeSnapshot(codec: Codec, at: RecordPlace, state: unknown): Uint8Array {
  return codec.format.encode([SNAPSHOT_VERSION, at.run, at.stream, at.slot, toWire(state)])
}

/**
 * The bytes every snapshot taken at `slot` of (run, stream) begins with: the encoding of
 * `[1, run, stream, slot, ...` (canonical CBOR: unsigned integers sort by value, so a stored
 * snapshot's bytes compare below `snapshotPrefix(slot + 1)` exactly when it was taken at `slot` or
 * earlier; the store compares them in its transactions).
 */
export function snapshotPrefix(codec: Codec, run: string, stream: string, slot: number): Uint8Array {
  const four = codec.format.encode([SNAPSHOT_VERSION, run, stream, slot])
  if (four[0] !== 0x84) throw badArgument('snapshots need a binary format that encodes a 4-element array with a one-byte CBOR header (core/cbor-format.ts does)')
  const out = four.slice()
  out[0] = 0x85
  return out
}

/**
 * Check a snapshot read for (run, stream) without decoding its state: its slot and state tree.
 * Throws REPJS_CORRUPT if it is not a snapshot or it names another run or stream.
 */
export function checkSnapshot(codec: Codec, bytes: Uint8Array, run: string, stream: string): { slot: number; wire: unknown } {
  const key = snapKey(run, stream)
  let tree: unknown
  try {
    tree = codec.format.decode(bytes)
  } catch (cause) {
    throw corruptError(key, cause)
  }
  if (!Array.isArray(tree) || tree.length !== 5 || tree[0] !== SNAPSHOT_VERSION) throw corruptError(key, new Error('not a snapshot'))
  const [, r, s, slot, wire] = tree
  if (!Number.isSafeInteger(slot) || (slot as number) < 0) throw corruptError(key, new Error('bad snapshot slot'))
  if (r !== run || s !== stream) {
    throw new RepJSError(
      ErrorCodes.CORRUPT,
      `The snapshot read at ${key} names run '${String(r)}' stream '${String(s)}': it was stored for another place and was not used. Inspect the key with etcdctl, or start a new run id.`,
      { details: { key, found: { run: r, stream: s, slot } } },
    )
  }
  return { slot: slot as number, wire }
}

/** Decode the snapshot read for (run, stream): checkSnapshot, then its state. */
export function decodeSnapshot(codec: Codec, bytes: Uint8Array, run: string, stream: string): DecodedSnapshot {
  const { slot, wire } = checkSnapshot(codec, bytes, run, stream)
  try {
    return { slot, state: fromWire(wire) }
  } catch (cause) {
    throw corruptError(snapKey(run, stream), cause)
  }
}

function identity(stateBytes: Uint8Array): CallIdentity {
  return { kind: KIND, name: KIND, argsHash: fingerprint(stateBytes), site: '' }
}

/** What every replica does once the snapshot slot is settled: the stream's own state starts from the record. */
function adopt(stream: StreamState, value: unknown): void {
  const time = (value as { time?: unknown } | null)?.time
  restartTime(stream, typeof time === 'number' ? time : -Infinity)
  restartRandom(stream)
}

/** rep.snapshot(state): record `state` at the stream's next slot; resolves with that slot once the snapshot is stored. */
export async function takeSnapshot(engine: Engine, stream: StreamState, state: unknown): Promise<number> {
  engine.assertOpen()
  if (stream.log.pending > 0) {
    throw badArgument(
      `snapshot() on stream '${stream.name}' while ${stream.log.pending} call(s) on it are pending: await them first ` +
        `(a snapshot stands for every slot before it, and a replica restored from it never sees those calls' values)`,
    )
  }
  const stateBytes = encodeState(engine.codec, state)
  const ident = identity(stateBytes)
  const time = agreedTime(stream)
  const rec = await engine.slot(stream, ident, (slot) =>
    engine.propose(stream, slot, ident, { ok: true, value: { time: Number.isFinite(time) ? time : null } }),
  )
  adopt(stream, rec.value)
  const at = engine.place(stream.name, rec.slot!)
  const bytes = encodeSnapshot(engine.codec, at, state)
  await engine.retryingStore.writeSnapshot(at, bytes)
  return at.slot
}

/** The latest snapshot of a stream, decoded, or undefined. */
async function latest(engine: Engine, stream: string): Promise<DecodedSnapshot | undefined> {
  const bytes = await engine.retryingStore.readSnapshot(engine.run, stream)
  return bytes && decodeSnapshot(engine.codec, bytes, engine.run, stream)
}

function notFresh(stream: StreamState): RepJSError {
  return badArgument(`restore() on stream '${stream.name}' after a call took its slot ${stream.log.next - 1}: call restore() before the stream's first call`)
}

/**
 * rep.restore(): the latest snapshot's state (undefined if there is none), with the stream
 * positioned right after its slot. Only before the stream's first call.
 */
export async function restore(engine: Engine, stream: StreamState): Promise<unknown> {
  engine.assertOpen()
  if (stream.log.next !== 0) throw notFresh(stream)
  const snap = await latest(engine, stream.name)
  if (!snap) return undefined
  if (stream.log.next !== 0) throw notFresh(stream)
  checked.add(stream)
  stream.log.restart(snap.slot)
  // Settle the snapshot slot itself: the record's hash must be the restored state's.
  const rec = await engine.slot(stream, identity(encodeState(engine.codec, snap.state)), () => {
    throw new RepJSError(ErrorCodes.CORRUPT, `the snapshot at ${snapKey(engine.run, stream.name)} names slot ${snap.slot}, which holds no record: it was not written by RepJS`)
  })
  adopt(stream, rec.value)
  return snap.state
}

/** rep.collect(): delete the stream's slots below its latest snapshot. */
export async function collect(engine: Engine, stream: StreamState): Promise<{ below: number; deleted: number }> {
  engine.assertOpen()
  const snap = await latest(engine, stream.name)
  if (!snap) return { below: 0, deleted: 0 }
  const deleted = await engine.retryingStore.collect(engine.place(stream.name, snap.slot))
  return { below: snap.slot, deleted }
}

/** Streams whose snapshot was read since they began (restored, or checked before a first proposal). */
const checked = new WeakSet<StreamState>()
/** The latest snapshot as read when the stream opened, for its first check (see readSnapshotEarly). */
const early = new WeakMap<StreamState, Promise<DecodedSnapshot | undefined>>()

/**
 * When a stream opens: read its latest snapshot now, alongside the log's first page, so that the
 * check before its first proposal (assertNotCollected) needs no round trip of its own. Reading it
 * earlier is as safe as just before proposing: EtcdStore.propose compares the snapshot key too, so
 * no write lands below a snapshot taken after either read.
 */
export function readSnapshotEarly(engine: Engine, stream: StreamState): void {
  const read = latest(engine, stream.name)
  read.catch(() => {}) // awaited (or read again) by the first check; a stream never proposed on drops it
  early.set(stream, read)
}

/**
 * Before proposing at `slot`: if the slot was collected (it is below the latest snapshot), fail
 * with REPJS_COLLECTED instead of writing into history. Asked before the stream's first proposal
 * (a late joiner through a gateway sees no later slot: they are held back behind the missing
 * ones) and whenever later slots are known to be decided (a replica that fell behind a snapshot
 * taken and collected meanwhile); otherwise a proposal costs no read.
 */
export function assertNotCollected(engine: Engine, stream: StreamState, slot: number): Promise<void> | undefined {
  // Nothing to read (the common case): no promise.
  if (stream.log.head <= slot && checked.has(stream)) return undefined
  return readLatest(engine, stream, slot)
}

async function readLatest(engine: Engine, stream: StreamState, slot: number): Promise<void> {
  // The early read serves the stream's first check only: a later one (later slots known decided)
  // must see a snapshot taken since, so it reads again. A failed early read is read again too.
  const pre = checked.has(stream) ? undefined : early.get(stream)
  early.delete(stream)
  checked.add(stream)
  const snap = await (pre ? pre.catch(() => latest(engine, stream.name)) : latest(engine, stream.name))
  if (!snap || snap.slot <= slot) return
  throw collectedError(stream.name, slot, snap.slot)
}

/** REPJS_COLLECTED: `slot` of `stream` is below the latest snapshot, at `snapshot`. */
export function collectedError(stream: string, slot: number, snapshot: number): RepJSError {
  return new RepJSError(
    ErrorCodes.COLLECTED,
    `slots < ${snapshot} of stream '${stream}' were collected after a snapshot, and this replica needs slot ${slot}: ` +
      `call rep.restore() (or stream.restore()) before the stream's first call, so it starts from the snapshot instead of replaying from 0.`,
    { details: { stream, slot, snapshot } },
  )
}
