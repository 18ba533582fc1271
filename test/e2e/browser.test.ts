// Browser runtime end to end: real Chromium tabs (playwright-core, Debian's chromium), real etcd,
// a real gateway, and a Node replica through the same gateway, all in one run.
import { pino } from 'pino'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { connect, createEtcdStore, type InputLine, type Replica } from '../../node-gateway/index.js'
import { deleteRun } from '../../node-gateway/store/run-delete.js'
import { startGateway, type Gateway } from '../../node-gateway/gateway/server.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { launchChromium, servePages, settledPushed, type Browser, type Pages } from './harness.js'
import type { Harness } from './pages/main.js'
import { workload } from './pages/workload.js'

let etcd: Cluster
let gateway: Gateway
let pages: Pages
let browser: Browser
const nodes: Replica[] = []

beforeAll(async () => {
  ;[etcd, pages, browser] = await Promise.all([startCluster(1), servePages(), launchChromium()])
  gateway = await startGateway({ etcd: etcd.endpoint, logger: pino({ level: 'silent' }) })
}, 60_000)

afterAll(async () => {
  await Promise.all(nodes.map((r) => r.close()))
  await browser?.close()
  await pages?.close()
  await gateway?.close()
  await etcd?.stop()
})

type E2E = { e2e: Harness }

async function openTab(run: string, name: string, extra = ''): Promise<Page> {
  const page = await browser.context.newPage()
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err))
  await page.goto(`${pages.url}?gateway=${encodeURIComponent(gateway.url)}&run=${run}&name=${name}${extra}`)
  await ready(page)
  return page
}

async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => window.e2e !== undefined || window.e2eError !== undefined)
  const err = await page.evaluate(() => window.e2eError)
  if (err) throw new Error(`page could not connect: ${err}`)
}

async function nodeReplica(run: string, name = 'term'): Promise<Replica> {
  const rep = await connect({ run, gateway: gateway.url, program: 'repjs-e2e', name })
  nodes.push(rep)
  return rep
}

const transcript = (page: Page) =>
  page.locator('repjs-prompt [part~=transcript] [part~=line]').evaluateAll((lis) =>
    lis.map((li) => ({
      part: li.getAttribute('part'),
      who: li.querySelector('[part~=who]')?.textContent,
      text: li.querySelector('[part~=text]')?.textContent,
    })),
  )

test('two tabs and a Node replica agree on now(), random() and distributed() values', async () => {
  const run = uniqueRun('e2e-agree')
  const node = await nodeReplica(run)
  const [a, b] = await Promise.all([openTab(run, 'tab-a'), openTab(run, 'tab-b')])
  const ids = await Promise.all([a, b].map((p) => p.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId)))
  expect(new Set([...ids, node.info.replicaId]).size).toBe(3) // tabs of one browser never share a replica id
  // all three race for the same 60 slots
  const [va, vb, vn] = await Promise.all([
    a.evaluate(() => (window as unknown as E2E).e2e.workload(60)),
    b.evaluate(() => (window as unknown as E2E).e2e.workload(60)),
    workload(node, 60),
  ])
  expect(va.values).toEqual(vn)
  expect(vb.values).toEqual(vn)
  expect(vn.filter((_, i) => i % 3 === 0)).toEqual([...vn.filter((_, i) => i % 3 === 0)].sort((x, y) => x - y)) // agreed time never decreases
  await Promise.all([a.close(), b.close()])
})

