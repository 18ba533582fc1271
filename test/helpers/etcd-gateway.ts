/** For one test file: a real etcd, an in-process gateway on it, and an admin EtcdStore, started before its tests and stopped after them. */
import { pino } from 'pino'
import { afterAll, beforeAll } from 'vitest'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { createEtcdStore } from '../../node-gateway/index.js'
import type { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { startCluster, type Cluster } from './etcd.js'

export interface EtcdAndGateway {
  readonly etcd: Cluster
  readonly gw: Gateway
  readonly admin: EtcdStore
}

export function useEtcdAndGateway(opts: { secret?: string } = {}): EtcdAndGateway {
  let etcd: Cluster | undefined
  let gw: Gateway | undefined
  let admin: EtcdStore | undefined
  beforeAll(async () => {
    etcd = await startCluster(1)
    gw = await startGateway({ etcd: etcd.endpoint, secret: opts.secret, logger: pino({ level: 'silent' }) })
    admin = createEtcdStore({ endpoints: etcd.endpoint })
  })
  afterAll(async () => {
    await admin?.close()
    await gw?.close()
    await etcd?.stop()
  })
  const started = <T>(x: T | undefined): T => {
    if (x === undefined) throw new Error('useEtcdAndGateway(): started in beforeAll; use it inside tests')
    return x
  }
  return {
    get etcd() {
      return started(etcd)
    },
    get gw() {
      return started(gw)
    },
    get admin() {
      return started(admin)
    },
  }
}
