/**
 * RepJS in the browser (and Electron renderers): `connect()` joins a run through a RepJS gateway,
 * with the same Replica API as in Node; decided slots and the replica id are kept in IndexedDB.
 * The `<repjs-prompt>` element is a separate entry: import 'repjs/browser/prompt'.
 * `runInWorker()` runs a plain script in a Web Worker as a replica, like `repjs run` in Node.
 */
export * from '../core/index.js'
export { connect, type BrowserConnectOptions } from './connect.js'
export { idbCache, repjsStore, BLOCK_SLOTS, type IdbCacheHook, type IdbCacheOptions } from './cache.js'
export { createCborFormat } from '../core/cbor-format.js'
export type { RepJSPrompt } from './prompt-element.js'
export { runInWorker, NOT_ISOLATED, EXIT_STOPPED, EXIT_TERMINATED, type RunInWorkerOptions, type WorkerRun, type WorkerOutput, type WorkerExit } from './run-in-worker.js'
