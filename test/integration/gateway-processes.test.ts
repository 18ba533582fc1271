// The sample program through gateway processes: mixed direct/gateway replicas agree, and a gateway
// killed and restarted mid-run costs nothing but a reconnect.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { spawnGateway, type GatewayProc } from '../helpers/gateway.js'
import { finished, startReplica } from '../helpers/replicas.js'

let etcd: Cluster
const gateways: GatewayProc[] = []
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.kill()))
  await etcd?.stop()
})

const sharedFile = () => join(mkdtempSync(join(tmpdir(), 'repjs-gw-')), 'shared.log')
const lines = (s: string) => s.split('\n').filter(Boolean)

test('3 replicas of the sample program: 1 direct to etcd, 2 through two different gateways', async () => {
  const g1 = await spawnGateway(etcd.endpoint)
  const g2 = await spawnGateway(etcd.endpoint)
  gateways.push(g1, g2)
  const base = { REPJS_RUN: uniqueRun('mixed'), SAMPLE_STEPS: '12', SAMPLE_FILE: sharedFile() }
  const outs = await Promise.all([
    finished(startReplica('sample.mjs', { ...base, REPJS_ETCD: etcd.endpoint })),
    finished(startReplica('sample.mjs', { ...base, REPJS_GATEWAY: g1.url })),
    finished(startReplica('sample.mjs', { ...base, REPJS_GATEWAY: g2.url })),
  ])
  expect(lines(outs[0]!)).toHaveLength(12)
  expect(outs[1]).toBe(outs[0])
  expect(outs[2]).toBe(outs[0])
  expect(lines(readFileSync(base.SAMPLE_FILE, 'utf8'))).toEqual(['step 0', 'step 3', 'step 6', 'step 9'])
})

test('a gateway killed and restarted mid-run: clients reconnect, transcripts identical, no missing or duplicate slot', async () => {
  const g1 = await spawnGateway(etcd.endpoint)
  const g2 = await spawnGateway(etcd.endpoint)
  gateways.push(g1, g2)
  const env = { REPJS_RUN: uniqueRun('failover'), SAMPLE_STEPS: '40', SAMPLE_DELAY: '30', SAMPLE_FILE: sharedFile(), SAMPLE_TTL: '2000' }
  const a = startReplica('sample.mjs', { ...env, REPJS_GATEWAY: `${g1.url},${g2.url}` })
  const b = startReplica('sample.mjs', { ...env, REPJS_GATEWAY: `${g1.url},${g2.url}` })
  const c = startReplica('sample.mjs', { ...env, REPJS_GATEWAY: `${g2.url},${g1.url}` })
  await a.lines(10)
  await g1.kill('SIGKILL')
  await a.lines(20)
  const g1b = await spawnGateway(etcd.endpoint, { port: g1.port })
  gateways.push(g1b)
  // SIGTERM: the gateway closes clients with GOING_AWAY and exits cleanly within a few seconds.
  const t0 = Date.now()
  expect(await g2.kill('SIGTERM')).toBe(0)
  expect(Date.now() - t0).toBeLessThan(5000)
  const [oa, ob, oc] = await Promise.all([finished(a), finished(b), finished(c)])
  const la = lines(oa)
  expect(la.map((l) => Number(l.split(' ')[0]))).toEqual([...Array(40).keys()])
  expect(ob).toBe(oa)
  expect(oc).toBe(oa)
  const recorded = lines(readFileSync(env.SAMPLE_FILE, 'utf8'))
  expect(recorded).toEqual([...new Set(recorded)])
})
