// etcd history compaction during a live run loses nothing: replicas (direct and through gateways)
// make calls while etcd is compacted to its current revision over and over, and replicas that lag
// (cut off, then on a slow link) see their log watches cancelled for compaction and restart them
// from a range read. Every transcript is identical and complete.
import { Etcd3 } from 'etcd3'
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { connect, type Replica, type Store } from '../../node-gateway/index.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import type { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const quiet = pino({ level: 'silent' })
let etcd: Cluster
let proxyD: TcpProxy
let proxyG: TcpProxy
let gw: Gateway
let gwLag: Gateway
beforeAll(async () => {
  etcd = await startCluster(1)
  const port = Number(new URL(etcd.endpoint).port)
  proxyD = await startProxy({ host: '127.0.0.1', port })
  proxyG = await startProxy({ host: '127.0.0.1', port })
  gw = await startGateway({ etcd: etcd.endpoint, logger: quiet })
  // This gateway reaches etcd through a proxy the test cuts and slows: its hubs lag.
  gwLag = await startGateway({ etcd: proxyG.url, logger: quiet })
})
afterAll(async () => {
  await gw?.close()
  await gwLag?.close()
  await proxyD?.close()
  await proxyG?.close()
  await etcd?.stop()
})

/**
 * Churn and compact: put a key and compact etcd's history to the revision it got, every few ms,
 * until stopped. A watch that starts from a revision read more than a few ms earlier is then
 * cancelled by etcd (compact_revision set).
 */
function compactor(endpoint: string) {
  const client = new Etcd3({ hosts: endpoint })
  let running = true
  let compactions = 0
  let failure: unknown
  const done = (async () => {
    for (let i = 0; running; i++) {
      try {
        const put = await client.put('/compaction-test/churn').value(String(i))
        await client.kv.compact({ revision: put.header.revision, physical: false })
        compactions++
      } catch (err) {
        failure = err
        return
      }
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  return {
    get compactions() {
      return compactions
    },
    async stop() {
      running = false
      await done
      client.close()
      if (failure) throw failure
    },
  }
}

/** One part of the program: slots on the main stream and on a named one, a vote and a run-once call now and then. */
async function part(rep: Replica, who: number, from: number, to: number, out: unknown[]): Promise<void> {
  const side = rep.stream('side')
  for (let i = from; i < to; i++) {
    out.push(await rep.now(), await rep.random(), await rep.distributed(() => `${who}:${Math.random()}`, { name: 'x' })(), await side.random())
    if (i % 10 === 9) {
      out.push(await rep.vote(who, { quorum: 2, reduce: 'max' }))
      out.push(await rep.distributedLocked(() => `once ${who} ${i}`, { name: 'once' })())
    }
  }
}

const storeOf = (rep: Replica) => (rep as unknown as { engine: { store: Store } }).engine.store as EtcdStore

async function watchesCompactedOn(g: Gateway): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.port}/metrics`)).text()
  const m = /^repjs_gateway_watches_compacted_total (\d+)/m.exec(text)
  if (!m) throw new Error('no repjs_gateway_watches_compacted_total in /metrics')
  return Number(m[1])
}

test('replicas direct and through gateways, and lagging ones, lose nothing while etcd is compacted over and over', async () => {
  const run = uniqueRun('compaction')
  const program = 'compaction'
  const d = await connect({ run, etcd: etcd.endpoint, program })
  const g = await connect({ run, gateway: gw.url, program })
  const lagD = await connect({ run, etcd: proxyD.url, program })
  const lagG = await connect({ run, gateway: gwLag.url, program })
  const first = await Promise.all([d, g, lagD, lagG].map((r) => r.now()))
  expect(new Set(first).size).toBe(1)
  const compacting = compactor(etcd.endpoint)
  const out: unknown[][] = [[], [], [], []]
  // Phase A: the lagging replica and gateway are cut off while the others go on and etcd compacts
  // past every revision their watches had seen.
  proxyD.cut()
  proxyG.cut()
  await Promise.all([part(d, 0, 0, 30, out[0]!), part(g, 1, 0, 30, out[1]!)])
  const afterA = compacting.compactions
  expect(afterA).toBeGreaterThan(0)
  // Phase B: they come back over a slow link (20 ms each way), on which a watch is created well
  // after the range read it follows, so etcd cancels it for compaction every time while history
  // is compacted every few ms; they replay phase A and everyone goes on.
  proxyD.restore()
  proxyG.restore()
  proxyD.setDelay(20)
  proxyG.setDelay(20)
  await Promise.all([
    part(d, 0, 30, 40, out[0]!),
    part(g, 1, 30, 40, out[1]!),
    part(lagD, 2, 0, 40, out[2]!),
    part(lagG, 3, 0, 40, out[3]!),
  ])
  const compactedD = storeOf(lagD).watchesCompacted
  const compactedGw = await watchesCompactedOn(gwLag)
  await compacting.stop()
  console.log(`compactions: ${compacting.compactions}; watches cancelled for compaction: lagging direct replica ${compactedD}, lagging gateway ${compactedGw}`)
  // The path under test was taken: etcd cancelled watches for compaction, and they were restarted.
  expect(compactedD).toBeGreaterThan(0)
  expect(compactedGw).toBeGreaterThan(0)
  expect(out[0]!.length).toBe(40 * 4 + 4 * 2)
  for (const t of out.slice(1)) expect(t).toEqual(out[0])
  // And a replica joining now reads the whole log back from the compacted store.
  const late = await connect({ run, etcd: etcd.endpoint, program })
  const lateOut: unknown[] = []
  await late.now()
  await part(late, 4, 0, 40, lateOut)
  expect(lateOut).toEqual(out[0])
  await Promise.all([d, g, lagD, lagG, late].map((r) => r.close()))
}, 120_000)
