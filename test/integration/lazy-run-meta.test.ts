// openRun takes the run record lazily: made (once) only when the run is created, so a replica that
// joins skips its cost (the machine zone's Intl start-up). Over a gateway it always goes with the hello.
import { expect, test } from 'vitest'
import { GatewayStore } from '../../core/gateway-store.js'
import { createEtcdStore } from '../../node-gateway/store/etcd-store.js'
import { uniqueRun } from '../helpers/etcd.js'
import { useEtcdAndGateway } from '../helpers/etcd-gateway.js'
import { runMeta } from '../helpers/raw-gateway.js'

const env = useEtcdAndGateway()

test('a direct store makes the run record only to create the run; a joiner never calls it', async () => {
  const run = uniqueRun()
  const a = createEtcdStore({ endpoints: env.etcd.endpoint })
  const b = createEtcdStore({ endpoints: env.etcd.endpoint })
  try {
    const meta = runMeta('creator')
    let made = 0
    const opened = await a.openRun(run, () => (made++, meta))
    expect(opened.created).toBe(true)
    expect(made).toBe(1)
    expect(new Uint8Array(opened.meta)).toEqual(new Uint8Array(meta))
    const joined = await b.openRun(run, () => {
      throw new Error('a joiner must not make the run record')
    })
    expect(joined.created).toBe(false)
    expect(new Uint8Array(joined.meta)).toEqual(new Uint8Array(meta))
  } finally {
    await a.close()
    await b.close()
  }
})

test('over a gateway the record is sent with the hello, and the gateway creates the run from it', async () => {
  const run = uniqueRun()
  const store = new GatewayStore({ urls: env.gw.url, replicaId: 'creator' })
  try {
    const meta = runMeta('via-gateway')
    const opened = await store.openRun(run, () => meta)
    expect(opened.created).toBe(true)
    expect(new Uint8Array(opened.meta)).toEqual(new Uint8Array(meta))
  } finally {
    await store.close()
  }
})
