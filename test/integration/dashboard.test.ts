// GET /dashboard and /dashboard/api: tokens (401 without), what the API lists, /metrics presence gauges.
import { expect, test } from 'vitest'
import { createToken } from '../../node-gateway/gateway/token.js'
import { connect } from '../../node-gateway/index.js'
import type { DashboardData } from '../../node-gateway/gateway/dashboard.js'
import { uniqueRun } from '../helpers/etcd.js'
import { useEtcdAndGateway } from '../helpers/etcd-gateway.js'
import { httpUrl, metric, until } from '../helpers/raw-gateway.js'

const SECRET = 'dashboard-test-secret'
const env = useEtcdAndGateway({ secret: SECRET })

const get = (path: string, headers: Record<string, string> = {}) => fetch(httpUrl(env.gw.url) + path, { headers })
const api = async (token: string): Promise<DashboardData> => (await (await get(`/dashboard/api?token=${token}`)).json()) as DashboardData

test('with a secret, the dashboard needs a token: 401 without, with a forged or expired one', async () => {
  for (const path of ['/dashboard', '/dashboard/api']) {
    const none = await get(path)
    expect(none.status).toBe(401)
    expect((await none.json()).reason).toBe('missing')
    expect((await get(`${path}?token=${createToken('other-secret', '*')}`)).status).toBe(401)
    expect((await get(`${path}?token=${createToken(SECRET, '*', 10, Date.now() - 60_000)}`)).status).toBe(401)
  }
  const page = await get(`/dashboard?token=${createToken(SECRET, '*')}`)
  expect(page.status).toBe(200)
  expect(page.headers.get('content-type')).toContain('text/html')
  expect(await page.text()).toContain('RepJS dashboard')
  expect((await get('/dashboard/api', { authorization: `Bearer ${createToken(SECRET, '*')}` })).status).toBe(200)
})

test('the API lists runs with their replicas, lag and etcd members; a run token sees only its run; /metrics counts presence', async () => {
  const [runA, runB] = [uniqueRun('dash-a'), uniqueRun('dash-b')]
  const a1 = await connect({ run: runA, gateway: env.gw.url, token: createToken(SECRET, runA), program: 'd', name: 'first' })
  const a2 = await connect({ run: runA, etcd: env.etcd.endpoint, program: 'd', name: 'direct' })
  const b1 = await connect({ run: runB, gateway: env.gw.url, token: createToken(SECRET, runB), program: 'd' })
  for (let i = 0; i < 4; i++) await Promise.all([a1.now(), a2.now()])
  const all = createToken(SECRET, '*')
  await until(async () => (await api(all)).runs.find((r) => r.run === runA)?.replicas.filter((p) => p.slot === 4).length === 2, 5000, 'run A at slot 4')
  const data = await api(all)
  const a = data.runs.find((r) => r.run === runA)!
  expect(a.decided).toBe(4)
  expect(a.replicas.map((p) => [p.name, p.runtime, p.status, p.slot, p.head, p.lag]).sort()).toEqual([
    ['direct', 'node', 'live', 4, 3, 0],
    ['first', 'node', 'live', 4, 3, 0],
  ])
  expect(data.runs.map((r) => r.run)).toContain(runB)
  expect(data.etcd.members).toHaveLength(1)
  expect(data.etcd.members[0]).toMatchObject({ reachable: true, leader: true })
  expect(data.etcd.members[0]!.dbSize).toBeGreaterThan(0)

  const onlyB = await api(createToken(SECRET, runB))
  expect(onlyB.runs.map((r) => r.run)).toEqual([runB])
  expect(onlyB.runs[0]!.replicas.map((p) => p.replica)).toEqual([b1.info.replicaId])

  const text = await (await get('/metrics')).text()
  expect(metric(text, `repjs_gateway_replicas_present{run="${runA}",runtime="node"}`)).toBe(2)
  expect(metric(text, `repjs_gateway_replicas_present{run="${runB}",runtime="node"}`)).toBe(1)
  expect(metric(text, 'repjs_gateway_presence_writes_total')).toBeGreaterThanOrEqual(2)

  await a2.close()
  expect((await api(all)).runs.find((r) => r.run === runA)!.replicas.map((p) => p.name)).toEqual(['first'])
  await Promise.all([a1.close(), b1.close()])
})
