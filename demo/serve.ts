/**
 * The demo's part of `repjs start` (node-gateway/cli/start.ts loads this module when the demo is
 * here, i.e. in a checkout of the repository): the vite dev server for demo/ (root vite.config.ts:
 * COOP/COEP headers) on 127.0.0.1, and `repjs start --sample`, three processes of demo/sample.mjs
 * side by side.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ErrorCodes, RepJSError } from '../core/errors.js'
import { startCluster, stopGracefully } from '../node-gateway/etcd/local-etcd.js'
import type { LocalDemo } from '../node-gateway/cli/start.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const sample = join(root, 'demo', 'sample.mjs')

export const DEFAULT_WEB_PORT = 5173

/** The vite dev server for demo/ on 127.0.0.1; its URL and how to close it. */
export const startWeb: LocalDemo['startWeb'] = async (o) => {
  // The page reads these as import.meta.env defaults (its ?gateway=&run= query wins).
  process.env.VITE_REPJS_GATEWAY = o.gateway
  process.env.VITE_REPJS_RUN = o.run
  const { createServer } = await import('vite')
  // Vite adds its own SIGTERM / stdin-end handlers that exit the process after closing only
  // itself; `repjs start` stops vite, the gateway and etcd together, so those handlers go.
  const sigterm = new Set(process.listeners('SIGTERM'))
  const stdinEnd = new Set(process.stdin.listeners('end'))
  const server = await createServer({
    configFile: join(root, 'vite.config.ts'),
    root: join(root, 'demo'),
    cacheDir: o.cacheDir,
    clearScreen: false,
    // Pre-bundled at start, so a tab's first load never triggers vite's "new dependencies, reload".
    optimizeDeps: { include: ['cbor-x', 'idb-keyval', 'isomorphic-ws'] },
    logLevel: process.env.REPJS_LOG_LEVEL === 'debug' ? 'info' : 'warn',
    server: { host: '127.0.0.1', port: o.port ?? DEFAULT_WEB_PORT, strictPort: o.port !== undefined },
  })
  for (const l of process.listeners('SIGTERM')) if (!sigterm.has(l)) process.off('SIGTERM', l)
  for (const l of process.stdin.listeners('end')) if (!stdinEnd.has(l)) process.stdin.off('end', l as () => void)
  await server.listen()
  const address = server.httpServer?.address()
  if (!address || typeof address === 'string') throw new RepJSError(ErrorCodes.SETUP, 'the vite dev server did not report its port')
  return { url: `http://127.0.0.1:${address.port}/`, close: () => server.close() }
}

function runReplica(label: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [sample], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      for (const line of d.split('\n').filter(Boolean)) process.stdout.write(`[${label}] ${line}\n`)
    })
    p.on('error', reject)
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new RepJSError(ErrorCodes.SETUP, `replica ${label} exited with ${code}`))))
  })
}

/** `repjs start --sample`: three replicas of demo/sample.mjs side by side; etcd stays up until Ctrl-C. */
export const runSample: LocalDemo['runSample'] = async (opts) => {
  process.stdout.write(`Starting etcd (data in ${opts.dataDir}) ...\n`)
  const etcd = await startCluster(1, { dataDir: opts.dataDir, clientPort: opts.port, fsync: true })
  const stop = async () => {
    await stopGracefully(etcd.members)
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const run = opts.run ?? `sample-${Date.now().toString(36)}`
  process.stdout.write(`etcd: ${etcd.endpoint}\nRunning 3 replicas of demo/sample.mjs on run '${run}':\n`)
  const env = { ...process.env, REPJS_ETCD: etcd.endpoint, REPJS_RUN: run }
  const outs = await Promise.all(['a', 'b', 'c'].map((l) => runReplica(l, env)))
  const same = outs.every((o) => o === outs[0])
  process.stdout.write(
    same ? 'All 3 replicas printed the same transcript.\n' : 'Replicas disagree: this is a bug, please report it.\n',
  )
  process.stdout.write(
    `\netcd stays up at ${etcd.endpoint}. Join the same run from another terminal:\n` +
      `  REPJS_ETCD=${etcd.endpoint} REPJS_RUN=${run} node demo/sample.mjs\n` +
      `(it replays the run and prints the same transcript). Ctrl-C stops etcd.\n`,
  )
}
