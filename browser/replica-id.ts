/**
 * A tab's replica id in a run: kept in IndexedDB so a reload keeps it, never shared by two open
 * tabs. Tabs of one browser share IndexedDB, so one stored id per run would give every tab the
 * same id (two tabs voting or typing as one replica). Instead the browser keeps the ids it used in
 * a run (`['replicas', run]`), and a tab takes the first one no other open tab holds, holding it
 * with a Web Lock until the replica closes or the page goes away. The tab prefers the id it had
 * before (sessionStorage, which survives a reload), so a reloaded tab gets its own id back.
 * Without Web Locks (an insecure http: page) the id lives in sessionStorage only.
 */
import { promisifyRequest, type UseStore } from 'idb-keyval'

const KEEP = 32

export interface ClaimedId {
  id: string
  release(): void
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('')
}

function session(): Storage | undefined {
  try {
    return typeof sessionStorage === 'undefined' ? undefined : sessionStorage
  } catch {
    return undefined // storage blocked (sandboxed iframe, some privacy modes)
  }
}

/**
 * Take the Web Lock `name` if no one holds it (or it is freed within `waitMs`); resolves to its
 * release function, or undefined.
 */
function tryLock(name: string, waitMs = 0): Promise<(() => void) | undefined> {
  const opts: LockOptions = waitMs > 0 ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true }
  return new Promise((resolve) => {
    navigator.locks
      .request(name, opts, (lock) => {
        if (!lock) return resolve(undefined)
        return new Promise<void>((release) => resolve(() => release()))
      })
      .catch(() => resolve(undefined))
  })
}

async function knownIds(store: UseStore, run: string): Promise<string[]> {
  const ids = await store('readonly', (os) => promisifyRequest(os.get(['replicas', run])))
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : []
}

async function remember(store: UseStore, run: string, id: string): Promise<void> {
  await store('readwrite', (os) => {
    const req = os.get(['replicas', run])
    req.onsuccess = () => {
      const ids = Array.isArray(req.result) ? (req.result as string[]).filter((x) => x !== id) : []
      os.put([...ids, id].slice(-KEEP), ['replicas', run])
    }
    return promisifyRequest(os.transaction)
  })
}

export async function claimReplicaId(run: string, store: UseStore | undefined): Promise<ClaimedId> {
  const ss = session()
  const sessionKey = `repjs:replica:${run}`
  const previous = ss?.getItem(sessionKey) ?? undefined
  const keep = (id: string) => ss?.setItem(sessionKey, id)
  const locks = typeof navigator !== 'undefined' && navigator.locks && typeof navigator.locks.request === 'function'
  if (!locks || !store) {
    const id = previous ?? randomId()
    keep(id)
    return { id, release: () => {} }
  }
  let known: string[] = []
  try {
    known = await knownIds(store, run)
  } catch {
    // IndexedDB unavailable: the tab still gets a unique id, only not one a reload finds again
  }
  const candidates = [...new Set([previous, ...known].filter((x): x is string => typeof x === 'string' && x.length > 0))]
  for (const id of candidates) {
    // This tab's own id from before a reload may still be held for a moment by the old page.
    const release = await tryLock(`repjs:${run}:${id}`, id === previous ? 1000 : 0)
    if (!release) continue
    keep(id)
    if (!known.includes(id)) await remember(store, run, id).catch(() => {})
    return { id, release }
  }
  for (;;) {
    const id = randomId()
    const release = await tryLock(`repjs:${run}:${id}`)
    if (!release) continue
    keep(id)
    await remember(store, run, id).catch(() => {})
    return { id, release }
  }
}
