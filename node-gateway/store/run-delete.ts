/**
 * Deleting a run (`repjs runs rm R`): every key under /repjs/v1/<R>/ goes, and the index entry
 * stays as the tombstone with `gone` set, so a replica that joins later gets REPJS_RUN_GONE instead
 * of silently starting the run again. A replica still in the run gets REPJS_RUN_GONE on its next
 * write (every write compares the run record's create revision).
 *
 * Up to `batch` keys: one Txn (delete the prefix, mark the entry). More: the entry is marked gone
 * first (nobody joins or re-creates the run meanwhile), then the keys are deleted `batch` at a time
 * with progress, then the prefix and the mark once more in one Txn. Interrupted, it can be run again.
 */
import type { ICompare } from 'etcd3'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import type { EtcdStore } from './etcd-store.js'
import { metaKey, prefixEnd, runIndexKey, runPrefix } from './keys.js'
import { decodeRunEntry, encodeRunEntry, type RunEntry } from './run-entry.js'
import { etcdCall } from './etcd-errors.js'
import { createCodec } from '../../core/codec.js'
import { decodeMeta } from '../../core/record.js'
import { createCborFormat } from '../../core/cbor-format.js'

export interface DeleteRunOptions {
  /** Delete even with replicas present (keys under p/): they fail with REPJS_RUN_GONE on their next call. */
  force?: boolean
  /** Keys deleted per Txn above which the deletion is done in batches (default 10 000). */
  batch?: number
  /** Progress of a batched deletion. */
  onProgress?(deleted: number, total: number): void
}

export interface DeleteRunResult {
  /** Keys deleted under the run's prefix. */
  deleted: number
  /** Whether the run record was there (false: it had expired or was deleted already). */
  existed: boolean
}

const codec = createCodec(createCborFormat())
const b = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s)
const u8 = (v: Buffer) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength)

function recreated(run: string): RepJSError {
  return new RepJSError(ErrorCodes.RUN_CHANGED, `run '${run}' was created again (or deleted by someone else) while it was being deleted: nothing more was deleted; list it (repjs runs) and delete it again if that is what you want`, { details: { run } })
}

export async function deleteRun(store: EtcdStore, run: string, opts: DeleteRunOptions = {}): Promise<DeleteRunResult> {
  const batch = opts.batch ?? 10_000
  const prefix = runPrefix(run)
  const kv = store.client.kv
  const count = async (p: string) => Number((await etcdCall('counting keys', () => kv.range({ key: b(p), range_end: prefixEnd(p), count_only: true }))).count)
  const read = await etcdCall('reading the run', () =>
    kv.txn({ compare: [], success: [{ request_range: { key: b(metaKey(run)) } }, { request_range: { key: b(runIndexKey(run)) } }], failure: [] }),
  )
  const [metaKv, indexKv] = read.responses.map((r) => r.response_range.kvs[0])
  const total = await count(prefix)
  if (!metaKv && !indexKv && total === 0) {
    throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `run '${run}' does not exist (no run record, no index entry, no keys): check the run id (repjs runs lists them)`, { details: { run } })
  }
  const present = await count(`${prefix}p/`)
  if (present > 0 && !opts.force) {
    throw new RepJSError(
      ErrorCodes.BAD_ARGUMENT,
      `run '${run}' has ${present} replica(s) present: stop them first, or pass --force (they then stop with REPJS_RUN_GONE on their next call)`,
      { details: { run, present } },
    )
  }
  let entry: RunEntry
  if (indexKv) entry = decodeRunEntry(u8(indexKv.value), run)
  else {
    // A run from before the index: its tombstone is made from its run record.
    const m = metaKv ? decodeMeta(codec, u8(metaKv.value), run) : { program: '', incarnation: '' }
    entry = { v: 1, incarnation: m.incarnation, program: m.program, created: Date.now(), ttlMs: null, lease: null, gone: null, active: Date.now() }
  }
  const tombstone = encodeRunEntry({ ...entry, gone: entry.gone ?? Date.now() })
  const mark = { request_put: { key: b(runIndexKey(run)), value: Buffer.from(tombstone) } }
  const wipe = { request_delete_range: { key: b(prefix), range_end: prefixEnd(prefix) } }
  // The index entry as read (or absent): the final Txn deletes nothing if the run was created again meanwhile.
  const ik = b(runIndexKey(run))
  let asRead: ICompare = indexKv
    ? { key: ik, target: 'Mod', result: 'Equal', mod_revision: indexKv.mod_revision }
    : { key: ik, target: 'Create', result: 'Equal', create_revision: 0 }
  if (total > batch) {
    const marked = await etcdCall('marking the run gone', () => kv.txn({ compare: [asRead], success: [mark], failure: [] }))
    if (!marked.succeeded) throw recreated(run)
    asRead = { key: ik, target: 'Mod', result: 'Equal', mod_revision: marked.header.revision }
    let deleted = 0
    for (;;) {
      // From the last key down: the run record ('meta') goes near the end, so the run stays
      // visibly there (and refused to joiners, being marked) until it is all but deleted.
      const page = await etcdCall('listing keys to delete', () =>
        kv.range({ key: b(prefix), range_end: prefixEnd(prefix), limit: batch, keys_only: true, sort_target: 'Key', sort_order: 'Descend' }),
      )
      const lowest = page.kvs[page.kvs.length - 1]
      if (!lowest) break
      const res = await etcdCall('deleting keys', () =>
        kv.txn({ compare: [asRead], success: [{ request_delete_range: { key: lowest.key, range_end: prefixEnd(prefix) } }], failure: [] }),
      )
      if (!res.succeeded) throw recreated(run)
      deleted += Number(res.responses[0]!.response_delete_range.deleted)
      opts.onProgress?.(Math.min(deleted, total), total)
      if (!page.more) break
    }
  }
  const res = await etcdCall('deleting the run', () => kv.txn({ compare: [asRead], success: [wipe, mark], failure: [] }))
  if (!res.succeeded) throw recreated(run)
  // The run's lease, if it had one, holds nothing any more: revoke it so keepers stop at once.
  if (entry.lease) await store.client.leaseClient.leaseRevoke({ ID: entry.lease }).catch(() => {})
  return { deleted: total > batch ? total : Number(res.responses[0]!.response_delete_range.deleted), existed: metaKv !== undefined }
}
