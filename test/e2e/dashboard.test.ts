// The gateway's /dashboard in Chromium while a live run has replicas (two Node processes, one
// direct and one through the gateway, and tabs): it renders them with status and slot, follows them
// as they make calls, shows a tab joining mid-run as catching-up with its lag, and drops replicas
// that leave. The mid-run tab replays the log, goes live and then agrees with the others.
// REPJS_DASHBOARD_SCREENSHOT=docs/dashboard.png also saves a screenshot of the dashboard.
import { pino } from 'pino'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startGateway, type Gateway } from '../../node-gateway/gateway/server.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { httpUrl, until } from '../helpers/raw-gateway.js'
import { startReplica, type ReplicaProc } from '../helpers/replicas.js'
import { launchChromium, servePages, type Browser, type Pages } from './harness.js'
import type { Harness } from './pages/main.js'

let etcd: Cluster
let gateway: Gateway
let pages: Pages
let browser: Browser
const procs: ReplicaProc[] = []

beforeAll(async () => {
  ;[etcd, pages, browser] = await Promise.all([startCluster(1), servePages(), launchChromium()])
  gateway = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }) })
}, 60_000)

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()))
  await browser?.close()
  await pages?.close()
  await gateway?.close()
  await etcd?.stop()
})

type E2E = { e2e: Harness }
interface Row { replica: string; name: string; runtime: string; status: string; slot: number; head: number; lag: number }

async function openTab(run: string, name: string): Promise<{ page: Page; id: string }> {
  const page = await browser.context.newPage()
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err))
  await page.goto(`${pages.url}?gateway=${encodeURIComponent(gateway.url)}&run=${run}&name=${name}&cache=0`)
  await page.waitForFunction(() => window.e2e !== undefined || window.e2eError !== undefined)
  const err = await page.evaluate(() => window.e2eError)
  if (err) throw new Error(`page could not connect: ${err}`)
  return { page, id: await page.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId) }
}

/** A replica process running the shared workload on command; resolves once it is in the run. */
async function nodeProcess(run: string, name: string, via: 'gateway' | 'etcd'): Promise<ReplicaProc & { id: string; work(count: number, from: number): Promise<number[]> }> {
  const env: Record<string, string> = { REPJS_RUN: run, REPJS_NAME: name, ...(via === 'gateway' ? { REPJS_GATEWAY: gateway.url } : { REPJS_ETCD: etcd.endpoint }) }
  const p = startReplica('workload-replica.mjs', env, [], 'pipe')
  procs.push(p)
  const id = (await p.lines(1))[0]!.replace(/^ready /, '')
  let answered = 1
  return Object.assign(p, {
    id,
    async work(count: number, from: number) {
      p.write(`${count} ${from}\n`)
      const lines = await p.lines(++answered)
      return JSON.parse(lines[answered - 1]!) as number[]
    },
  })
}

const rows = (dash: Page, run: string): Promise<Row[]> =>
  dash.$$eval(`article.run[data-run="${run}"] tr[data-replica]`, (trs) =>
    trs.map((tr) => {
      const cell = (c: string) => tr.querySelector(`td.${c}`)!.textContent!
      return { replica: cell('replica'), name: cell('name'), runtime: cell('runtime'), status: cell('status'), slot: Number(cell('slot')), head: Number(cell('head')), lag: Number(cell('lag')) }
    }))

async function shows(dash: Page, run: string, what: string, cond: (rows: Row[]) => boolean): Promise<Row[]> {
  let last: Row[] = []
  try {
    await until(async () => cond((last = await rows(dash, run))), 15_000, what)
  } catch (err) {
    throw new Error(`the dashboard never showed ${what}; it shows ${JSON.stringify(last)}`, { cause: err })
  }
  return last
}

