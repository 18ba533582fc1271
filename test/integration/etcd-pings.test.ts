// etcd's grpc-go server sends a bandwidth-estimation PING on the first DATA it receives while none
// is outstanding. The lean connection acknowledges PINGs HOLD_MS after they come (ping-acks.ts), so
// a loop of calls draws at most one PING per HOLD_MS instead of one per call, and every PING is
// still acknowledged. Real etcd, seen through a TCP proxy that reads the frames both ways.
import net from 'node:net'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { HOLD_MS } from '../../node-gateway/store/grpc/ping-acks.js'
import { KvClient } from '../../node-gateway/store/kv-client.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'

const PREFACE = 24 // 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
const PING = 6

let etcd: Cluster
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await etcd?.stop()
})

/** Calls `onFrame(type, flags, payload)` for each whole HTTP/2 frame in a byte stream, after `skip` bytes. */
function frameReader(skip: number, onFrame: (type: number, flags: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0)
  return (chunk) => {
    buf = Buffer.concat([buf, chunk])
    if (skip > 0) {
      const n = Math.min(skip, buf.length)
      buf = buf.subarray(n)
      skip -= n
    }
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const n = 9 + buf.readUIntBE(0, 3)
      onFrame(buf[3]!, buf[4]!, buf.subarray(9, n))
      buf = buf.subarray(n)
    }
  }
}

/** A proxy to etcd noting when each PING came from etcd and when each ack went back, by payload. */
async function pingWatch(port: number) {
  const pings: { payload: string; at: number }[] = []
  const acks: { payload: string; at: number }[] = []
  const sockets: net.Socket[] = []
  const proxy = net.createServer((client) => {
    const server = net.connect(port, '127.0.0.1')
    sockets.push(client, server)
    const fromServer = frameReader(0, (type, flags, payload) => {
      if (type === PING && !(flags & 1)) pings.push({ payload: payload.toString('hex'), at: performance.now() })
    })
    const fromClient = frameReader(PREFACE, (type, flags, payload) => {
      if (type === PING && flags & 1) acks.push({ payload: payload.toString('hex'), at: performance.now() })
    })
    server.on('data', (chunk: Buffer) => (fromServer(chunk), client.write(chunk)))
    client.on('data', (chunk: Buffer) => (fromClient(chunk), server.write(chunk)))
    for (const s of [client, server]) s.setNoDelay(true).on('error', () => {}).on('close', () => (client.destroy(), server.destroy()))
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  return {
    endpoint: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
    pings,
    acks,
    close: () => (sockets.forEach((s) => s.destroy()), proxy.close()),
  }
}

test('a loop of calls draws at most one PING from etcd per HOLD_MS, and each is acknowledged after HOLD_MS', async () => {
  const watch = await pingWatch(Number(new URL(etcd.endpoint).port))
  const kv = new KvClient({ endpoints: [watch.endpoint] })
  try {
    const prefix = `/pings/${uniqueRun()}/`
    await kv.txn({ compare: [], success: [{ request_put: { key: Buffer.from(`${prefix}warm`), value: Buffer.from('x') } }], failure: [] })
    const t0 = performance.now()
    const CALLS = 400
    for (let i = 0; i < CALLS; i++) {
      const key = Buffer.from(`${prefix}${i}`)
      const won = await kv.txn({ compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }], success: [{ request_put: { key, value: Buffer.from('v') } }], failure: [] })
      expect(won.succeeded).toBe(true)
    }
    const elapsed = performance.now() - t0
    // Every PING etcd sent is acknowledged (the last one within HOLD_MS of the loop's end).
    await expect.poll(() => watch.acks.length, { timeout: 2000 }).toBe(watch.pings.length)
    const during = watch.pings.filter((p) => p.at >= t0 && p.at <= t0 + elapsed).length
    // One PING per call when acks go out at once; here the next PING waits for the last one's ack
    // (libuv's whole-millisecond timers may fire up to ~1 ms early).
    expect(during).toBeLessThanOrEqual(Math.ceil(elapsed / (HOLD_MS - 1)) + 2)
    expect(during).toBeLessThan(CALLS / 4)
    for (const [i, ping] of watch.pings.entries()) {
      const ack = watch.acks[i]!
      expect(ack.payload).toBe(ping.payload)
      // Held, not sent at once (libuv's timers count whole milliseconds from the loop's cached time,
      // so a timer of HOLD_MS may fire up to ~1 ms sooner than HOLD_MS after the PING was read).
      expect(ack.at - ping.at).toBeGreaterThanOrEqual(HOLD_MS / 2)
      expect(ack.at - ping.at).toBeLessThan(1000)
    }
  } finally {
    kv.close()
    watch.close()
  }
})
