/**
 * A run as `repjs inspect` and `repjs replay` open it: its run record (REPJS_UNKNOWN_RUN if there
 * is none) and the names of its streams (those with a decided slot), read without reading the log.
 */
import type { Codec } from '../../core/codec.js'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { decodeMeta, type RunMeta } from '../../core/record.js'
import { etcdCall } from './etcd-errors.js'
import type { EtcdStore } from './etcd-store.js'
import { metaKey, prefixEnd, runPrefix, slotPrefix } from './keys.js'

/** The stored run record of `run` (bytes); REPJS_UNKNOWN_RUN if the run does not exist on this etcd. */
export async function readRunRecord(store: EtcdStore, run: string, endpoints: string[]): Promise<Uint8Array> {
  const meta = await etcdCall('reading the run record', () => store.client.get(metaKey(run)).buffer())
  if (!meta) {
    throw new RepJSError(ErrorCodes.UNKNOWN_RUN, `run '${run}' does not exist on ${endpoints.join(',')}: check the run id and --etcd (repjs runs lists the runs)`, {
      details: { run },
    })
  }
  return new Uint8Array(meta)
}

/** The run record of `run`, decoded; REPJS_UNKNOWN_RUN if the run does not exist on this etcd. */
export async function readRun(store: EtcdStore, codec: Codec, run: string, endpoints: string[]): Promise<RunMeta> {
  return decodeMeta(codec, await readRunRecord(store, run, endpoints), run)
}

/**
 * The names of the run's streams, 'main' first, then by name: one key-only read of one key per
 * stream (skipping over each stream's slots), however long the log.
 */
export async function runStreams(store: EtcdStore, run: string): Promise<string[]> {
  const root = `${runPrefix(run)}s/`
  const end = prefixEnd(root)
  const names: string[] = []
  let from: Buffer = Buffer.from(root)
  for (;;) {
    const res = await etcdCall("listing the run's streams", () => store.client.kv.range({ key: from, range_end: end, limit: 1, keys_only: true }))
    const key = res.kvs[0]?.key.toString()
    if (!key) break
    const name = key.slice(root.length, key.indexOf('/', root.length))
    names.push(name)
    from = prefixEnd(slotPrefix(run, name))
  }
  return names.sort((a, b) => (a === 'main' ? -1 : b === 'main' ? 1 : a < b ? -1 : a > b ? 1 : 0))
}