test('the dashboard shows a live run\'s replicas, follows their calls, a tab catching up mid-run, and those that leave', async () => {
  const run = uniqueRun('e2e-dash')
  const p1 = await nodeProcess(run, 'node-gw', 'gateway')
  const p2 = await nodeProcess(run, 'node-direct', 'etcd')
  const a = await openTab(run, 'tab-a')
  const dash = await browser.context.newPage()
  await dash.setViewportSize({ width: 1100, height: 640 })
  dash.on('pageerror', (err) => console.error('[dashboard] page error:', err))
  await dash.goto(`${httpUrl(gateway.url)}/dashboard`)

  const byId = (rs: Row[], id: string) => rs.find((r) => r.replica === id)
  const first = await shows(dash, run, 'three live replicas at slot 0', (rs) => rs.length === 3 && rs.every((r) => r.status === 'live' && r.slot === 0))
  expect(byId(first, p1.id)).toMatchObject({ name: 'node-gw', runtime: 'node' })
  expect(byId(first, p2.id)).toMatchObject({ name: 'node-direct', runtime: 'node' })
  expect(byId(first, a.id)).toMatchObject({ name: 'tab-a', runtime: 'browser' })

  // They make calls: the numbers follow, and the chart draws a non-zero calls/s.
  const evalA = (count: number, from: number) => a.page.evaluate(([c, f]) => (window as unknown as E2E).e2e.workload(c!, f), [count, from])
  const [v1, v2, va] = await Promise.all([p1.work(30, 0), p2.work(30, 0), evalA(30, 0)])
  expect(v2).toEqual(v1)
  expect(va.values).toEqual(v1)
  await shows(dash, run, 'all three at slot 30', (rs) => rs.length === 3 && rs.every((r) => r.slot === 30 && r.head === 29 && r.lag === 0))

  // Many more slots (the tab stays where it is: it lags behind), then a tab joins mid-run.
  const [w1, w2] = await Promise.all([p1.work(600, 30), p2.work(600, 30)])
  expect(w2).toEqual(w1)
  await shows(dash, run, 'tab-a lagging 600 slots behind', (rs) => byId(rs, a.id)?.lag === 600 && byId(rs, p1.id)?.slot === 630)
  const heights = await dash.$eval(`article.run[data-run="${run}"] svg polyline`, (l) => l.getAttribute('points')!.split(' ').map((xy) => Number(xy.split(',')[1])))
  expect(Math.min(...heights)).toBeLessThan(66) // a point above the zero line: some calls/s

  const b = await openTab(run, 'tab-b')
  const late = await shows(dash, run, 'tab-b catching up with 630 slots to replay', (rs) => byId(rs, b.id)?.status === 'catching-up' && byId(rs, b.id)?.lag === 630)
  expect(byId(late, b.id)).toMatchObject({ name: 'tab-b', runtime: 'browser', slot: 0, head: 629 })
  if (process.env.REPJS_DASHBOARD_SCREENSHOT) await dash.screenshot({ path: process.env.REPJS_DASHBOARD_SCREENSHOT })

  // The late tab replays the log and then takes part like the others: every value agrees.
  const evalB = (count: number, from: number) => b.page.evaluate(([c, f]) => (window as unknown as E2E).e2e.workload(c!, f), [count, from])
  const [vb, n1, n2, na] = await Promise.all([evalB(660, 0), p1.work(30, 630), p2.work(30, 630), evalA(630, 30)])
  expect(vb.values).toEqual([...v1, ...w1, ...n1])
  expect(n2).toEqual(n1)
  expect(na.values).toEqual([...w1, ...n1])
  const states = await b.page.evaluate(() => (window as unknown as E2E).e2e.states)
  expect(states[0]).toBe('catching-up')
  expect(states.at(-1)).toBe('live')
  await shows(dash, run, 'four live replicas at slot 660', (rs) => rs.length === 4 && rs.every((r) => r.status === 'live' && r.slot === 660 && r.lag === 0))

  // Replicas that leave disappear: a closed tab (its connection goes) and a process that closes its replica.
  await a.page.close()
  p1.end()
  expect(await p1.exited).toBe(0)
  const left = await shows(dash, run, 'only tab-b and node-direct left', (rs) => rs.length === 2)
  expect(left.map((r) => r.replica).sort()).toEqual([b.id, p2.id].sort())
  p2.end()
  expect(await p2.exited).toBe(0)
  await shows(dash, run, 'only tab-b left', (rs) => rs.length === 1 && rs[0]!.replica === b.id)
  await b.page.close()
  await dash.close()
}, 120_000)
