/**
 * `repjs start` (what `npm start` runs): a local etcd (data under .repjs/etcd; `--members 3
 * [--profile P]`: a multi-member one, local-cluster.ts, its flags printed), a gateway on
 * 127.0.0.1 (no tokens) and the vite dev server for the demo (demo/, COOP/COEP headers), then one
 * line on stdout, `Demo: http://127.0.0.1:<port>/?run=<run>`; everything else goes to stderr.
 * Ctrl-C / SIGTERM stops the three of them (vite and the gateway through their close APIs, etcd
 * by PID) and exits. `repjs start --sample` runs the earlier three-process sample instead.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { freePort, portInUse, startCluster, stopGracefully, type Cluster } from '../etcd/local-etcd.js'
import { startGateway, type Gateway } from '../gateway/server.js'
import { parse } from './args.js'
import { ensureTool } from './ensure-tool.js'
import { memberCount, startLocalCluster } from './local-cluster.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const sample = join(root, 'demo', 'sample.mjs')

export const DEFAULT_GATEWAY_PORT = 7420
export const DEFAULT_WEB_PORT = 5173

export interface StartOptions {
  /** etcd client port (default 2379). */
  port: number
  /** etcd data directory (default .repjs/etcd); the demo's connection file goes beside it. */
  dataDir: string
  /** Gateway port; default 7420, or a free port if 7420 is taken. */
  gatewayPort?: number
  /** Web (vite) port; default 5173, or the next free one. */
  webPort?: number
  /** Run id for the demo (default: a fresh one). */
  run?: string
  /** Run the three-replica sample (demo/sample.mjs) instead of the demo. */
  sample?: boolean
  /** etcd members (default 1): a local multi-member cluster (`repjs etcd`). */
  members?: number
  /** Raft timing profile of the cluster (profiles.ts). */
  profile?: string
}

const err = (m: string) => process.stderr.write(m + '\n')

