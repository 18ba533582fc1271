/**
 * `repjs start` (what `npm start` runs): the one-command local setup. A local etcd (data under
 * .repjs/etcd; `--members 3 [--profile P]`: a multi-member one, local-cluster.ts, its flags printed)
 * and a gateway on 127.0.0.1 (no tokens). In a checkout of the repository, the demo's part
 * (demo/serve.ts, loaded here when it is built and demo/ is present) adds the vite dev server for
 * the demo, then one line on stdout, `Demo: http://127.0.0.1:<port>/?run=<run>`; without the demo
 * the line is `Gateway: ws://...`. Everything else goes to stderr. Ctrl-C / SIGTERM stops them all
 * (vite and the gateway through their close APIs, etcd by PID) and exits. `repjs start --sample`
 * runs the demo's three-process sample instead.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { pino } from 'pino'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { freePort, portInUse, stopGracefully, type Cluster } from '../etcd/local-etcd.js'
import { startGateway, type Gateway } from '../gateway/server.js'
import { parse } from './args.js'
import { ensureTool } from './ensure-tool.js'
import { memberCount, startLocalCluster } from './local-cluster.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

export const DEFAULT_GATEWAY_PORT = 7420

/** What the demo adds to `repjs start` (demo/serve.ts implements it). */
export interface LocalDemo {
  /** The web server for the demo's page, told the gateway and the run. */
  startWeb(o: { gateway: string; run: string; port?: number; cacheDir: string }): Promise<{ url: string; close(): Promise<void> }>
  /** `repjs start --sample`: the three-process sample with its own etcd. */
  runSample(o: StartOptions): Promise<void>
}

/** The demo's part of `repjs start`, when the demo is here (a built checkout); undefined otherwise. */
async function loadDemo(): Promise<LocalDemo | undefined> {
  const serve = join(root, 'dist', 'demo', 'serve.js')
  if (!existsSync(serve) || !existsSync(join(root, 'demo', 'index.html')) || !existsSync(join(root, 'vite.config.ts'))) return undefined
  return (await import(pathToFileURL(serve).href)) as LocalDemo
}

export interface StartOptions {
  /** etcd client port (default 2379). */
  port: number
  /** etcd data directory (default .repjs/etcd); the demo's connection file goes beside it. */
  dataDir: string
  /** Gateway port; default 7420, or a free port if 7420 is taken. */
  gatewayPort?: number
  /** Web (vite) port of the demo; default 5173, or the next free one. */
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
  const demo = await loadDemo()
  if (opts.sample) {
    if (!demo) throw new RepJSError(ErrorCodes.SETUP, `the sample is not here (${join(root, 'demo')}); repjs start --sample runs it from a built checkout of the repjs repository`)
    return demo.runSample(opts)
  }
  if (!demo && opts.webPort !== undefined) {
    throw new RepJSError(ErrorCodes.SETUP, `--web-port serves the demo, which is not here (${join(root, 'demo')}): it is served from a built checkout of the repjs repository`)
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
      err(`\n${signal}: stopping ${demo ? 'the web server, ' : ''}the gateway and etcd ...`)
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
    if (!demo) {
      if (stopping) return
      process.stdout.write(`Gateway: ${gateway.url}\n`)
      err(
        `etcd: ${etcd.endpoints.join(',')}; the gateway on 127.0.0.1 needs no tokens (local development).\n` +
          `Run a script as a replica: npx repjs run --run ${run} --etcd ${etcd.endpoints.join(',')} script.js\n` +
          `or connect from code: connect({ run: '${run}', gateway: '${gateway.url}' }). Ctrl-C stops the gateway and etcd.`,
      )
      return
    }
    const vite = await demo.startWeb({ gateway: gateway.url, run, port: opts.webPort, cacheDir: join(dirname(opts.dataDir), 'vite') })
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
