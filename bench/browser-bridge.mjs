/**
 * The browser half of the bridge measurement (issue 6's < 25 µs, printed by the benchmark since
 * issue 14): runInWorker's bridge in headless Chromium (playwright-core, REPJS_CHROMIUM or
 * /usr/bin/chromium), on the page of test/e2e/worker-pages (the e2e test's harness, served by vite
 * from source with COOP/COEP), through a `repjs gateway` process. A plain script in a Web Worker
 * makes `warm` then `n` Date.now() calls (each agreed through the bridge; the page times the `n`
 * from the arrival of its "start" line to its "end" line) against the page's own `warm` + `n`
 * awaited `rep.now()` (the async API, no worker): live, in `rounds` alternating rounds on fresh
 * runs, then each replaying its first run's log (no etcd round trip). Without Chromium the result
 * says so and nothing is measured.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ID, log, PROGRAM, withTimeout } from './lib.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PAGES = join(ROOT, 'test', 'e2e', 'worker-pages')
export const BROWSER_BRIDGE_TARGET_US = 25

/** The worker's script: `warm` untimed Date.now(), "start", `n` timed ones, "end <last value>". */
const script = (warm, n) =>
  `var last = 0\nfor (var w = 0; w < ${warm}; w++) last = Date.now()\nconsole.log('start')\nfor (var i = 0; i < ${n}; i++) last = Date.now()\nconsole.log('end ' + last)\n`

/** vite serving the e2e worker page, COOP/COEP on every response, and /bench-now/<warm>/<n>.js. */
async function servePage() {
  const { createServer } = await import('vite')
  const cacheDir = mkdtempSync(join(os.tmpdir(), 'repjs-bench-vite-'))
  const server = await createServer({
    configFile: false,
    root: PAGES,
    cacheDir,
    logLevel: 'warn',
    clearScreen: false,
    server: {
      host: '127.0.0.1',
      port: 0,
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
      fs: { allow: [ROOT] },
      hmr: false,
      watch: null,
    },
    optimizeDeps: { include: ['cbor-x', 'idb-keyval', 'isomorphic-ws'] },
    plugins: [{
      name: 'repjs-bench-now-script',
      configureServer(s) {
        s.middlewares.use((req, res, next) => {
          const m = /^\/bench-now\/(\d+)\/(\d+)\.js$/.exec((req.url ?? '').split('?')[0])
          if (!m) return next()
          res.setHeader('Content-Type', 'text/javascript; charset=utf-8')
          res.end(script(Number(m[1]), Number(m[2])))
        })
      },
    }],
  })
  await server.listen()
  const url = server.resolvedUrls?.local?.[0] ?? `http://127.0.0.1:${server.httpServer.address().port}/`
  return { url, close: async () => (await server.close(), rmSync(cacheDir, { recursive: true, force: true })) }
}

/** { missing } when Chromium or playwright-core is not there; otherwise the figures (µs per call). */
export async function browserBridge(gw, { n, warm, rounds }, timeoutMs) {
  const exe = process.env.REPJS_CHROMIUM ?? '/usr/bin/chromium'
  if (!existsSync(exe)) return { missing: `no Chromium at ${exe} (set REPJS_CHROMIUM)` }
  let chromium
  try {
    ;({ chromium } = await import('playwright-core'))
  } catch (err) {
    return { missing: `playwright-core is not installed (${err.message})` }
  }
  log(`\n[floor] runInWorker bridge in Chromium: a worker's ${n} Date.now() vs the page's ${n} awaited rep.now(), ${warm} warm-up each, ${rounds} alternating live round(s), then replay`)
  const t0 = performance.now()
  const page = await servePage()
  const profile = mkdtempSync(join(os.tmpdir(), 'repjs-bench-chromium-'))
  let context
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: exe,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    const tab = await context.newPage()
    tab.on('pageerror', (err) => log(`  page error: ${err.message}`))
    await tab.goto(page.url)
    await tab.waitForFunction(() => window.rw !== undefined && window.rw.crossOriginIsolated)
    const src = `/bench-now/${warm}/${n}.js`
    const worker = async (run) => {
      const f = await withTimeout(tab.evaluate(([u, o]) => window.rw.run(u, o), [src, { gateway: gw.url, run }]), timeoutMs, 'the worker script')
      if (f.exitCode !== 0 || f.at.length !== 2) throw new Error(`the worker script failed (exit ${f.exitCode}): ${f.stderr || f.error?.message}`)
      return { ms: f.at[1] - f.at[0], stdout: f.stdout }
    }
    const pageNow = (run) =>
      withTimeout(tab.evaluate(([o, w, k]) => window.rw.pageNow(o, w, k), [{ gateway: gw.url, run, program: PROGRAM }, warm, n]), timeoutMs, 'the page\'s rep.now() loop')
    const perCall = (ms) => (ms * 1000) / n
    const live = { worker: [], page: [] }
    const runs = { worker: `browser-worker-${ID}`, page: `browser-page-${ID}` }
    let first
    for (let r = 0; r < rounds; r++) {
      // Alternating which goes first, so drift hits both alike.
      const order = r % 2 ? ['page', 'worker'] : ['worker', 'page']
      for (const who of order) {
        const run = r === 0 ? runs[who] : `${runs[who]}-${r}`
        const res = who === 'worker' ? await worker(run) : await pageNow(run)
        if (r === 0 && who === 'worker') first = res.stdout
        live[who].push(perCall(res.ms))
      }
    }
    const pageReplay = perCall((await pageNow(runs.page)).ms)
    const wr = await worker(runs.worker)
    if (wr.stdout !== first) throw new Error('the worker replaying its run printed something else than it did live')
    const workerReplay = perCall(wr.ms)
    const bareUs = await tab.evaluate((k) => window.rw.bareRoundTrip(k), n)
    const median = (a) => {
      const x = [...a].sort((p, q) => p - q)
      return a.length % 2 ? x[a.length >> 1] : (x[a.length / 2 - 1] + x[a.length / 2]) / 2
    }
    const out = {
      n, warm, rounds,
      chromium: context.browser()?.version() ?? exe,
      live: { workerUs: median(live.worker), pageUs: median(live.page), workerEachUs: live.worker, pageEachUs: live.page },
      replay: { workerUs: workerReplay, pageUs: pageReplay },
      bareRoundTripUs: bareUs,
      targetUs: BROWSER_BRIDGE_TARGET_US,
    }
    out.addedLiveUs = out.live.workerUs - out.live.pageUs
    out.addedReplayUs = workerReplay - pageReplay
    out.meetsTarget = out.addedReplayUs < BROWSER_BRIDGE_TARGET_US
    log(`  live (median of ${rounds}): worker ${out.live.workerUs.toFixed(1)} µs/call, page ${out.live.pageUs.toFixed(1)} µs/call: the bridge adds ${out.addedLiveUs.toFixed(1)} µs`)
    log(`  replay: worker ${workerReplay.toFixed(1)} µs/call, page ${pageReplay.toFixed(1)} µs/call: the bridge adds ${out.addedReplayUs.toFixed(1)} µs  target < ${BROWSER_BRIDGE_TARGET_US} µs: ${out.meetsTarget ? 'yes' : 'NO'}`)
    log(`  mechanism alone (Atomics.wait in the worker, Atomics.waitAsync on the page): ${bareUs.toFixed(1)} µs per round trip; ${((performance.now() - t0) / 1000).toFixed(1)} s with Chromium's start and the page's load`)
    return out
  } finally {
    await context?.close().catch(() => {})
    await page.close().catch(() => {})
    rmSync(profile, { recursive: true, force: true })
  }
}
