// Which web pages may open a gateway connection (issue 11, 2.3). Without a secret (what `npm start`
// runs) any page the developer has open could otherwise read and write every run on 127.0.0.1:
// only loopback page origins and clients without an Origin (not browsers) get in, unless
// `origins` / `--origin` says more. Real etcd, real gateways (in process and `repjs gateway`).
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createToken, startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { spawnGateway } from '../helpers/gateway.js'
import { helloFrame, openRaw, refusedUpgrade } from '../helpers/raw-gateway.js'

const quiet = pino({ level: 'silent' })
const FOREIGN = ['http://evil.example', 'https://evil.example:443', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example:5173', 'null', 'file://', 'http://192.168.1.20:5173']
const LOOPBACK = ['http://127.0.0.1:5173', 'http://localhost:3000', 'http://[::1]:8080', 'https://localhost', 'http://127.0.0.1']

let etcd: Cluster
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await etcd?.stop()
})

/** Open with `origin` (undefined: no Origin header), say hello, expect WELCOME. */
async function accepted(url: string, origin: string | undefined, token?: (run: string) => string): Promise<void> {
  const run = uniqueRun('origin')
  const c = await openRaw(url, { origin })
  c.sendRaw(helloFrame(run, token?.(run) ?? ''))
  await c.next((m) => m.type === 'welcome')
  c.close()
}

describe('a gateway without a secret', () => {
  let gw: Gateway
  beforeAll(async () => {
    gw = await startGateway({ etcd: etcd.endpoint, logger: quiet })
  })
  afterAll(async () => {
    await gw?.close()
  })

  test('refuses foreign page origins with 403 and says how to allow one', async () => {
    for (const origin of FOREIGN) {
      const r = await refusedUpgrade(gw.url, ['repjs.v1'], origin)
      expect(r.status, origin).toBe(403)
      expect(r.body, origin).toContain('--origin')
    }
  })

  test('accepts loopback page origins (any port, http or https) and clients without an Origin', async () => {
    for (const origin of [...LOOPBACK, undefined]) await accepted(gw.url, origin)
  })
})

test("origins widen the default: the listed ones get in, others not; '*' lets any page in", async () => {
  const listed = await startGateway({ etcd: etcd.endpoint, logger: quiet, origins: ['http://192.168.1.20:5173'] })
  const any = await startGateway({ etcd: etcd.endpoint, logger: quiet, origins: ['*'] })
  try {
    await accepted(listed.url, 'http://192.168.1.20:5173')
    expect((await refusedUpgrade(listed.url, ['repjs.v1'], 'http://evil.example')).status).toBe(403)
    for (const origin of FOREIGN) await accepted(any.url, origin)
  } finally {
    await listed.close()
    await any.close()
  }
})

test('with a secret, the token is the door: any origin is accepted by default', async () => {
  const secret = 'origin-test-secret'
  const g = await startGateway({ etcd: etcd.endpoint, logger: quiet, secret })
  try {
    await accepted(g.url, 'http://evil.example', (run) => createToken(secret, run))
  } finally {
    await g.close()
  }
})

test('repjs gateway: a foreign origin is refused by default and allowed with --origin', async () => {
  const plain = await spawnGateway(etcd.endpoint)
  const widened = await spawnGateway(etcd.endpoint, { args: ['--origin', 'http://192.168.1.20:5173'] })
  try {
    expect((await refusedUpgrade(plain.url, ['repjs.v1'], 'http://192.168.1.20:5173')).status).toBe(403)
    await accepted(plain.url, 'http://localhost:5173')
    await accepted(widened.url, 'http://192.168.1.20:5173')
  } finally {
    await plain.kill('SIGTERM')
    await widened.kill('SIGTERM')
  }
})
