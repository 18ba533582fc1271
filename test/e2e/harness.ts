/**
 * What the browser e2e tests run on: the test pages served by vite (from source, COOP/COEP headers)
 * and Debian's Chromium driven by playwright-core, with a fresh profile.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { createServer, type Plugin, type ViteDevServer } from 'vite'
import { freePort } from '../helpers/etcd.js'

export const repoRoot = resolve(import.meta.dirname, '../..')
export const CHROMIUM = process.env.REPJS_CHROMIUM ?? '/usr/bin/chromium'

export interface Pages {
  url: string
  close(): Promise<void>
}

export interface ServeOptions {
  /** Folder to serve (default test/e2e/pages). */
  root?: string
  /** Send COOP/COEP on every response (default true); false when a plugin decides per path. */
  isolated?: boolean
  plugins?: Plugin[]
}

/** Serve a test page folder with vite; pages import browser/ and core/ from source (fs.allow: the repo root). */
export async function servePages(opts: ServeOptions = {}): Promise<Pages> {
  const port = await freePort()
  const cacheDir = mkdtempSync(join(tmpdir(), 'repjs-e2e-vite-'))
  const server: ViteDevServer = await createServer({
    configFile: false,
    root: opts.root ?? join(repoRoot, 'test/e2e/pages'),
    cacheDir,
    logLevel: 'warn',
    clearScreen: false,
    server: {
      host: '127.0.0.1',
      port,
      strictPort: true,
      headers: opts.isolated === false ? {} : { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
      fs: { allow: [repoRoot] },
      hmr: false,
      watch: null,
    },
    optimizeDeps: { include: ['cbor-x', 'idb-keyval', 'isomorphic-ws'] },
    plugins: opts.plugins,
  })
  await server.listen()
  return {
    url: `http://127.0.0.1:${port}/`,
    async close() {
      await server.close()
      rmSync(cacheDir, { recursive: true, force: true })
    },
  }
}

export interface Browser {
  context: BrowserContext
  close(): Promise<void>
}

/** Headless Chromium with a fresh profile: its tabs share IndexedDB and Web Locks, like a user's tabs. */
export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'repjs-e2e-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 640, height: 480 },
  })
  return {
    context,
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** The gateway's repjs_gateway_decided_pushed_total (decided slots pushed to replicas). */
export async function slotsPushed(gatewayPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gatewayPort}/metrics`)).text()
  const m = /^repjs_gateway_decided_pushed_total (\d+)/m.exec(text)
  return m ? Number(m[1]) : 0
}

/** Wait until the counter stops moving (pushes to idle subscribers settle). */
export async function settledPushed(gatewayPort: number, quietMs = 250): Promise<number> {
  let last = await slotsPushed(gatewayPort)
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs))
    const now = await slotsPushed(gatewayPort)
    if (now === last) return now
    last = now
  }
}
