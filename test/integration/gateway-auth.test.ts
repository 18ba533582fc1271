// Who gets in: run tokens (missing, expired, forged, malformed, another run's), the subprotocol
// version and Origin checks at the upgrade, the 127.0.0.1-only default without a secret, and the
// gateway's HTTP side (/health, /metrics). Real etcd, raw `ws` clients and real replicas.
import { connect as netConnect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { CLOSE, type Messages } from '../../core/protocol.js'
import { createToken, startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect } from '../../node-gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { helloFrame, httpUrl, metric, openHello, openRaw, rawRecord, refusedUpgrade, until } from '../helpers/raw-gateway.js'

const SECRET = 'gateway-auth-test-secret'
const quiet = pino({ level: 'silent' })

let etcd: Cluster
let gw: Gateway
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, secret: SECRET, logger: quiet })
})
afterAll(async () => {
  await gw?.close()
  await etcd?.stop()
})

/** Hello with `token`; expect an ERROR frame (id 0) and the close code. */
async function refusedHello(run: string, token: string): Promise<{ error: Messages['error']; code: number; reason: string }> {
  const c = await openRaw(gw.url)
  c.sendRaw(helloFrame(run, token))
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the gateway did not close the connection')), 10_000).unref())
  const { code, reason } = await Promise.race([c.closed, timeout])
  const errors = c.frames.filter((f): f is Messages['error'] => f?.type === 'error')
  expect(errors, `frames: ${JSON.stringify(c.frames.map((f) => f?.type))}`).toHaveLength(1)
  expect(c.frames.some((f) => f?.type === 'welcome')).toBe(false)
  return { error: errors[0]!, code, reason }
}