test('<repjs-prompt>: a line typed in one tab is pending until agreed, then in every transcript and in Node input(), marked with who typed it', async () => {
  const run = uniqueRun('e2e-prompt')
  const node = await nodeReplica(run)
  const [a, b] = await Promise.all([openTab(run, 'tab-a'), openTab(run, 'tab-b')])
  const input = a.locator('repjs-prompt [part~=input]')
  await expect.poll(() => a.locator('repjs-prompt [part~=status]').textContent()).toBe('live')
  expect(await a.locator('repjs-prompt').getAttribute('status')).toBe('live')
  expect(await a.getByRole('textbox', { name: 'Command' }).count()).toBe(1) // the input is labelled
  expect(await a.getByRole('log', { name: 'Transcript' }).getAttribute('aria-live')).toBe('polite')

  // Enter that confirms an IME composition does not commit the line
  await input.fill('高度')
  await input.evaluate((el) => el.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', isComposing: true, bubbles: true, cancelable: true })))
  expect(await input.inputValue()).toBe('高度')
  expect(await a.evaluate(() => (window as unknown as E2E).e2e.rep.pendingInput())).toEqual([])

  // typed while no input() call runs on tab A: pending, shown as such
  const nodeLine = node.inputLine()
  void b.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  await input.fill('set altitude 3000')
  await input.press('Enter')
  expect(await input.inputValue()).toBe('')
  const pending = a.locator('repjs-prompt [part~=pending] [part~=pending-line]')
  await expect.poll(() => pending.count()).toBe(1)
  expect(await pending.textContent()).toContain('set altitude 3000')

  // the app's loop on tab A asks for input: the line races, wins, and is agreed everywhere
  await a.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  const agreed: InputLine = await nodeLine
  expect(agreed).toMatchObject({ line: 'set altitude 3000', who: 'tab-a', local: false, slot: 0 })
  await expect.poll(() => pending.count()).toBe(0)
  expect(await transcript(a)).toEqual([{ part: 'line local', who: 'tab-a', text: 'set altitude 3000' }])
  await expect.poll(() => transcript(b)).toEqual([{ part: 'line remote', who: 'tab-a', text: 'set altitude 3000' }])

  // a line queued on tab B when end of input is agreed is shown as not sent
  const inputB = b.locator('repjs-prompt [part~=input]')
  await inputB.fill('too late')
  await inputB.press('Enter')
  node.endInput()
  expect(await node.input()).toBeNull()
  await b.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  const unsent = b.locator('repjs-prompt [part~=pending] [part~=unsent]')
  await expect.poll(() => unsent.count()).toBe(1)
  expect(await unsent.textContent()).toContain('too late')
  expect(await b.locator('repjs-prompt').getAttribute('ended')).toBe('')
  expect(await inputB.isDisabled()).toBe(true)
  expect((await transcript(b)).at(-1)).toEqual({ part: 'line end', who: 'term', text: 'ended input' })

  // status follows the replica: closed
  await a.evaluate(() => (window as unknown as E2E).e2e.rep.close())
  await expect.poll(() => a.locator('repjs-prompt [part~=status]').textContent()).toBe('closed')
  expect(await input.isDisabled()).toBe(true)
  await Promise.all([a.close(), b.close()])
})

test('a reloaded tab restores its log and transcript from IndexedDB and fetches only the tail', async () => {
  const run = uniqueRun('e2e-reload')
  const K = 300
  const node = await nodeReplica(run)
  const a = await openTab(run, 'tab-a')
  const expected = await workload(node, K)
  const first = await a.evaluate((k) => (window as unknown as E2E).e2e.workload(k), K)
  expect(first.values).toEqual(expected)
  const nodeLine = node.inputLine()
  await a.locator('repjs-prompt [part~=input]').fill('hello from a')
  await a.locator('repjs-prompt [part~=input]').press('Enter')
  await a.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  expect((await nodeLine).who).toBe('tab-a')
  const idBefore = await a.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId)

  // the tab goes offline (its saves flushed on close); the run moves on by 5 slots meanwhile
  await a.evaluate(() => (window as unknown as E2E).e2e.rep.close())
  expected.push(...(await workload(node, 5, K)))
  const before = await settledPushed(gateway.port)
  await a.reload()
  await ready(a)
  const idAfter = await a.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId)
  expect(idAfter).toBe(idBefore)
  // the app's loop replays the input slot from the cache: the transcript is back, still "local"
  await a.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  expect(await transcript(a)).toEqual([{ part: 'line local', who: 'tab-a', text: 'hello from a' }])
  const replay = await a.evaluate((k) => (window as unknown as E2E).e2e.workload(k), K + 5)
  expect(replay.values).toEqual(expected)
  const afterReload = (await settledPushed(gateway.port)) - before

  // a tab of the same run without the cache fetches the whole log
  const c = await openTab(run, 'tab-c', '&cache=0')
  await c.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  const fresh = await c.evaluate((k) => (window as unknown as E2E).e2e.workload(k), K + 5)
  expect(fresh.values).toEqual(expected)
  const withoutCache = (await settledPushed(gateway.port)) - before - afterReload

  console.log(`reload: slots pushed by the gateway ${afterReload} with the IndexedDB cache, ${withoutCache} without; ` +
    `replay of ${K + 5} calls after reload ${replay.ms.toFixed(0)} ms (first time ${first.ms.toFixed(0)} ms for ${K})`)
  expect(afterReload).toBe(5) // only the tail of the main stream; the input stream was complete
  expect(withoutCache).toBe(K + 5 + 1) // the main stream from slot 0 plus the input slot

  // a plain reload (no close first) keeps the replica id too, though tab C is open in the same browser
  await a.reload()
  await ready(a)
  expect(await a.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId)).toBe(idBefore)
  expect(await c.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId)).not.toBe(idBefore)
  await Promise.all([a.close(), c.close()])
})

test('a reloaded tab keeps its replica id: the line it types after the reload is agreed, not taken by the replay of the one before', async () => {
  const run = uniqueRun('e2e-reload-input')
  const node = await nodeReplica(run)
  const a = await openTab(run, 'tab-a')
  const type = async (text: string) => {
    await a.locator('repjs-prompt [part~=input]').fill(text)
    await a.locator('repjs-prompt [part~=input]').press('Enter')
  }
  const id = await a.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId)
  await type('before reload')
  await a.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  await a.reload()
  await ready(a)
  expect(await a.evaluate(() => (window as unknown as E2E).e2e.rep.info.replicaId)).toBe(id)
  await type('after reload')
  // the app's loop replays slot 0 (this replica id's first line, from the previous page)
  await a.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  expect(await a.evaluate(() => (window as unknown as E2E).e2e.rep.pendingInput())).toEqual(['after reload'])
  const nodeLines = Promise.all([node.inputLine(), node.inputLine()])
  await a.evaluate(() => (window as unknown as E2E).e2e.readInput(1))
  expect((await nodeLines).map((l) => [l.line, l.who, l.slot])).toEqual([['before reload', 'tab-a', 0], ['after reload', 'tab-a', 1]])
  await expect.poll(() => transcript(a)).toEqual([
    { part: 'line local', who: 'tab-a', text: 'before reload' },
    { part: 'line local', who: 'tab-a', text: 'after reload' },
  ])
  await a.close()
})

