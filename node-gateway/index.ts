/**
 * RepJS for Node: `connect()` joins a run through etcd directly (or through gateways).
 *
 *   import { connect } from 'repjs'
 *   const rep = await connect({ run: 'orders-7', etcd: 'http://127.0.0.1:2379' })
 */
export * from '../core/index.js'
export { connect, type ConnectOptions } from './connect.js'
export { createEtcdStore, EtcdStore } from './store/etcd-store.js'
export type { EtcdStoreOptions } from './store/etcd-store.js'
export { createCborFormat } from '../core/cbor-format.js'
export { listRuns, type RunSummary } from './store/run-index.js'
export { deleteRun, type DeleteRunOptions, type DeleteRunResult } from './store/run-delete.js'
export { attachTerminal, type TerminalOptions } from './input/terminal.js'
