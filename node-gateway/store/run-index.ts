/**
 * Listing runs (`repjs runs`, the gateway's dashboard): every run with an index entry
 * (/repjs/runs/v1/<run>, run-entry.ts), live or gone, with what its keys hold now.
 *
 * Cost: one paged read of the index, then one paged read of each run's whole prefix (to count slots
 * per stream and sum the bytes): an operator's command, not something to poll on a store holding
 * long runs. `detail: 'light'` (the dashboard) reads no log: count-only reads per stream and the
 * presence keys, with `bytes` null. `opts.runs` limits the listing to some runs.
 *
 * lastActivity: the newest of the index entry's `active` stamp (set when the run is created or
 * indexed; an open that joins does not write) and the `at` of every presence key under the run
 * (`p/<replica>`, lease-bound, refreshed by live replicas at most once a second): while a replica is
 * present this is within seconds of now; after the last one left, the time it was last seen.
 */
import type { IRangeRequest } from 'etcd3'
import { fromWire, Tagged } from '../../core/codec.js'
import { createCborFormat } from '../../core/cbor-format.js'
import type { EtcdStore } from './etcd-store.js'
import { etcdCall } from './etcd-errors.js'
import { metaKey, prefixEnd, presencePrefix, RUNS_ROOT, runPrefix, slotOf, slotPrefix } from './keys.js'
import { runStreams } from './run-streams.js'
import { decodeRunEntry } from './run-entry.js'

export interface RunSummary {
  run: string
  program: string
  incarnation: string
  /** When this incarnation was created (ms). */
  created: number
  /** Newest activity seen (ms), see the header; null if none is known. */
  lastActivity: number | null
  /** Idle time after which the run expires (ms), or null if it does not. */
  ttlMs: number | null
  /** Deleted or expired: only its index entry (the tombstone) is left, or it is being deleted. */
  gone: boolean
  /** Replicas present (keys under p/). */
  present: number
  /** Decided slots per stream. */
  streams: Record<string, number>
  /** Bytes of keys and values under the run's prefix (null in a light listing, which does not read them). */
  bytes: number | null
}

export interface ListRunsOptions {
  /** Only these runs. */
  runs?: string[]
  /**
   * 'full' (default): read each run's whole prefix, to sum its bytes (`repjs runs`). 'light': count
   * slots per stream (count-only reads) and read the presence keys, not the log: what a page polled
   * every few seconds can afford on a store holding long runs; `bytes` is null.
   */
  detail?: 'full' | 'light'
}

const format = createCborFormat()
const PAGE = 1000

type Kv = { key: Buffer; value: Buffer }

/** Every key and value under `prefix`, page by page, pinned at one revision. */
export async function scanPrefix(store: EtcdStore, prefix: string, each: (kv: Kv) => void): Promise<void> {
  const end = prefixEnd(prefix)
  let key = Buffer.from(prefix)
  let revision: string | undefined
  for (;;) {
    const req: IRangeRequest = { key, range_end: end, limit: PAGE, revision }
    const page = await etcdCall('listing keys', () => store.transport.rangePage(req))
    revision ??= page.revision
    for (const kv of page.kvs) each(kv)
    const last = page.kvs[page.kvs.length - 1]
    if (!page.more || !last) return
    key = Buffer.concat([last.key, Buffer.from([0])])
  }
}

/** The `at` (ms) of a presence value (a CBOR map, plain or as core's codec writes objects), or null. */
function presenceAt(value: Buffer): number | null {
  let tree: unknown
  try {
    tree = format.decode(value)
  } catch {
    return null
  }
  const obj = tree instanceof Tagged ? fromWire(tree) : tree instanceof Map ? Object.fromEntries(tree) : tree
  const at = (obj as { at?: unknown } | null)?.at
  return typeof at === 'number' && Number.isFinite(at) ? at : null
}

/** What a light listing reads of one run: its run record, its streams' slot counts (count-only) and its presence keys. */
async function readLight(store: EtcdStore, run: string, s: RunSummary): Promise<boolean> {
  const live = await etcdCall('reading the run record', () => store.client.get(metaKey(run)).buffer())
  for (const stream of await runStreams(store, run)) {
    const prefix = slotPrefix(run, stream)
    const res = await etcdCall('counting slots', () => store.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), count_only: true }))
    s.streams[stream] = Number(res.count)
  }
  await scanPrefix(store, presencePrefix(run), ({ value }) => seen(s, value))
  return live !== null
}

/** A presence key counted, and its `at` taken as activity. */
function seen(s: RunSummary, value: Buffer): void {
  s.present++
  const at = presenceAt(value)
  if (at !== null && at > (s.lastActivity ?? 0)) s.lastActivity = at
}

/** The runs with an index entry (all, or those named in `opts.runs`), sorted by run id. */
export async function listRuns(store: EtcdStore, opts: ListRunsOptions = {}): Promise<RunSummary[]> {
  const entries: [string, Buffer][] = []
  if (opts.runs) {
    for (const run of opts.runs) await scanPrefix(store, RUNS_ROOT + run, (kv) => kv.key.length === RUNS_ROOT.length + run.length && entries.push([run, kv.value]))
  } else {
    await scanPrefix(store, RUNS_ROOT, (kv) => entries.push([kv.key.toString().slice(RUNS_ROOT.length), kv.value]))
  }
  const out: RunSummary[] = []
  for (const [run, value] of entries) {
    const e = decodeRunEntry(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), run)
    const prefix = runPrefix(run)
    const s: RunSummary = {
      run, program: e.program, incarnation: e.incarnation, created: e.created, lastActivity: e.active, ttlMs: e.ttlMs,
      gone: e.gone !== null, present: 0, streams: {}, bytes: opts.detail === 'light' ? null : 0,
    }
    if (opts.detail === 'light') {
      if (!(await readLight(store, run, s))) s.gone = true
      out.push(s)
      continue
    }
    let live = false
    let bytes = 0
    await scanPrefix(store, prefix, ({ key, value }) => {
      bytes += key.length + value.length
      const rest = key.toString().slice(prefix.length)
      if (rest === 'meta') live = true
      else if (rest.startsWith('s/') && slotOf(rest) >= 0) {
        const stream = rest.slice(2, rest.lastIndexOf('/'))
        s.streams[stream] = (s.streams[stream] ?? 0) + 1
      } else if (rest.startsWith('p/')) {
        seen(s, value)
      }
    })
    s.bytes = bytes
    if (!live) s.gone = true
    out.push(s)
  }
  return out.sort((a, b) => (a.run < b.run ? -1 : a.run > b.run ? 1 : 0))
}
