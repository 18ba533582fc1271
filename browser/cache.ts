/**
 * A browser tab's copy of a run's decided slots, in IndexedDB (idb-keyval), for core's cache hook
 * (`ReplicaOptions.cache`). A reloaded tab restores its log from here at once and asks the gateway
 * only for the tail.
 *
 * Layout, in one object store (default `createStore('repjs', 'slots')`):
 *   ['slots', incarnation, stream, block]  → Array<Uint8Array | null>, slots block*256 .. block*256+255
 *   ['run', run]                           → the run's current incarnation (older ones are deleted)
 *   ['replicas', run]                      → replica ids this browser used in the run (see connect.ts)
 * Keys carry the run's incarnation id, so a removed run and a new one of the same name never mix.
 * Saves are batched: every save in one task is written in one readwrite transaction (a microtask
 * flush), each touched block merged with what is stored, so tabs of one browser sharing the store
 * only ever add agreed records (every replica holds the same bytes for a decided slot).
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval'
import type { StreamCache } from '../core/stream-log.js'

export const BLOCK_SLOTS = 256

type Block = Array<Uint8Array | null>
type BlockKey = [string, string, string, number]

let defaultStore: UseStore | undefined
/** The store RepJS uses unless given another: database 'repjs', object store 'slots'. */
export function repjsStore(): UseStore {
  return (defaultStore ??= createStore('repjs', 'slots'))
}

/** core's cache hook with a `flush()` that resolves when every save so far is in IndexedDB. */
export interface IdbCacheHook {
  (incarnation: string): (stream: string) => StreamCache
  flush(): Promise<void>
}

export interface IdbCacheOptions {
  /** An idb-keyval store (default `repjsStore()`). */
  store?: UseStore
  /** The run's id: lets the cache delete blocks of the run's earlier incarnations. */
  run?: string
}

const blockKey = (incarnation: string, stream: string, block: number): BlockKey => ['slots', incarnation, stream, block]

/** Batches saves per store: one readwrite transaction per task, blocks merged with what is stored. */
class Writer {
  private dirty = new Map<string, { key: BlockKey; records: Map<number, Uint8Array> }>()
  private scheduled = false
  private chain: Promise<void> = Promise.resolve()

  constructor(private readonly store: UseStore) {}

  save(incarnation: string, stream: string, slot: number, record: Uint8Array): void {
    const block = Math.floor(slot / BLOCK_SLOTS)
    const id = `${incarnation}\u0000${stream}\u0000${block}`
    let d = this.dirty.get(id)
    if (!d) this.dirty.set(id, (d = { key: blockKey(incarnation, stream, block), records: new Map() }))
    // A view into a larger buffer would be stored with all of it (structured clone): keep only its bytes.
    const own = record.byteOffset === 0 && record.byteLength === record.buffer.byteLength ? record : record.slice()
    d.records.set(slot % BLOCK_SLOTS, own)
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      void this.flush()
    })
  }

  /** Write what is dirty now; resolves when it and every earlier write are done (never rejects). */
  flush(): Promise<void> {
    const batch = [...this.dirty.values()]
    this.dirty.clear()
    if (batch.length > 0) {
      this.chain = this.chain.then(() =>
        this.store('readwrite', (os) => {
          for (const { key, records } of batch) {
            const req = os.get(key)
            req.onsuccess = () => {
              const old = req.result as Block | undefined
              const block: Block = Array.isArray(old) ? old : []
              for (const [i, rec] of records) block[i] = rec
              for (let i = 0; i < block.length; i++) block[i] ??= null
              os.put(block, key)
            }
          }
          return promisifyRequest(os.transaction)
        }).then(
          () => {},
          (err) => console.warn('repjs: could not save decided slots in IndexedDB (the tab will fetch them again after a reload)', err),
        ),
      )
    }
    return this.chain
  }
}

const writers = new WeakMap<UseStore, Writer>()

/** Every decided record of one stream stored here, for consecutive slots from 0. */
async function load(store: UseStore, incarnation: string, stream: string): Promise<Uint8Array[]> {
  const range = IDBKeyRange.bound(blockKey(incarnation, stream, 0), blockKey(incarnation, stream, Infinity))
  const [keys, blocks] = await store('readonly', (os) => Promise.all([promisifyRequest(os.getAllKeys(range)), promisifyRequest(os.getAll(range))]))
  const out: Uint8Array[] = []
  for (let i = 0; i < keys.length; i++) {
    const block = (keys[i] as BlockKey)[3]
    if (block !== out.length / BLOCK_SLOTS) break // a missing block: stop at the gap
    const recs = blocks[i] as Block
    for (let j = 0; j < BLOCK_SLOTS; j++) {
      const r = recs[j]
      if (!(r instanceof Uint8Array)) return out
      out.push(r)
    }
  }
  return out
}

/** Delete the blocks of the run's earlier incarnations and remember the current one. */
async function adopt(store: UseStore, run: string, incarnation: string): Promise<void> {
  await store('readwrite', (os) => {
    const req = os.get(['run', run])
    req.onsuccess = () => {
      const old = req.result as string | undefined
      if (old === incarnation) return
      if (typeof old === 'string') os.delete(IDBKeyRange.bound(['slots', old], ['slots', old, []]))
      os.put(incarnation, ['run', run])
    }
    return promisifyRequest(os.transaction)
  })
}

/**
 * core's cache hook backed by IndexedDB:
 *   createReplica({ ..., cache: idbCache({ run }) })
 * `connect()` in this folder uses it unless `cache: false`.
 */
export function idbCache(opts: IdbCacheOptions = {}): IdbCacheHook {
  const store = opts.store ?? repjsStore()
  let writer = writers.get(store)
  if (!writer) writers.set(store, (writer = new Writer(store)))
  const w = writer
  const hook = ((incarnation: string) => {
    const adopted = opts.run ? adopt(store, opts.run, incarnation).catch(() => {}) : Promise.resolve()
    return (stream: string): StreamCache => ({
      load: () => adopted.then(() => load(store, incarnation, stream)),
      save: (slot, record) => w.save(incarnation, stream, slot, record),
    })
  }) as IdbCacheHook
  hook.flush = () => w.flush()
  return hook
}
