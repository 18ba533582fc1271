// Hostile input against a gateway process while replicas of a run work through it: malformed and
// mutated frames, random bytes, oversized frames, HELLOs with another run's token, forged, expired
// or missing tokens, and well-formed requests on the fuzzer's own run. The gateway refuses them
// (closes with a 4xxx/1009 code) and keeps serving: it never crashes, the run's replicas finish and
// agree, and the run's log holds only what its replicas wrote. Seeded (REPJS_FAULTS_SEED replays
// the frames, timing aside). test/integration/gateway-fuzz.test.ts fuzzes an in-process gateway in depth.
import { expect, it } from 'vitest'
import { encodeMessage, type Message } from '../../core/protocol.js'
import { createToken } from '../../node-gateway/gateway/index.js'
import { spawnGateway } from '../helpers/gateway.js'
import { helloFrame, httpUrl, openRaw, type RawClient } from '../helpers/raw-gateway.js'
import { allExited, countSlots, createRun, report, rowOf, seeded, sized, startFaultCluster, type Rng } from './harness.js'

const SECRET = 'faults-hostile-secret'
const FRAMES = sized(5_000, 100_000)
const LANES = 16
const PER_CONNECTION = 60

function bytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256))
}

/** A client frame of any type with small or edge-case fields (often valid, sometimes not). */
function clientFrame(rng: Rng, stream: string): Message {
  const id = rng.int(50)
  const slot = rng.float() < 0.9 ? rng.int(30) : [2 ** 32, Number.MAX_SAFE_INTEGER, 999_999_999_999][rng.int(3)]!
  const frames: Message[] = [
    { type: 'ping', n: id },
    { type: 'subscribe', sub: id, stream, from: slot },
    { type: 'unsubscribe', sub: id },
    { type: 'propose', id, stream, slot, clearVotes: false, record: bytes(rng, rng.int(40)) },
    { type: 'vote', id, stream, slot, value: bytes(rng, rng.int(10)) },
    { type: 'awaitVotes', id, stream, slot, n: rng.int(5) },
    { type: 'acquire', id, stream, slot, ttlMs: [0, 1000, 2 ** 40][rng.int(3)]! },
    { type: 'release', lock: rng.int(5) },
    { type: 'cancel', id },
  ]
  return frames[rng.int(frames.length)]!
}

function mutate(rng: Rng, f: Uint8Array): Uint8Array {
  const out = Uint8Array.from(f)
  switch (rng.int(4)) {
    case 0:
      return f.subarray(0, rng.int(f.length))
    case 1:
      for (let k = 1 + rng.int(3); k > 0; k--) out[rng.int(out.length)]! ^= 1 + rng.int(255)
      return out
    case 2:
      return Uint8Array.from([...f, ...bytes(rng, 1 + rng.int(6))])
    default:
      out[0] = [0, 2, 24, 99, 127][rng.int(5)]!
      return out
  }
}

it(`hostile input: ${FRAMES} fuzz frames and foreign tokens against a gateway in use`, { timeout: sized(150_000, 900_000) }, async () => {
  const rng = seeded('hostile input')
  const c = await startFaultCluster(3)
  const run = createRun('hostile')
  const gw = await spawnGateway(c.endpoints.join(','), { env: { REPJS_GATEWAY_SECRET: SECRET } })
  try {
    const token = createToken(SECRET, run.run)
    const reps = await Promise.all([0, 1, 2].map(() => run.spawn({ gateway: [gw.url], token, ops: sized(40, 300), onceEvery: 8 })))
    const fuzzRun = `${run.run}-fuzz`
    const tokens = {
      other: createToken(SECRET, fuzzRun),
      forged: token.slice(0, -3) + (token.endsWith('AAA') ? 'BBB' : 'AAA'),
      expired: createToken(SECRET, run.run, 1, Date.now() - 3_600_000),
      missing: '',
      alien: createToken('another-secret', run.run),
    }
    let sent = 0
    let connections = 0
    const closes = new Map<number, number>()
    const lane = async () => {
      while (sent < FRAMES) {
        const kind = rng.int(4)
        let ws: RawClient
        try {
          ws = await openRaw(gw.url)
        } catch {
          continue // refused at the upgrade (a cap): that is a refusal too
        }
        connections++
        const send = (data: Uint8Array) => {
          if (ws.isClosed() || ws.ws.readyState !== ws.ws.OPEN) return false
          ws.sendRaw(data)
          sent++
          return true
        }
        if (kind === 0) {
          // Someone else's token, a forged, expired, missing or foreign-secret one, for the replicas' run.
          const pick = Object.values(tokens)[rng.int(5)]!
          send(helloFrame(run.run, pick, `intruder-${rng.int(1000)}`))
          send(encodeMessage({ type: 'propose', id: 1, stream: 'main', slot: rng.int(40), clearVotes: false, record: bytes(rng, 30) }))
        } else {
          // The fuzzer's own run (valid token): frames on it, some mutated, random or oversized.
          send(helloFrame(fuzzRun, tokens.other, `fuzzer-${rng.int(1000)}`))
          for (let k = 0; k < PER_CONNECTION && sent < FRAMES; k++) {
            const r = rng.float()
            const f = encodeMessage(clientFrame(rng, rng.float() < 0.9 ? 'main' : 'x/../y'))
            const frame = r < 0.6 ? f : r < 0.85 ? mutate(rng, f) : r < 0.99 ? bytes(rng, rng.int(64)) : new Uint8Array(1024 * 1024 + 1)
            if (!send(frame)) break
          }
        }
        ws.close()
        const closed = await ws.closed
        closes.set(closed.code, (closes.get(closed.code) ?? 0) + 1)
      }
    }
    await Promise.all(Array.from({ length: LANES }, lane))
    // The gateway is alive and serving, the replicas finished and agree.
    const health = await fetch(`${httpUrl(gw.url)}/health`)
    expect(health.ok).toBe(true)
    expect(gw.proc.exitCode).toBe(null)
    expect(await allExited(reps)).toEqual([0, 0, 0])
    const checked = await run.check(c.endpoints)
    const log = await run.etcdLog(c.endpoints)
    // Only the run's own replicas wrote into it.
    expect([...log.by].every((b) => reps.some((r) => r.id === b))).toBe(true)
    const codes = [...closes].sort((a, b) => a[0] - b[0]).map(([k, n]) => `${k}x${n}`).join(' ')
    report(rowOf('hostile input (fuzz, foreign tokens)', checked, countSlots(log.slots), sent), checked,
      `${sent} hostile frames over ${connections} connections (seed ${rng.seed}); closes by code: ${codes}; gateway healthy, 3 replicas through it finished; the run's log written only by its replicas`)
    expect(checked.violations).toEqual([])
  } finally {
    await run.stop()
    await gw.kill()
    await c.stop()
  }
})
