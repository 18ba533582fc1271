/**
 * The RepJS gateway: WebSocket endpoint (protocol repjs.v1) in front of etcd, plus GET /health,
 * GET /metrics and GET /dashboard (dashboard.ts) on the same port. Stateless about runs: everything durable is in etcd, so several
 * gateways can serve one run and clients fail over between them.
 */
import { randomBytes } from 'node:crypto'
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'
import type { Duplex } from 'node:stream'
import { pino, type Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { CLOSE, SUBPROTOCOL, SUBPROTOCOL_V2 } from '../../core/protocol.js'
import { createEtcdStore, type EtcdStore } from '../store/etcd-store.js'
import { Hubs } from './hub.js'
import { DEFAULT_SHARED_LIMITS, Usage, type SharedLimits } from './limits.js'
import { DEFAULT_LIVENESS, type LivenessOptions } from './liveness.js'
import { createMetrics } from './metrics.js'
import { createDashboard } from './dashboard.js'
import { dashboardRuns } from './dashboard-runs.js'
import { Peer } from './peer.js'
import type { PeerLimits } from './peer-context.js'

export interface GatewayOptions {
  /** etcd endpoint(s). */
  etcd: string | string[]
  port?: number
  /** Default 127.0.0.1; with no secret the gateway only ever listens on 127.0.0.1. */
  host?: string
  /** HMAC secret for run tokens. Without one, the gateway accepts connections without tokens. */
  secret?: string
  /**
   * Allowed browser origins (the Origin header), e.g. 'https://app.example'; '*' allows any.
   * Default: with a secret, any origin; without one, only loopback pages (http(s)://127.0.0.1,
   * localhost or [::1], any port). Clients that send no Origin (not browsers) are always let in.
   */
  origins?: string[]
  /** PEM certificate and key for wss://. */
  tls?: { cert: string | Buffer; key: string | Buffer }
  /** Largest frame accepted, bytes (default 1 MiB). */
  maxFrameBytes?: number
  /** Per-connection, per-run and gateway-wide caps (REPJS_LIMIT; see PROTOCOL.md, Limits). */
  limits?: Partial<PeerLimits & SharedLimits>
  /** HELLO deadline and ping interval (default 10 s and 15 s). */
  liveness?: Partial<LivenessOptions>
  logger?: Logger
}

export interface Gateway {
  url: string
  port: number
  /** Stop accepting, close every client with GOING_AWAY so it reconnects elsewhere, stop. */
  close(): Promise<void>
  readonly connections: number
}

const DEFAULT_LIMITS: PeerLimits = {
  maxInFlight: 256, ratePerSecond: 5000, maxBufferedBytes: 8 * 1024 * 1024, maxSubscriptions: 1024, maxLocks: 1024, subscribesPerSecond: 50,
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])

/** A page served from this machine: http(s)://127.0.0.1, localhost or [::1], any port. */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin)
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_HOSTS.has(u.hostname)
  } catch {
    return false
  }
}

