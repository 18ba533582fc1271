/**
 * The Store `repjs replay` runs a script against: the recorded log of a run, read only. Following a
 * stream reads the log as usual; a call whose slot is decided gets the recorded record (from the
 * prefetched log, or here: propose, vote and acquire return the stored record without writing);
 * a slot that is not decided is the end of the recorded log: REPJS_LOG_END, naming the slot and,
 * for a proposal, the call the script asked for there. Nothing is ever written: no record, vote,
 * lock, or run record (opening a run that does not exist is REPJS_UNKNOWN_RUN).
 */
import type { Codec } from '../../core/codec.js'
import { ErrorCodes, RepJSError, type CallIdentity } from '../../core/errors.js'
import { decodeRecord } from '../../core/record.js'
import type { AcquireResult, FollowHandlers, ProposeResult, SlotRef, Store } from '../../core/store.js'
import { etcdCall } from '../store/etcd-errors.js'
import type { EtcdStore } from '../store/etcd-store.js'
import { slotKey } from '../store/keys.js'
import { readRunRecord } from '../store/run-streams.js'

export class ReplayStore implements Store {
  constructor(
    private readonly etcd: EtcdStore,
    private readonly codec: Codec,
    private readonly endpoints: string[],
  ) {}

  async openRun(run: string): Promise<{ meta: Uint8Array; created: boolean }> {
    return { meta: await readRunRecord(this.etcd, run, this.endpoints), created: false }
  }

  /** The recorded record of a slot, or REPJS_LOG_END (`record`: what the script would have proposed). */
  private async recorded(ref: SlotRef, record?: Uint8Array): Promise<Uint8Array> {
    const stored = await etcdCall('reading a slot', () => this.etcd.client.get(slotKey(ref.run, ref.stream, ref.slot)).buffer())
    if (stored) return new Uint8Array(stored)
    let asked: CallIdentity | undefined
    if (record) {
      const r = decodeRecord(this.codec, record, ref)
      asked = { kind: r.kind, name: r.name, argsHash: r.argsHash, site: r.site }
    }
    throw new RepJSError(
      ErrorCodes.LOG_END,
      `the replay reached the end of the recorded log: stream '${ref.stream}' slot ${ref.slot} is not decided` +
        (asked ? ` (the script asked for ${asked.kind} '${asked.name}' at ${asked.site || 'an unknown site'})` : ''),
      { details: { stream: ref.stream, slot: ref.slot, asked } },
    )
  }

  async propose(ref: SlotRef, record: Uint8Array): Promise<ProposeResult> {
    return { won: false, record: await this.recorded(ref, record) }
  }

  follow(run: string, stream: string, fromSlot: number, handlers: FollowHandlers): () => void {
    return this.etcd.follow(run, stream, fromSlot, handlers)
  }

  headSlot(run: string, stream: string): Promise<number> {
    return this.etcd.headSlot(run, stream)
  }

  vote(ref: SlotRef): Promise<Uint8Array> {
    return this.recorded(ref)
  }

  /** Never reached: vote() returns the recorded record or ends the replay. */
  awaitVotes(ref: SlotRef): Promise<Uint8Array[]> {
    return this.recorded(ref).then(() => {
      throw new RepJSError(ErrorCodes.STORE, `a replay does not wait for votes (stream '${ref.stream}' slot ${ref.slot} is decided)`)
    })
  }

  /** A run-once call is never run again: its recorded outcome is returned. */
  async acquire(ref: SlotRef): Promise<AcquireResult> {
    return { state: 'decided', record: await this.recorded(ref) }
  }

  /** Scripts under `repjs run` take no snapshots; a library replica's restore() reads the recorded one. */
  readSnapshot(run: string, stream: string): Promise<Uint8Array | undefined> {
    return this.etcd.readSnapshot(run, stream)
  }

  writeSnapshot(ref: SlotRef): Promise<Uint8Array> {
    return Promise.reject(readOnly('store a snapshot', ref))
  }

  collect(ref: SlotRef): Promise<number> {
    return Promise.reject(readOnly('collect slots', ref))
  }

  close(): Promise<void> {
    return this.etcd.close()
  }
}

function readOnly(what: string, ref: SlotRef): RepJSError {
  return new RepJSError(ErrorCodes.BAD_ARGUMENT, `a replay writes nothing: it cannot ${what} (stream '${ref.stream}' slot ${ref.slot})`, { details: { ...ref } })
}