test('connect() in the browser requires program: REPJS_BAD_ARGUMENT', async () => {
  const page = await browser.context.newPage()
  await page.goto(pages.url)
  await page.waitForFunction(() => typeof window.e2eConnect === 'function')
  const err = await page.evaluate(async (gw) => {
    try {
      await window.e2eConnect({ gateway: gw, run: 'no-program' } as Parameters<typeof window.e2eConnect>[0])
      return undefined
    } catch (e) {
      return { code: (e as { code?: string }).code, message: (e as Error).message }
    }
  }, gateway.url)
  expect(err?.code).toBe('REPJS_BAD_ARGUMENT')
  expect(err?.message).toContain('program')
  await page.close()
})

test('IndexedDB cache: consecutive slots from 0 across blocks, stops at a gap, a new incarnation of the run drops the old', async () => {
  const page = await browser.context.newPage()
  await page.goto(pages.url)
  await page.waitForFunction(() => typeof window.e2eCache === 'object')
  const out = await page.evaluate(async () => {
    const { idbCache, createStore } = window.e2eCache
    const store = createStore('repjs-cache-test', 'slots')
    const rec = (n: number) => new Uint8Array([n & 255, n >> 8])
    const first = idbCache({ store, run: 'r' })
    const s1 = first('inc-1')('main')
    for (let i = 0; i < 600; i++) if (i !== 520) s1.save(i, rec(i))
    const view = new Uint8Array(64)
    s1.save(520, view.subarray(10, 12)) // a view: only its own bytes are stored
    first('inc-1')('other').save(0, rec(7))
    await first.flush()
    const loaded = await first('inc-1')('main').load()
    // another tab saving a prefix again only adds, never shortens
    const second = idbCache({ store, run: 'r' })
    second('inc-1')('main').save(3, rec(3))
    await second.flush()
    const again = await second('inc-1')('main').load()
    // a gap stops the load there
    second('inc-1')('gappy').save(0, rec(0))
    second('inc-1')('gappy').save(2, rec(2))
    await second.flush()
    const gappy = await second('inc-1')('gappy').load()
    // the run was recreated: its old incarnation's slots are dropped
    const newer = await idbCache({ store, run: 'r' })('inc-2')('main').load()
    const old = await idbCache({ store })('inc-1')('main').load()
    return {
      loaded: loaded.length, okBytes: loaded.every((r, i) => i === 520 ? r.length === 2 && r.buffer.byteLength === 2 : r[0] === (i & 255) && r[1] === i >> 8),
      again: again.length, gappy: gappy.length, newer: newer.length, old: old.length,
    }
  })
  expect(out).toEqual({ loaded: 600, okBytes: true, again: 600, gappy: 1, newer: 0, old: 0 })
  await page.close()
})

test('a run deleted and started again (--new): a reloaded tab ignores its IndexedDB cache of the old incarnation', async () => {
  const run = uniqueRun('e2e-new')
  const K = 30
  const node = await nodeReplica(run)
  const a = await openTab(run, 'tab-a')
  const old = await workload(node, K)
  expect((await a.evaluate((k) => (window as unknown as E2E).e2e.workload(k), K)).values).toEqual(old)
  const oldIncarnation = node.info.incarnation
  // The tab leaves (its cache flushed), the run is deleted and started again with other values.
  await a.evaluate(() => (window as unknown as E2E).e2e.rep.close())
  await node.close()
  const admin = createEtcdStore({ endpoints: etcd.endpoint })
  await deleteRun(admin, run)
  await admin.close()
  const again = await connect({ run, gateway: gateway.url, program: 'repjs-e2e', name: 'term2', newRun: true })
  nodes.push(again)
  expect(again.info.incarnation).not.toBe(oldIncarnation)
  const fresh = await workload(again, K)
  expect(fresh).not.toEqual(old)
  const before = await settledPushed(gateway.port)
  await a.reload()
  await ready(a)
  expect(await a.evaluate(() => (window as unknown as E2E).e2e.rep.info.incarnation)).toBe(again.info.incarnation)
  // Every slot comes from the gateway: none of the old incarnation's cached slots is used.
  expect((await a.evaluate((k) => (window as unknown as E2E).e2e.workload(k), K)).values).toEqual(fresh)
  expect((await settledPushed(gateway.port)) - before).toBe(K)
  await a.close()
})