/** Which browser pages may connect (see GatewayOptions.origins). */
export function originPolicy(origins: string[] | undefined, secret: string | undefined): (origin: string) => boolean {
  if (origins?.includes('*')) return () => true
  if (origins?.length) return (o) => origins.includes(o)
  return secret ? () => true : isLoopbackOrigin
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  // Node's HTTP server stops watching an upgraded socket: without a listener, a client that resets
  // the connection while we answer would raise an uncaught ECONNRESET.
  socket.on('error', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`)
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.logger ?? pino({ name: 'repjs-gateway', level: process.env.REPJS_LOG_LEVEL ?? 'info' })
  const secret = opts.secret || undefined
  const host = secret ? (opts.host ?? '127.0.0.1') : '127.0.0.1'
  if (!secret && opts.host && opts.host !== '127.0.0.1') log.warn({ host: opts.host }, 'no secret set: listening on 127.0.0.1 only')
  if (!secret) log.warn('no secret set: accepting connections without tokens, on 127.0.0.1 only')
  const metrics = createMetrics()
  const store: EtcdStore = createEtcdStore({ endpoints: opts.etcd, onWatchCompacted: () => metrics.watchesCompacted.inc() })
  // The etcd3 client (health, dashboard, listings) is created on first use, loading etcd3 with a
  // synchronous require (~250 ms): a gateway pays that at start, not on its first /health probe
  // while it serves clients.
  void store.client
  const limits = { ...DEFAULT_LIMITS, ...DEFAULT_SHARED_LIMITS, ...opts.limits }
  const usage = new Usage(limits)
  const hubs = new Hubs(store, (n) => metrics.runs.set(n), limits)
  const gatewayId = randomBytes(4).toString('hex')
  const allowOrigin = originPolicy(opts.origins, secret)
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes ?? 1024 * 1024, handleProtocols: (offered) => (offered.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : SUBPROTOCOL) })
  const ctx = { store, hubs, metrics, limits, usage, liveness: { ...DEFAULT_LIVENESS, ...opts.liveness }, secret, gatewayId, live: new Map<string, Peer>(), log }
  const dashboard = createDashboard({ store, secret, gatewayId, runs: dashboardRuns(store, ctx.live) })
  dashboard.registerMetrics(metrics.registry)

  const respond = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/health') {
      const ok = await store.client.maintenance.status().then((s) => String(s.leader) !== '0', () => false)
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ ok, etcd: ok ? 'quorum' : 'unreachable or no leader', connections: wss.clients.size, streams: hubs.count }))
    }
    if (req.method === 'GET' && path === '/metrics') {
      const text = await metrics.registry.metrics()
      res.writeHead(200, { 'content-type': metrics.registry.contentType })
      return res.end(text)
    }
    if (await dashboard.handle(req, res)) return
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('RepJS gateway: connect with a WebSocket using subprotocol repjs.v2 or repjs.v1; GET /health, GET /metrics, GET /dashboard\n')
  }
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    respond(req, res).catch((err: unknown) => {
      log.warn({ err, url: req.url }, 'gateway HTTP request failed')
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end()
    })
  }
  const server: Server = opts.tls ? createHttps({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createHttp(handler)

  server.on('upgrade', (req, socket, head) => {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim())
    if (!offered.includes(SUBPROTOCOL) && !offered.includes(SUBPROTOCOL_V2)) {
      metrics.refused.inc({ reason: 'version' })
      return refuseUpgrade(socket, 400, `unsupported protocol version (offered: ${offered.join(', ') || 'none'}); this gateway speaks ${SUBPROTOCOL_V2} and ${SUBPROTOCOL}`)
    }
    const origin = req.headers.origin
    if (origin !== undefined && !allowOrigin(origin)) {
      metrics.refused.inc({ reason: 'origin' })
      const hint = secret || opts.origins?.length ? '' : ' (without a secret only pages on 127.0.0.1, localhost or [::1] may connect; allow others with --origin)'
      return refuseUpgrade(socket, 403, `origin ${origin} is not allowed by this gateway${hint}`)
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      metrics.connections.inc()
      ws.on('close', () => metrics.connections.dec())
      new Peer(ws, ctx, req.socket.remoteAddress ?? '')
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => resolve())
  })
  const port = (server.address() as { port: number }).port
  const url = `${opts.tls ? 'wss' : 'ws'}://${host}:${port}`
  log.info({ url, etcd: opts.etcd, tokens: secret ? 'required' : 'off', origins: opts.origins ?? (secret ? 'any' : 'loopback pages only') }, 'gateway listening')

  let closing: Promise<void> | undefined
  return {
    url,
    port,
    get connections() {
      return wss.clients.size
    },
    close() {
      closing ??= (async () => {
        server.close()
        for (const ws of wss.clients) ws.close(CLOSE.GOING_AWAY, 'gateway restarting: reconnect')
        const deadline = Date.now() + 2000
        while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        for (const ws of wss.clients) ws.terminate()
        wss.close()
        await store.close()
        log.info('gateway stopped')
      })()
      return closing
    },
  }
}
