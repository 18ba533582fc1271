/**
 * The RepJS gateway: WebSocket endpoint (protocol repjs.v1) in front of etcd, plus GET /health and
 * GET /metrics on the same port. Stateless about runs: everything durable is in etcd, so several
 * gateways can serve one run and clients fail over between them.
 */
import { randomBytes } from 'node:crypto'
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'
import type { Duplex } from 'node:stream'
import { pino, type Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { CLOSE, SUBPROTOCOL } from '../../core/protocol.js'
import { createEtcdStore, type EtcdStore } from '../store/etcd-store.js'
import { Hubs } from './hub.js'
import { createMetrics } from './metrics.js'
import { Peer, type PeerLimits } from './peer.js'

export interface GatewayOptions {
  /** etcd endpoint(s). */
  etcd: string | string[]
  port?: number
  /** Default 127.0.0.1; with no secret the gateway only ever listens on 127.0.0.1. */
  host?: string
  /** HMAC secret for run tokens. Without one, the gateway accepts connections without tokens. */
  secret?: string
  /** Allowed browser origins (the Origin header); empty = any. */
  origins?: string[]
  /** PEM certificate and key for wss://. */
  tls?: { cert: string | Buffer; key: string | Buffer }
  /** Largest frame accepted, bytes (default 1 MiB). */
  maxFrameBytes?: number
  limits?: Partial<PeerLimits>
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
  maxInFlight: 256, ratePerSecond: 5000, maxBufferedBytes: 8 * 1024 * 1024, maxSubscriptions: 1024, maxLocks: 1024,
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
  const store: EtcdStore = createEtcdStore({ endpoints: opts.etcd })
  const metrics = createMetrics()
  const hubs = new Hubs(store, (n) => metrics.runs.set(n))
  const gatewayId = randomBytes(4).toString('hex')
  const limits = { ...DEFAULT_LIMITS, ...opts.limits }
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes ?? 1024 * 1024, handleProtocols: () => SUBPROTOCOL })
  const ctx = { store, hubs, metrics, limits, secret, gatewayId, live: new Map<string, Peer>(), log }

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
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('RepJS gateway: connect with a WebSocket using subprotocol repjs.v1; GET /health, GET /metrics\n')
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
    if (!offered.includes(SUBPROTOCOL)) {
      metrics.refused.inc({ reason: 'version' })
      return refuseUpgrade(socket, 400, `unsupported protocol version (offered: ${offered.join(', ') || 'none'}); this gateway speaks ${SUBPROTOCOL}`)
    }
    const origin = req.headers.origin
    if (origin && opts.origins?.length && !opts.origins.includes(origin)) {
      metrics.refused.inc({ reason: 'origin' })
      return refuseUpgrade(socket, 403, `origin ${origin} is not allowed by this gateway`)
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      metrics.connections.inc()
      ws.on('close', () => metrics.connections.dec())
      new Peer(ws, ctx)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => resolve())
  })
  const port = (server.address() as { port: number }).port
  const url = `${opts.tls ? 'wss' : 'ws'}://${host}:${port}`
  log.info({ url, etcd: opts.etcd, tokens: secret ? 'required' : 'off', origins: opts.origins ?? 'any' }, 'gateway listening')

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