/** Parse `repjs start` flags. */
export function startCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    port: { type: 'string', default: '2379' },
    data: { type: 'string', default: '.repjs/etcd' },
    'gateway-port': { type: 'string' },
    'web-port': { type: 'string' },
    run: { type: 'string' },
    sample: { type: 'boolean', default: false },
    members: { type: 'string', default: '1' },
    profile: { type: 'string' },
  })
  const num = (v: unknown, flag: string) => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--${flag} must be a port number, got '${String(v)}'`)
    return n
  }
  return start({
    port: num(values.port, 'port')!,
    dataDir: resolve(String(values.data)),
    gatewayPort: num(values['gateway-port'], 'gateway-port'),
    webPort: num(values['web-port'], 'web-port'),
    run: values.run === undefined ? undefined : String(values.run),
    sample: Boolean(values.sample),
    members: memberCount(values.members),
    profile: values.profile === undefined ? undefined : String(values.profile),
  })
}

export async function start(opts: StartOptions): Promise<void> {
  ensureTool('etcd')
  if (opts.run !== undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(opts.run)) {
    throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--run must be 1-128 of [A-Za-z0-9._-], got '${opts.run}'`)
  }
  if (await portInUse(opts.port)) {
    throw new RepJSError(ErrorCodes.SETUP, `port ${opts.port} is in use (another etcd? another npm start?). Stop it, or pick another port: npm start -- --port 23790`)
  }
  if (opts.sample) return startSample(opts)

  if (!existsSync(join(root, 'demo', 'index.html')) || !existsSync(join(root, 'vite.config.ts'))) {
    throw new RepJSError(ErrorCodes.SETUP, `the demo is not here (${join(root, 'demo')}); repjs start serves it from a checkout of the repjs repository`)
  }
  let gatewayPort = opts.gatewayPort ?? DEFAULT_GATEWAY_PORT
  if (await portInUse(gatewayPort)) {
    if (opts.gatewayPort !== undefined) {
      throw new RepJSError(ErrorCodes.SETUP, `gateway port ${gatewayPort} is in use; pick another: npm start -- --gateway-port 7421`)
    }
    gatewayPort = await freePort()
    err(`port ${DEFAULT_GATEWAY_PORT} is in use; the gateway takes ${gatewayPort} instead`)
  }

  err(`Starting etcd (data in ${opts.dataDir}) ...`)
  const etcd = await startLocalCluster({ members: opts.members ?? 1, profile: opts.profile, dataDir: opts.dataDir, port: opts.port, print: err })
  let gateway: Gateway | undefined
  let web: { close(): Promise<void> } | undefined
  const connFile = join(dirname(opts.dataDir), 'demo.json')

  let stopping: Promise<void> | undefined
  const stop = (signal: string) => {
    stopping ??= (async () => {
      err(`\n${signal}: stopping the web server, the gateway and etcd ...`)
      // Kept referenced: the process stays up until everything is stopped or this fires.
      setTimeout(() => {
        err('repjs start: shutdown took over 10 s; exiting (etcd is killed with this process)')
        process.exit(1)
      }, 10_000)
      await web?.close().catch((e: unknown) => err(`vite: ${String(e)}`))
      await gateway?.close().catch((e: unknown) => err(`gateway: ${String(e)}`))
      await stopEtcd(etcd)
      rmSync(connFile, { force: true })
      err('Stopped.')
      process.exit(0)
    })()
    return stopping
  }
  process.once('SIGINT', () => void stop('SIGINT'))
  process.once('SIGTERM', () => void stop('SIGTERM'))

  try {
    gateway = await startGateway({
      etcd: etcd.endpoints,
      port: gatewayPort,
      host: '127.0.0.1',
      logger: pino({ name: 'repjs-gateway', level: process.env.REPJS_LOG_LEVEL ?? 'error' }, pino.destination({ dest: 2, sync: true })),
    })
    const run = opts.run ?? `flight-${Date.now().toString(36)}`
    const vite = await startWeb({ gateway: gateway.url, run, port: opts.webPort, cacheDir: join(dirname(opts.dataDir), 'vite') })
    web = vite
    if (stopping) return
    mkdirSync(dirname(connFile), { recursive: true })
    writeFileSync(connFile, JSON.stringify({ run, gateway: gateway.url, etcd: etcd.endpoints.join(','), demo: vite.url }, null, 2) + '\n')

    err(`Gateway: ${gateway.url} (local development: no tokens, 127.0.0.1 only)`)
    process.stdout.write(`Demo: ${vite.url}?run=${run}\n`)
    err(
      `Open the Demo address in two or more tabs: they share the prompt, the clock and the state.\n` +
        `Join from a terminal (another shell, in this folder):\n` +
        `  REPJS_GATEWAY=${gateway.url} REPJS_RUN=${run} npm run demo:terminal\n` +
        `Ctrl-C stops the web server, the gateway and etcd.`,
    )
  } catch (e) {
    await web?.close().catch(() => {})
    await gateway?.close().catch(() => {})
    await stopEtcd(etcd)
    throw e
  }
}

/** SIGTERM etcd by PID and wait for it (etcd flushes and exits); SIGKILL after 5 s. */
const stopEtcd = (etcd: Cluster) => stopGracefully(etcd.members)

/** The vite dev server for demo/ (root vite.config.ts: COOP/COEP headers), on 127.0.0.1. */
async function startWeb(o: { gateway: string; run: string; port?: number; cacheDir: string }): Promise<{ url: string; close(): Promise<void> }> {
  // The page reads these as import.meta.env defaults (its ?gateway=&run= query wins).
  process.env.VITE_REPJS_GATEWAY = o.gateway
  process.env.VITE_REPJS_RUN = o.run
  const { createServer } = await import('vite')
  // Vite adds its own SIGTERM / stdin-end handlers that exit the process after closing only
  // itself; this command stops vite, the gateway and etcd together, so those handlers go.
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
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`replica ${label} exited with ${code}`))))
  })
}

/** `repjs start --sample`: three replicas of demo/sample.mjs side by side; etcd stays up until Ctrl-C. */
async function startSample(opts: StartOptions): Promise<void> {
  process.stdout.write(`Starting etcd (data in ${opts.dataDir}) ...\n`)
  const etcd = await startCluster(1, { dataDir: opts.dataDir, clientPort: opts.port, fsync: true })
  const stop = async () => {
    await stopEtcd(etcd)
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
