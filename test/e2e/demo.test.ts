// The demo as a person uses it: `repjs start` (what npm start runs) as a child process, two
// Chromium tabs on the Demo address it prints, and the terminal replica started with the command it
// prints. A line typed in a tab and one typed in the terminal reach everyone, marked with who typed
// them; all three show the same state hash; the tabs show the same agreed clock at each tick; and
// SIGTERM stops start's web server, gateway and etcd.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, expect, test } from 'vitest'
import { applyCommand, formatClock, hashState, initialState } from '../../demo/app.js'
import { freePort } from '../helpers/etcd.js'
import { settled } from '../helpers/run-script.js'
import { launchChromium, repoRoot, type Browser } from './harness.js'

const cli = join(repoRoot, 'dist/node-gateway/cli/main.js')
const terminalScript = join(repoRoot, 'dist/demo/terminal.js')

interface Proc {
  proc: ChildProcess
  out: string
  err: string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function run(args: string[], env: Record<string, string> = {}, stdin: 'ignore' | 'pipe' = 'ignore'): Proc {
  const proc = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] })
  const p: Proc = { proc, out: '', err: '', exited: settled(proc) }
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (p.out += d))
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (p.err += d))
  return p
}

async function until<T>(what: string, probe: () => T | Promise<T>, ms = 30_000, p?: Proc): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v) return v as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${p ? `\nstdout:\n${p.out}\nstderr:\n${p.err}` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The PIDs of a process's children (every thread's, from /proc). */
function childrenOf(pid: number): number[] {
  const pids: number[] = []
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      pids.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number))
    } catch {
      /* thread gone */
    }
  }
  return pids
}

const dir = mkdtempSync(join(tmpdir(), 'repjs-demo-e2e-'))
let start: Proc | undefined
let terminal: Proc | undefined
let browser: Browser | undefined
let startChildren: number[] = []

afterAll(async () => {
  await browser?.close().catch(() => {})
  for (const p of [terminal, start]) {
    if (p && p.proc.exitCode === null && p.proc.signalCode === null) {
      p.proc.kill('SIGTERM')
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 10_000))])
      if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL')
    }
  }
  for (const pid of startChildren) if (alive(pid)) process.kill(pid, 'SIGKILL') // only start's own children
  rmSync(dir, { recursive: true, force: true })
})

type DemoWin = { repjsDemo: { rep?: { status: { state: string } }; hash?: string; ticks: Record<number, number>; error?: string; state?: { altitude: number; lastRoll: number | null } } }

async function openTab(url: string, name: string): Promise<Page> {
  const page = await browser!.context.newPage()
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err))
  await page.goto(`${url}&name=${name}`)
  await page.waitForFunction(() => {
    const d = (window as unknown as DemoWin).repjsDemo
    return d?.error !== undefined || d?.rep?.status.state === 'live'
  }, null, { timeout: 30_000 })
  const err = await page.evaluate(() => (window as unknown as DemoWin).repjsDemo.error)
  if (err) throw new Error(`tab ${name}: ${err}`)
  return page
}

const text = (page: Page, sel: string) => page.locator(sel).first().textContent()
/** The demo's command log (newest first) as "who: line". */
const commandLog = (page: Page) =>
  page.locator('#log li').evaluateAll((lis) => lis.map((li) => `${li.querySelector('.who')?.textContent}${li.childNodes[1]?.textContent}`))
/** The prompt element's transcript as "who: text". */
const transcript = (page: Page) =>
  page.locator('repjs-prompt [part~=line]').evaluateAll((lis) =>
    lis.map((li) => `${li.querySelector('[part~=who]')?.textContent}: ${li.querySelector('[part~=text]')?.textContent}`),
  )