describe('run tokens', () => {
  test('a missing token is refused with REPJS_UNAUTHORIZED and close 4001', async () => {
    const run = uniqueRun('auth')
    const r = await refusedHello(run, '')
    expect(r.error).toMatchObject({ id: 0, code: ErrorCodes.UNAUTHORIZED, retryable: false })
    expect(r.error.message).toContain(`repjs token --run ${run}`)
    expect(r.code).toBe(CLOSE.UNAUTHORIZED)
  })

  test('an expired token is refused with 4001', async () => {
    const run = uniqueRun('auth')
    const token = createToken(SECRET, run, 60, Date.now() - 3600_000)
    const r = await refusedHello(run, token)
    expect(r.error.code).toBe(ErrorCodes.UNAUTHORIZED)
    expect(r.error.message).toMatch(/expired/)
    expect(r.code).toBe(CLOSE.UNAUTHORIZED)
  })

  test('forged tokens (other secret, edited payload, edited signature) are refused with 4001', async () => {
    const run = uniqueRun('auth')
    const good = createToken(SECRET, run)
    const [payload, sig] = good.split('.') as [string, string]
    const otherRunPayload = Buffer.from(JSON.stringify({ run, exp: Math.floor(Date.now() / 1000) + 999_999 })).toString('base64url')
    const flipped = sig.slice(0, -2) + (sig.at(-2) === 'A' ? 'B' : 'A') + sig.at(-1)
    for (const token of [createToken('another-secret', run), `${otherRunPayload}.${sig}`, `${payload}.${flipped}`, `${payload}.${sig}x`]) {
      const r = await refusedHello(run, token)
      expect(r.error.code, token).toBe(ErrorCodes.UNAUTHORIZED)
      expect(r.code, token).toBe(CLOSE.UNAUTHORIZED)
    }
  })

  test('malformed tokens are refused with 4001', async () => {
    const run = uniqueRun('auth')
    const good = createToken(SECRET, run)
    for (const token of ['garbage', '.', 'a.', '.b', 'a.b.c', `${good}.extra`, '\u0000\u00ff', 'é'.repeat(2000)]) {
      const r = await refusedHello(run, token)
      expect(r.error.code, token).toBe(ErrorCodes.UNAUTHORIZED)
      expect(r.code, token).toBe(CLOSE.UNAUTHORIZED)
    }
  })

  test('a token for another run is refused with 4002', async () => {
    const runA = uniqueRun('auth-a')
    const runB = uniqueRun('auth-b')
    const r = await refusedHello(runB, createToken(SECRET, runA))
    expect(r.error.code).toBe(ErrorCodes.UNAUTHORIZED)
    expect(r.error.message).toContain(runA)
    expect(r.code).toBe(CLOSE.FORBIDDEN_RUN)
  })

  test('a close reason stays a valid WebSocket close reason for any run named in a token', async () => {
    // A token signed for a run with a long non-ASCII id (the gateway never checks what it signs).
    const runB = uniqueRun('auth-b')
    const r = await refusedHello(runB, createToken(SECRET, 'ü'.repeat(200)))
    expect(r.code).toBe(CLOSE.FORBIDDEN_RUN)
    expect(Buffer.byteLength(r.reason)).toBeLessThanOrEqual(123)
  })

  test('a valid token works end to end; the same token for another run is refused', async () => {
    const run = uniqueRun('auth-ok')
    const token = createToken(SECRET, run)
    const direct = await connect({ run, etcd: etcd.endpoint, program: 'auth' })
    const viaGw = await connect({ run, gateway: gw.url, token, program: 'auth' })
    const script = async (rep: typeof direct) => {
      const out: unknown[] = []
      for (let i = 0; i < 5; i++) out.push(await rep.now(), await rep.distributed(() => Math.random(), { name: 'r' })())
      return out
    }
    const a = await script(viaGw)
    expect(await script(direct)).toEqual(a)

    const other = uniqueRun('auth-other')
    const err = await connect({ run: other, gateway: gw.url, token, program: 'auth' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(RepJSError.is(err, ErrorCodes.UNAUTHORIZED), String(err)).toBe(true)
    expect((err as RepJSError).message).toContain(run)

    const expired = await connect({ run, gateway: gw.url, token: createToken(SECRET, run, 1, Date.now() - 10_000), program: 'auth' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(RepJSError.is(expired, ErrorCodes.UNAUTHORIZED), String(expired)).toBe(true)
    await Promise.all([viaGw.close(), direct.close()])
  })
})

describe('upgrade checks', () => {
  test('a client offering neither repjs.v1 nor repjs.v2 is refused with 400 naming both', async () => {
    for (const protocols of [[], ['repjs.v3'], ['repjs.v0', 'chat']]) {
      const r = await refusedUpgrade(gw.url, protocols)
      expect(r.status, JSON.stringify(protocols)).toBe(400)
      expect(r.body).toContain('repjs.v1')
      expect(r.body).toContain('repjs.v2')
    }
    // The best one offered is selected: v2 over v1, whatever the order; v1 alone stays v1.
    for (const [protocols, selected] of [[['repjs.v2', 'repjs.v1'], 'repjs.v2'], [['repjs.v1', 'repjs.v2'], 'repjs.v2'], [['repjs.v2'], 'repjs.v2'], [['repjs.v3', 'repjs.v1'], 'repjs.v1']] as const) {
      const c = await openRaw(gw.url, { protocols: [...protocols] })
      expect(c.ws.protocol, JSON.stringify(protocols)).toBe(selected)
      c.close()
    }
  })

  test('with origins set, another Origin is refused with 403 and the allowed one accepted', async () => {
    const g = await startGateway({ etcd: etcd.endpoint, secret: SECRET, origins: ['http://good.example'], logger: quiet })
    try {
      const r = await refusedUpgrade(g.url, ['repjs.v1'], 'http://evil.example')
      expect(r.status).toBe(403)
      expect(r.body).toContain('http://evil.example')
      const run = uniqueRun('origin')
      const ok = await openRaw(g.url, { origin: 'http://good.example' })
      ok.sendRaw(helloFrame(run, createToken(SECRET, run)))
      await ok.next((m) => m.type === 'welcome')
      ok.close()
      const text = await (await fetch(`${httpUrl(g.url)}/metrics`)).text()
      expect(metric(text, 'repjs_gateway_refused_total{reason="origin"}')).toBe(1)
    } finally {
      await g.close()
    }
  })

  test('refused upgrades whose client vanishes do not take the gateway down', async () => {
    // Write an upgrade the gateway refuses and reset the connection at once, many times.
    for (let i = 0; i < 50; i++) {
      await new Promise<void>((resolve) => {
        const s = netConnect(gw.port, '127.0.0.1', () => {
          s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: repjs.v2\r\n\r\n`)
          s.resetAndDestroy()
          resolve()
        })
        s.on('error', () => resolve())
      })
    }
    expect((await fetch(`${httpUrl(gw.url)}/health`)).status).toBe(200)
  })

  test('without a secret the gateway listens on 127.0.0.1 only, even when asked for 0.0.0.0', async () => {
    const g = await startGateway({ etcd: etcd.endpoint, host: '0.0.0.0', logger: quiet })
    const withSecret = await startGateway({ etcd: etcd.endpoint, host: '0.0.0.0', secret: SECRET, logger: quiet })
    try {
      expect(g.url).toBe(`ws://127.0.0.1:${g.port}`)
      const c = await openHello(g.url, uniqueRun('local'))
      c.close()
      const external = Object.values(networkInterfaces())
        .flat()
        .find((a) => a && !a.internal && a.family === 'IPv4')?.address
      if (external) {
        const reach = (port: number) =>
          new Promise<string>((resolve) => {
            const s = netConnect(port, external, () => {
              s.destroy()
              resolve('connected')
            })
            s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
          })
        expect(await reach(g.port)).toBe('ECONNREFUSED')
        expect(await reach(withSecret.port)).toBe('connected')
      }
    } finally {
      await g.close()
      await withSecret.close()
    }
  })
})

describe('HTTP endpoints', () => {
  test('GET /metrics is Prometheus text with the gateway metrics', async () => {
    const run = uniqueRun('metrics')
    const rep = await connect({ run, gateway: gw.url, token: createToken(SECRET, run), program: 'metrics' })
    await rep.distributed(() => 1, { name: 'm' })()
    const sub = await connect({ run, gateway: gw.url, token: createToken(SECRET, run), program: 'metrics' })
    await sub.distributed(() => 2, { name: 'm' })()
    const res = await fetch(`${httpUrl(gw.url)}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await res.text()
    for (const name of ['repjs_gateway_connections', 'repjs_gateway_proposals_total', 'repjs_gateway_decided_pushed_total', 'repjs_gateway_etcd_seconds']) {
      expect(text).toContain(`# TYPE ${name} `)
    }
    expect(metric(text, 'repjs_gateway_connections')).toBeGreaterThanOrEqual(2)
    expect(metric(text, 'repjs_gateway_proposals_total')).toBeGreaterThanOrEqual(1)
    expect(metric(text, 'repjs_gateway_etcd_seconds_count{op="propose"}')).toBeGreaterThanOrEqual(1)
    expect(metric(text, 'repjs_gateway_refused_total{reason="missing"}')).toBeGreaterThanOrEqual(1)
    await Promise.all([rep.close(), sub.close()])
    const notFound = await fetch(`${httpUrl(gw.url)}/nothing`)
    expect(notFound.status).toBe(404)
    expect(await notFound.text()).toContain('repjs.v1')
  })

  test('GET /health is 200 {ok:true} with etcd up and 503 once etcd is gone; requests made meanwhile are served after', async () => {
    const own = await startCluster(1)
    const g = await startGateway({ etcd: own.endpoint, secret: SECRET, logger: quiet })
    try {
      const up = await fetch(`${httpUrl(g.url)}/health`)
      expect(up.status).toBe(200)
      expect(await up.json()).toMatchObject({ ok: true })
      const run = uniqueRun('down')
      const c = await openHello(g.url, run, createToken(SECRET, run))

      await own.members[0]!.stop()
      // A subscription and a proposal while etcd is gone: no crash, an error for the proposal.
      c.send({ type: 'subscribe', sub: 1, stream: 'main', from: 0 })
      c.send({ type: 'propose', id: 1, stream: 'main', slot: 0, clearVotes: false, record: rawRecord({ run, stream: 'main', slot: 0 }, 1) })
      let last: { status: number; body: unknown } = { status: 0, body: undefined }
      await until(async () => {
        const res = await fetch(`${httpUrl(g.url)}/health`)
        last = { status: res.status, body: await res.json() }
        return res.status === 503
      }, 15_000, '/health to report 503')
      expect(last.body).toMatchObject({ ok: false })
      const failed = await c.next<Messages['error']>((m) => m.type === 'error' && m.id === 1, 15_000)
      expect(failed.retryable).toBe(true)

      await own.members[0]!.start()
      await until(async () => (await fetch(`${httpUrl(g.url)}/health`)).status === 200, 15_000, '/health to report 200 again')
      await c.next((m) => m.type === 'caughtUp' && m.sub === 1, 15_000)
      const second = new Uint8Array(rawRecord({ run, stream: 'main', slot: 0 }, 2))
      c.send({ type: 'propose', id: 2, stream: 'main', slot: 0, clearVotes: false, record: second })
      expect(await c.next((m) => m.type === 'decided' && m.id === 2)).toMatchObject({ won: true })
      const slots = await c.next<Messages['slots']>((m) => m.type === 'slots' && m.sub === 1)
      expect(slots).toMatchObject({ first: 0, records: [second] })
      expect(c.isClosed()).toBe(false)
      c.close()
    } finally {
      await g.close()
      await own.stop()
    }
  })
})
