// A replica on plaintext etcd never loads etcd3 or grpc-js (importing them costs ~250 ms in a fresh
// process), nor the WebSocket library (~80 ms; loaded on a first gateway connection), nor node:http2
// (its calls and watches share one hand-written HTTP/2 connection per endpoint): a fresh `node` process connects (a run with a TTL: its lease), makes calls (a run-once
// call too, whose lease is granted, kept alive and revoked; presence under a lease) and closes, and then lists every
// CommonJS module it loaded. And the leases of both transports: grant, keep-alive, time-to-live, revoke.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { useEtcd, uniqueRun } from '../helpers/etcd.js'

const etcd = useEtcd()

test('a fresh process connecting to plaintext etcd loads neither etcd3 nor grpc-js nor ws nor node:http2', async () => {
  const index = fileURLToPath(new URL('../../dist/node-gateway/index.js', import.meta.url))
  const script = `
    import { createRequire } from 'node:module'
    const { connect } = await import(${JSON.stringify(index)})
    const rep = await connect({ run: ${JSON.stringify(uniqueRun('cold'))}, etcd: ${JSON.stringify(etcd.endpoint)}, runTtlMs: 60000 })
    await rep.now()
    await rep.random()
    await rep.distributedLocked(() => 42, { name: 'once' })()
    await rep.close()
    const loaded = Object.keys(createRequire(import.meta.url).cache)
    const http2 = process.moduleLoadList.filter((m) => /http2/.test(m))
    console.log(JSON.stringify({ loaded: loaded.length, heavy: loaded.filter((p) => /node_modules[\\\\/](etcd3|@grpc|protobufjs|cockatiel|ws|isomorphic-ws)[\\\\/]/.test(p)), http2 }))
  `
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  )
  const res = JSON.parse(out.trim().split('\n').pop()!) as { loaded: number; heavy: string[]; http2: string[] }
  expect(res.loaded).toBeGreaterThan(0) // the listing works (cbor-x's native part is CommonJS)
  expect(res.heavy).toEqual([])
  expect(res.http2).toEqual([])
})

test.each(['http2', 'etcd3'] as const)('%s leases: grant, keep-alive, time to live, revoke; a revoked lease is reported lost', async (hotPath) => {
  const store = new EtcdStore({ endpoints: etcd.endpoints, hotPath })
  try {
    const t = store.transport
    expect(t.kind).toBe(hotPath)
    const id = await t.leaseGrant(5)
    expect(BigInt(id)).toBeGreaterThan(0n)
    const kept = t.keepLease(id, 5)
    await kept.ready
    const left = await t.leaseTimeToLive(id)
    expect(left.grantedSec).toBe(5)
    expect(left.ttlSec).toBeGreaterThan(3)
    // Revoked behind the keeper's back: its next keep-alive learns the lease is gone.
    const other = t.keepLease(await t.leaseGrant(1), 1)
    await other.ready
    await t.leaseRevoke(id)
    expect((await t.leaseTimeToLive(id)).ttlSec).toBe(-1)
    const lost = await new Promise<unknown>((resolve) => kept.signal.addEventListener('abort', () => resolve(kept.signal.reason), { once: true }))
    expect((lost as { code?: string }).code).toBe('REPJS_LEASE_LOST')
    // A 1 s lease kept alive outlives its TTL several times over, then revoke() deletes it.
    await new Promise((r) => setTimeout(r, 2500))
    expect(other.signal.aborted).toBe(false)
    await other.revoke()
    expect((await t.leaseTimeToLive(other.id)).ttlSec).toBe(-1)
  } finally {
    await store.close()
  }
})