test('npm start: two tabs and the terminal share the prompt, the state and the clock; SIGTERM stops everything', async () => {
  const [etcdPort, gatewayPort, webPort] = [await freePort(), await freePort(), await freePort()]
  start = run([cli, 'start', '--port', String(etcdPort), '--data', join(dir, 'etcd'), '--gateway-port', String(gatewayPort), '--web-port', String(webPort)])
  const demoLine = await until('the Demo line', () => /^Demo: (\S+)\n/m.exec(start!.out), 45_000, start)
  const demoUrl = demoLine[1]!
  expect(start.out.split('\n').filter(Boolean)).toEqual([demoLine[0].trim()]) // stdout: that one line
  expect(demoUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${webPort}/\\?run=flight-[a-z0-9]+$`))
  const runId = new URL(demoUrl).searchParams.get('run')!
  // the exact command printed for the terminal
  const cmd = await until('the terminal command', () => /^ {2}REPJS_GATEWAY=(\S+) REPJS_RUN=(\S+) npm run demo:terminal$/m.exec(start!.err), 5000, start)
  expect(cmd[1]).toBe(`ws://127.0.0.1:${gatewayPort}`)
  expect(cmd[2]).toBe(runId)
  startChildren = childrenOf(start.proc.pid!)
  expect(startChildren.length).toBeGreaterThan(0) // etcd

  // The page is served with COOP/COEP.
  const res = await fetch(demoUrl)
  expect(res.status).toBe(200)
  expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin')
  expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp')

  browser = await launchChromium()
  const [tab1, tab2] = await Promise.all([openTab(demoUrl, 'tab-one'), openTab(demoUrl, 'tab-two')])
  terminal = run([terminalScript], { REPJS_GATEWAY: cmd[1]!, REPJS_RUN: cmd[2]!, REPJS_NAME: 'term' }, 'pipe')
  await until('the terminal to join', () => terminal!.err.includes(`run '${runId}' as term`), 20_000, terminal)

  // Typed in tab 1, through the <repjs-prompt> input, like a person.
  const input = tab1.locator('repjs-prompt [part~=input]')
  await input.fill('set altitude 3000')
  await input.press('Enter')
  await until('the terminal to apply tab-one\'s line', () => terminal!.out.includes('#0 tab-one: set altitude 3000 → altitude 3000 ft'), 20_000, terminal)
  // Typed in the terminal.
  terminal.proc.stdin!.write('roll\n')
  const rolled = await until('the terminal to apply its roll', () => /#1 term: roll → rolled ([1-6]) .* state ([0-9a-f]{8})\n/.exec(terminal!.out), 20_000, terminal)
  const die = Number(rolled[1])
  const expected = hashState(applyCommand(applyCommand(initialState(), 'set altitude 3000', undefined, 'tab-one'), 'roll', die, 'term'))
  expect(rolled[2]).toBe(expected)

  for (const tab of [tab1, tab2]) {
    await tab.waitForFunction((h) => (window as unknown as DemoWin).repjsDemo.hash === h, expected, { timeout: 20_000 })
    expect(await text(tab, '#hash')).toBe(expected)
    expect(await text(tab, '#altitude')).toBe('3000')
    expect(await text(tab, '#roll')).toBe(String(die))
    // who typed each line: in the demo's command log and in the prompt's transcript
    expect(await commandLog(tab)).toEqual(['term: roll', 'tab-one: set altitude 3000'])
    expect(await transcript(tab)).toEqual(['tab-one: set altitude 3000', 'term: roll'])
    expect(await text(tab, '#replicas')).toMatch(/tab-one.*term|term.*tab-one/)
  }
  expect(await text(tab2, '#replicas')).toContain('tab-two (you)')

  // The agreed clock: at every tick both tabs saw, they show the same time.
  const ticks = async (tab: Page) => tab.evaluate(() => (window as unknown as DemoWin).repjsDemo.ticks)
  const first = Math.max(...(await Promise.all([tab1, tab2].map(async (t) => Number(await t.locator('#clock').getAttribute('data-tick'))))))
  for (const tab of [tab1, tab2]) {
    await tab.waitForFunction((n) => Number(document.getElementById('clock')!.dataset.tick) >= n, first + 2, { timeout: 10_000 })
  }
  const [t1, t2] = await Promise.all([ticks(tab1), ticks(tab2)])
  const shared = Object.keys(t1).filter((k) => k in t2).map(Number)
  expect(shared.length).toBeGreaterThanOrEqual(3)
  for (const k of shared) expect(t1[k], `tick ${k}`).toBe(t2[k])
  const shown = await tab1.locator('#clock').evaluate((el) => ({ tick: Number((el as HTMLElement).dataset.tick), text: el.textContent }))
  await tab2.waitForFunction((n) => (window as unknown as DemoWin).repjsDemo.ticks[n] !== undefined, shown.tick)
  expect(formatClock((await ticks(tab2))[shown.tick]!)).toBe(shown.text)
  // ticks are agreed whole seconds apart, never going back
  const times = shared.sort((a, b) => a - b).map((k) => t1[k]!)
  for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!)

  // SIGTERM: start stops vite, the gateway and etcd, and exits 0; the tabs see the gateway go.
  start.proc.kill('SIGTERM')
  const exit = await Promise.race([start.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))])
  expect(exit, start.err).toEqual({ code: 0, signal: null })
  expect(start.err).toContain('Stopped.')
  for (const pid of startChildren) expect(alive(pid), `child ${pid} of repjs start`).toBe(false)
  for (const port of [etcdPort, gatewayPort, webPort]) {
    await expect(fetch(`http://127.0.0.1:${port}/`).then(() => 'open', () => 'closed')).resolves.toBe('closed')
  }
  await tab1.waitForFunction(() => document.getElementById('status')!.dataset.state !== 'live', null, { timeout: 10_000 })

  // The terminal leaves cleanly on SIGTERM too.
  terminal.proc.kill('SIGTERM')
  expect(await terminal.exited).toEqual({ code: 0, signal: null })
}, 90_000)
