// The gateway client's liveness and token function in a real browser (issue 11, 2.2 and 2.9):
// browsers have no WebSocket ping API, so the client's protocol PING must notice a half-open
// connection there too; and a tab outlives its tokens with an async token function. Chromium
// (playwright-core), real etcd, real gateways, a TCP proxy that black-holes.
import { pino } from 'pino'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createToken, startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { startProxy } from '../helpers/tcp-proxy.js'
import { launchChromium, servePages, type Browser, type Pages } from './harness.js'

const SECRET = 'e2e-door-secret'
const quiet = pino({ level: 'silent' })
let etcd: Cluster
let open: Gateway
let secured: Gateway
let pages: Pages
let browser: Browser

beforeAll(async () => {
  ;[etcd, pages, browser] = await Promise.all([startCluster(1), servePages(), launchChromium()])
  open = await startGateway({ etcd: etcd.endpoint, logger: quiet })
  secured = await startGateway({ etcd: etcd.endpoint, secret: SECRET, logger: quiet })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await pages?.close()
  await open?.close()
  await secured?.close()
  await etcd?.stop()
})

async function blankPage(): Promise<Page> {
  const page = await browser.context.newPage()
  page.on('pageerror', (err) => console.error('page error:', err))
  await page.goto(pages.url)
  await page.waitForFunction(() => typeof window.e2eConnect === 'function')
  return page
}

test('a tab notices a half-open gateway connection by PING, reconnects and its calls complete', async () => {
  const proxy = await startProxy({ host: '127.0.0.1', port: open.port })
  const page = await blankPage()
  try {
    const run = uniqueRun('e2e-half')
    await page.evaluate(async ({ gateway, run }) => {
      const rep = await window.e2eConnect({ gateway, run, program: 'repjs-e2e', cache: false, gatewayTimeouts: { pingIntervalMs: 200 } })
      const states: string[] = []
      rep.on('status', (s) => states.push(s.state))
      const f = rep.distributed((i: number) => i * 3, { name: 'f' })
      ;(window as unknown as { half: unknown }).half = { rep, states, f }
      await f(0)
    }, { gateway: proxy.url.replace('http', 'ws'), run })
    proxy.silence()
    const out = await page.evaluate(async () => {
      const { rep, states, f } = (window as unknown as { half: { rep: { status: { state: string } }; states: string[]; f: (i: number) => Promise<number> } }).half
      const values = await Promise.all([1, 2, 3].map((i) => f(i)))
      return { values, states, now: rep.status.state }
    })
    expect(out.values).toEqual([3, 6, 9])
    expect(out.states).toContain('reconnecting')
    expect(out.now).toBe('live')
  } finally {
    await page.close()
    await proxy.close()
  }
}, 30_000)

test('a tab with an async token function outlives its tokens', async () => {
  const page = await blankPage()
  try {
    const run = uniqueRun('e2e-token')
    let asked = 0
    // A 1-2 s token from the test process, as a page would fetch one from its server.
    await page.exposeFunction('freshToken', () => (asked++, createToken(SECRET, run, 2)))
    const out = await page.evaluate(async ({ gateway, run }) => {
      const w = window as unknown as { freshToken: () => Promise<string> }
      const rep = await window.e2eConnect({ gateway, run, program: 'repjs-e2e', cache: false, token: () => w.freshToken() })
      const states: string[] = []
      rep.on('status', (s) => states.push(s.state))
      const f = rep.distributed((i: number) => i + 1, { name: 'f' })
      const values: number[] = []
      const until = Date.now() + 4500
      for (let i = 0; Date.now() < until; i++) values.push(await f(i))
      await rep.close()
      return { values, states }
    }, { gateway: secured.url, run })
    expect(asked).toBeGreaterThanOrEqual(3)
    expect(out.values).toEqual(out.values.map((_, i) => i + 1))
    expect(out.states).toContain('reconnecting')
  } finally {
    await page.close()
  }
}, 30_000)
