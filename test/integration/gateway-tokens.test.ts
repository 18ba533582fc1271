// Tokens past HELLO (issue 11, 2.9): the gateway closes a connection whose token expires (4007,
// ERROR REPJS_UNAUTHORIZED retryable), and a replica whose `token` is a function (sync or async)
// gets a fresh one for every connection, so it outlives its tokens. A fixed token that expires
// stops the replica with REPJS_UNAUTHORIZED. Real etcd, a gateway with a secret, 2 s tokens.
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { CLOSE, type Messages } from '../../core/protocol.js'
import { createToken, startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect, type StatusState } from '../../node-gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { openHello } from '../helpers/raw-gateway.js'

const SECRET = 'gateway-tokens-test-secret'
let etcd: Cluster
let gw: Gateway
beforeAll(async () => {
  etcd = await startCluster(1)
  gw = await startGateway({ etcd: etcd.endpoint, secret: SECRET, logger: pino({ level: 'silent' }) })
})
afterAll(async () => {
  await gw?.close()
  await etcd?.stop()
})

/** A token valid for 1-2 s (exp is in whole seconds). */
const shortToken = (run: string) => createToken(SECRET, run, 2)

test('an open connection is closed with 4007 when its token expires, after an ERROR REPJS_UNAUTHORIZED (retryable)', async () => {
  const run = uniqueRun('exp')
  const token = shortToken(run)
  const exp = (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { exp: number }).exp * 1000
  const c = await openHello(gw.url, run, token)
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the connection outlived its token')), 5000).unref())
  const closed = await Promise.race([c.closed, timeout])
  expect(closed.code).toBe(CLOSE.TOKEN_EXPIRED)
  expect(Date.now()).toBeGreaterThanOrEqual(exp)
  expect(Date.now()).toBeLessThan(exp + 1000)
  const err = c.frames.find((f): f is Messages['error'] => f?.type === 'error')
  expect(err).toMatchObject({ id: 0, code: ErrorCodes.UNAUTHORIZED, retryable: true })
  expect(err!.message).toMatch(/expired/)
})

for (const kind of ['sync', 'async'] as const) {
  test(`a ${kind} token function: a fresh token per connection keeps the replica going across expiries`, async () => {
    const run = uniqueRun(`fn-${kind}`)
    let asked = 0
    const token = kind === 'sync' ? () => (asked++, shortToken(run)) : async () => (asked++, await Promise.resolve(shortToken(run)))
    const rep = await connect({ run, gateway: gw.url, token, program: 'tokens' })
    const states: StatusState[] = []
    rep.on('status', (s) => states.push(s.state))
    const f = rep.distributed((i: number) => i * 2, { name: 'f' })
    // Calls keep being made until the replica has needed three tokens (two expiries).
    let i = 0
    while (asked < 3) expect(await f(i)).toBe(2 * i++)
    for (let k = 0; k < 5; k++) expect(await f(i)).toBe(2 * i++)
    expect(states).toContain('reconnecting')
    expect(rep.status.state).toBe('live')
    await rep.close()
  }, 20_000)
}

test('a token function that fails is asked again (status reconnecting names the failure)', async () => {
  const run = uniqueRun('fn-fails')
  let asked = 0
  const token = async () => {
    if (++asked === 2) throw new Error('token service down')
    return shortToken(run)
  }
  const rep = await connect({ run, gateway: gw.url, token, program: 'tokens' })
  const reasons: string[] = []
  rep.on('status', (s) => reasons.push(s.reason ?? ''))
  const f = rep.distributed((i: number) => i, { name: 'f' })
  let i = 0
  while (asked < 3) expect(await f(i)).toBe(i++)
  expect(await f(i)).toBe(i)
  expect(reasons.some((r) => r.includes('token service down'))).toBe(true)
  await rep.close()
}, 20_000)

test('a fixed token that expires stops the replica with REPJS_UNAUTHORIZED', async () => {
  const run = uniqueRun('fixed')
  const rep = await connect({ run, gateway: gw.url, token: shortToken(run), program: 'tokens' })
  const f = rep.distributed((i: number) => i, { name: 'f' })
  expect(await f(0)).toBe(0)
  // Calls go on until the first one fails (a call in flight then may see REPJS_CLOSED); the next says why.
  let i = 1
  await (async () => {
    for (;; i++) await f(i)
  })().catch(() => {})
  const err = await f(i + 1).catch((e: unknown) => e)
  expect(RepJSError.is(err, ErrorCodes.UNAUTHORIZED), String(err)).toBe(true)
  expect((err as RepJSError).message).toMatch(/expired/)
  expect(rep.status.state).toBe('closed')
  await rep.close()
}, 20_000)
