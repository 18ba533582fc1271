// Chromium tabs (playwright-core) as replicas of one run through a gateway, typing lines and
// reading agreed input, reloaded at random points mid-input (seeded). A reloaded tab keeps its
// replica id (browser/replica-id.ts) and replays from its IndexedDB cache. Checked: the tabs'
// histories are prefixes of one history, every acknowledged line is agreed exactly once, and every
// line a tab typed in its last incarnation is agreed or still pending (none silently dropped).
//
// Defect 2.4 (issue 11) fails it: a reloaded tab reuses its replica id, its input sequence numbers
// restart at 0, and replaying its own earlier lines (same id and seq) removes the new lines from
// its queue: they are never agreed and never reported. Each reload here waits for one of the tab's
// own lines to be agreed first, so the replay meets it. (Was it.fails until 2.4's fix: lines are identified by a random id.)
import type { Page } from 'playwright-core'
import { expect, it } from 'vitest'
import { launchChromium, servePages } from '../e2e/harness.js'
import { uniqueRun } from '../helpers/etcd.js'
import { spawnGateway } from '../helpers/gateway.js'
import { checkHistories, type History, type HistoryEvent } from './history.js'
import { report, rowOf, seeded, sized, startFaultCluster } from './harness.js'

const RELOADS = sized(3, 15)
const TABS = 2

interface Tab {
  name: string
  page: Page
  incarnation: number
  histories: History[]
  lines(): number
}

/** The page's loop: type a line when none is queued, read the next agreed line, report both on the console. */
async function drive(tab: Tab): Promise<void> {
  await tab.page.waitForFunction(() => window.e2e || window.e2eError, undefined, { timeout: 30_000 })
  const id = `${tab.name}.${tab.incarnation}`
  tab.page
    .evaluate(async (id) => {
      const rep = window.e2e!.rep
      for (let i = 0; ; i++) {
        if (!(window as { stopTyping?: boolean }).stopTyping && rep.pendingInput().length === 0) {
          const line = `${id}/${i}`
          console.log(`faults ${id} typed ${JSON.stringify(line)}`)
          rep.typeLine(line)
        }
        const got = await rep.inputLine()
        console.log(`faults ${id} in ${got.slot} ${JSON.stringify(got.line)} ${got.local}`)
      }
    }, id)
    .catch(() => {}) // ends with the page (reload, close)
}

it(`2.4: Chromium tabs reloaded ${RELOADS} times mid-input lose no typed line`, { timeout: sized(150_000, 600_000) }, async () => {
  const rng = seeded('tabs reload')
  const c = await startFaultCluster(3)
  const gw = await spawnGateway(c.endpoints.join(','))
  const [pages, browser] = await Promise.all([servePages(), launchChromium()])
  const run = uniqueRun('faults-tabs')
  const tabs: Tab[] = []
  try {
    for (let t = 0; t < TABS; t++) {
      const page = await browser.context.newPage()
      const tab: Tab = { name: `tab${t}`, page, incarnation: 0, histories: [], lines: () => tab.histories.at(-1)!.events.filter((e) => e.t === 'in').length }
      page.on('console', (msg) => {
        const m = /^faults (\S+) (typed|in) (.*)$/.exec(msg.text())
        const h = m && tab.histories.find((x) => x.id === m[1])
        if (!m || !h) return
        if (m[2] === 'typed') return void h.events.push({ t: 'typed', line: JSON.parse(m[3]!) as string })
        const [, slot, line, local] = /^(\d+) (".*"|null) (true|false)$/.exec(m[3]!)!
        const ev: HistoryEvent[] = [{ t: 'rec', s: 'input', n: Number(slot), h: line! }, { t: 'in', line: JSON.parse(line!) as string | null, n: Number(slot) }]
        if (local === 'true') ev.push({ t: 'ack', line: JSON.parse(line!) as string, n: Number(slot) })
        h.events.push(...ev)
      })
      tab.histories.push({ id: `${tab.name}.0`, events: [] })
      await page.goto(`${pages.url}?gateway=${encodeURIComponent(gw.url)}&run=${run}&name=${tab.name}`)
      tabs.push(tab)
    }
    await Promise.all(tabs.map(drive))
    const until = async (tab: Tab, n: number) => {
      while (tab.lines() < n) await tab.page.waitForEvent('console', { timeout: 30_000 })
    }
    const schedule: string[] = []
    for (let k = 0; k < RELOADS; k++) {
      const tab = tabs[rng.int(TABS)]!
      const at = tab.lines() + 1 + rng.int(8)
      await until(tab, at)
      const acked = () => tab.histories.at(-1)!.events.some((e) => e.t === 'ack')
      while (!acked()) await tab.page.waitForEvent('console', { timeout: 30_000 })
      tab.incarnation++
      tab.histories.push({ id: `${tab.name}.${tab.incarnation}`, events: [] })
      schedule.push(`${tab.name}@line${at}`)
      await tab.page.reload()
      await drive(tab)
    }
    // Run on a little, then stop typing and wait until every tab's queue has drained (bounded).
    for (const tab of tabs) await until(tab, tab.lines() + 5)
    await Promise.all(tabs.map((t) => t.page.evaluate(() => ((window as { stopTyping?: boolean }).stopTyping = true))))
    for (const t of tabs) await t.page.waitForFunction(() => window.e2e!.rep.pendingInput().length === 0, undefined, { timeout: 30_000 })
    const histories = tabs.flatMap((t) => t.histories)
    const agreedLines = () => new Set(histories.flatMap((h) => h.events.flatMap((e) => (e.t === 'in' ? [e.line] : []))))
    // Every line typed by each tab's live incarnation is agreed (its queue is empty): give the last
    // ones' console events up to 10 s to arrive.
    const droppedLines = (agreed: Set<string | null>) => tabs.flatMap((t) => t.histories.at(-1)!.events.flatMap((e) => (e.t === 'typed' && !agreed.has(e.line) ? [e.line] : [])))
    for (const end = Date.now() + 10_000; droppedLines(agreedLines()).length > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50))
    const agreed = agreedLines()
    const dropped = droppedLines(agreed)
    const checked = checkHistories({ histories, effects: [] })
    for (const v of checked.violations) console.log(`[faults] VIOLATION ${v}`)
    report(rowOf('Chromium tabs reloaded mid-input', checked, agreed.size, RELOADS), checked, `${TABS} tabs, ${RELOADS} reloads; ${dropped.length} typed lines dropped`)
    console.log(`[faults] reload schedule: ${schedule.join(' ')}; dropped lines: ${JSON.stringify(dropped)}`)
    console.log(`[faults] ${TABS} tabs, seed ${rng.seed}: ${RELOADS} reloads mid-input; ${agreed.size} lines agreed, ${dropped.length} typed lines dropped; ` +
      `checked ${checked.histories} histories, ${checked.records} records: lost ${checked.lostLines}, divergences ${checked.divergences}`)
    expect(checked.violations).toEqual([])
    expect(dropped).toEqual([])
  } finally {
    await browser.close()
    await pages.close()
    await gw.kill()
    await c.stop()
  }
})
