/**
 * etcd3 (and grpc-js under it) loaded on first use only: importing it costs ~250 ms in a fresh
 * process, and a replica on plaintext endpoints never needs it (the lean transport does its calls,
 * watches and leases). `etcd3()` loads it synchronously (createRequire); `loadedEtcd3()` answers
 * the module only if something already loaded it (the error table reads etcd3's classes then).
 */
import { createRequire } from 'node:module'

type Etcd3Module = typeof import('etcd3')

const req = createRequire(import.meta.url)
let path: string | null | undefined

/** etcd3's module, loading it now if needed. */
export function etcd3(): Etcd3Module {
  return req('etcd3') as Etcd3Module
}

/** etcd3's module if it was loaded (by `etcd3()`, or an import anywhere in the process), else undefined. */
export function loadedEtcd3(): Etcd3Module | undefined {
  if (path === undefined) {
    try {
      path = req.resolve('etcd3')
    } catch {
      path = null
    }
  }
  return path ? (req.cache[path]?.exports as Etcd3Module | undefined) : undefined
}
