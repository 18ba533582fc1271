// Fuzz a running gateway: random bytes, mutated valid frames and valid-looking frames with huge or
// bogus values, over many short-lived raw connections to two gateways (one with a secret, one
// without). Meanwhile well-behaved replicas on both keep calling now() and distributed() and must
// agree with a direct etcd replica. Afterwards: /health answers, memory is bounded, only the
// well-behaved connections remain, no run-once lock is left behind, the well-behaved run holds only
// what its replicas wrote (fuzz connections reach it only with tokens for other runs or forged ones,
// which the gateway must refuse before anything is written), and every value the fuzz managed to
// store in its own runs decodes, as what it is stored as and for where it is stored: the gateway
// refuses garbage, misplaced records and records in another replica's name before writing them.
//
// Seeded: the seed is printed; REPJS_FUZZ_SEED=<seed> replays the same frames (timing aside).
// 10,000 frames by default, 100,000 with REPJS_LONG=1.
import { decodePresence } from '../../core/presence.js'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { pino } from 'pino'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { Xoshiro128 } from '../../core/prng.js'
import { CLOSE, decodeMessage, encodeMessage, SCHEMA, type Message, type Messages } from '../../core/protocol.js'
import { decodeMeta, decodeRecord, decodeVote, encodeRecord, encodeVote } from '../../core/record.js'
import { decodeSnapshot, encodeSnapshot } from '../../core/snapshot.js'
import { createToken, startGateway, type Gateway } from '../../node-gateway/gateway/index.js'
import { connect, createEtcdStore, type Replica } from '../../node-gateway/index.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { codec, helloFrame, httpUrl, metric, openRaw, until, type RawClient } from '../helpers/raw-gateway.js'

const LONG = Boolean(process.env.REPJS_LONG)
const FRAMES = Number(process.env.REPJS_FUZZ_FRAMES ?? (LONG ? 100_000 : 10_000))
const LANES = 200
const SEED = process.env.REPJS_FUZZ_SEED ? Number(process.env.REPJS_FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0
const SECRET = 'gateway-fuzz-secret'
const MAX_FRAME = 1024 * 1024
const PROGRAM = 'fuzz'

// ---------------------------------------------------------------------------------------------
// Seeded randomness

class Rnd {
  private x: Xoshiro128
  constructor(seed: number, lane: number) {
    this.x = new Xoshiro128([seed >>> 0, (seed ^ 0x9e3779b9) >>> 0, (lane * 0x85ebca6b + 1) >>> 0, 0x2545f491])
    for (let i = 0; i < 8; i++) this.x.nextUint32()
  }
  float(): number {
    return this.x.nextFloat()
  }
  int(n: number): number {
    return Math.floor(this.x.nextFloat() * n)
  }
  chance(p: number): boolean {
    return this.x.nextFloat() < p
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.x.nextUint32() & 0xff
    return out
  }
  /** Small most of the time, sometimes at the edges of varUint. */
  uint(): number {
    const r = this.float()
    if (r < 0.6) return this.int(8)
    if (r < 0.8) return this.int(1000)
    if (r < 0.9) return 2 ** (20 + this.int(33)) + this.int(1000)
    return this.pick([Number.MAX_SAFE_INTEGER, 2 ** 32, 2 ** 32 - 1, 999_999_999_999, 1_000_000_000_000, 2 ** 31])
  }
}

// ---------------------------------------------------------------------------------------------
// Frames

const CLIENT_TYPES = ['propose', 'subscribe', 'unsubscribe', 'vote', 'awaitVotes', 'cancel', 'acquire', 'markStarted', 'decideLocked', 'release', 'ping', 'attach', 'readSnapshot', 'writeSnapshot', 'collect'] as const
const SERVER_TYPES = ['welcome', 'decided', 'slots', 'caughtUp', 'voted', 'votes', 'acquired', 'ok', 'lockLost', 'pong', 'error', 'snapshot', 'collected'] as const
const CLIENT = new Set<string>([...CLIENT_TYPES])

interface LaneCtx {
  /** Streams the frames name for writes. */
  writable: string[]
  /** And for reads. */
  readable: string[]
  /** The connection's run and replica id: the records it sends mostly name them (the gateway checks). */
  run: string
  replica: string
}

const FUZZ_STREAMS = { writable: ['main', 'fz-a', 's1', 'x'.repeat(128)], readable: ['main', 'fz-a', 's1'] }

/** A record for (stream, slot) of the lane's run, mostly placed and signed right, sometimes not. */
function record(rnd: Rnd, ctx: LaneCtx, stream: string, slot: number): Uint8Array {
  const big = rnd.chance(0.01) ? 'z'.repeat(rnd.chance(0.2) ? 900 * 1024 : 100 * 1024) : ''
  const value = rnd.pick<unknown>([rnd.int(1000), `fuzz-${rnd.int(1e9)}`, null, [1, 2, 3], { a: rnd.float() }, big, -0, 2n ** 70n])
  const r = rnd.float()
  const at = {
    run: r < 0.03 ? rnd.pick(['fz-other', '']) : ctx.run,
    stream: r >= 0.03 && r < 0.06 ? rnd.pick(FUZZ_STREAMS.writable) : stream,
    slot: r >= 0.06 && r < 0.09 ? rnd.int(40) : slot,
  }
  const by = r >= 0.09 && r < 0.12 ? rnd.pick(['fuzzer', 'fz0', '']) : ctx.replica
  return encodeRecord(codec, at, { kind: rnd.pick(['call', 'now', 'random', 'once']), name: 'fuzz', argsHash: '-', site: '', by, ok: rnd.chance(0.9), value })
}

/** A record, or bytes that are not one: random, valid CBOR of the wrong shape, truncated, version 1. */
function maybeRecord(rnd: Rnd, ctx: LaneCtx, stream: string, slot: number): Uint8Array {
  const r = rnd.float()
  if (r < 0.55) return record(rnd, ctx, stream, slot)
  if (r < 0.7) return rnd.bytes(rnd.int(64))
  if (r < 0.8) return codec.encode(rnd.pick<unknown>([1, 'str', [1, 'call'], { x: 1 }, [2, 'call', 'f', 'h', 's', 'b', true, 1]]))
  if (r < 0.9) {
    const rec = record(rnd, ctx, stream, slot)
    return rec.subarray(0, rnd.int(rec.length))
  }
  if (r < 0.95) return codec.format.encode([1, 'call', 'f', 'h', 's', ctx.replica, true, 1])
  return codec.format.encode([2, ctx.run, stream, slot, 'call', 'f', 'h', 's', ctx.replica, true, { $type: 'Error' }])
}

/** A vote, mostly placed and cast right; or a plain value, or random bytes. */
function value(rnd: Rnd, ctx: LaneCtx, stream: string, slot: number): Uint8Array {
  const v = rnd.pick<unknown>([1, 'yes', [1, 2], null, 3.5])
  const r = rnd.float()
  if (r < 0.6) return encodeVote(codec, { run: ctx.run, stream, slot }, ctx.replica, v)
  if (r < 0.7) return encodeVote(codec, { run: ctx.run, stream, slot: slot + 1 }, rnd.pick([ctx.replica, 'fz0']), v)
  return r < 0.85 ? codec.encode(v) : rnd.bytes(rnd.int(40))
}

function validFrame(rnd: Rnd, ctx: LaneCtx): Message {
  const type = rnd.pick(CLIENT_TYPES)
  const id = rnd.uint()
  const wstream = rnd.chance(0.97) ? rnd.pick(ctx.writable) : rnd.pick(['', 'bad/stream', 'x'.repeat(200), 'é', '..', 'a b'])
  const rstream = rnd.chance(0.97) ? rnd.pick(ctx.readable) : rnd.pick(['', 'bad/stream', 'x'.repeat(200)])
  const slot = rnd.chance(0.85) ? rnd.int(40) : rnd.uint()
  const lock = rnd.chance(0.8) ? 1 + rnd.int(4) : rnd.uint()
  switch (type) {
    case 'propose':
      return { type, id, stream: wstream, slot, clearVotes: rnd.chance(0.2), record: maybeRecord(rnd, ctx, wstream, slot) }
    case 'subscribe':
      return { type, sub: rnd.chance(0.8) ? rnd.int(6) : rnd.uint(), stream: rstream, from: rnd.chance(0.8) ? rnd.int(20) : rnd.uint() }
    case 'unsubscribe':
      return { type, sub: rnd.chance(0.8) ? rnd.int(6) : rnd.uint() }
    case 'vote':
      return { type, id, stream: wstream, slot, value: value(rnd, ctx, wstream, slot) }
    case 'awaitVotes':
      return { type, id, stream: rstream, slot, n: rnd.chance(0.7) ? rnd.int(4) : rnd.uint() }
    case 'cancel':
      return { type, id: rnd.chance(0.5) ? rnd.int(8) : id }
    case 'acquire':
      return { type, id, stream: wstream, slot, ttlMs: rnd.pick([0, 1, 1000, 5000, 60_000, Number.MAX_SAFE_INTEGER]) }
    case 'markStarted':
      return { type, id, lock, marker: maybeRecord(rnd, ctx, wstream, slot) }
    case 'decideLocked':
      return { type, id, lock, record: maybeRecord(rnd, ctx, wstream, slot) }
    case 'release':
      return { type, lock }
    case 'ping':
      return { type, n: rnd.uint() }
    case 'attach':
      return { type, id, stream: wstream, slot, lock }
    case 'readSnapshot':
      return { type, id, stream: rstream }
    case 'writeSnapshot':
      return { type, id, stream: wstream, slot, snapshot: rnd.chance(0.5) ? encodeSnapshot(codec, { run: ctx.run, stream: wstream, slot }, rnd.pick<unknown>([1, 'x', [1, 2], null])) : maybeRecord(rnd, ctx, wstream, slot) }
    case 'collect':
      return { type, id, stream: wstream, below: slot }
  }
}

function serverFrame(rnd: Rnd): Uint8Array {
  const type = rnd.pick(SERVER_TYPES)
  const fields: Record<string, unknown> = { type }
  for (const [name, t] of SCHEMA[type].fields) {
    fields[name] = t === 'uint' ? rnd.uint() : t === 'str' ? 'x' : t === 'bool' ? rnd.chance(0.5) : t === 'list' ? [rnd.bytes(3)] : rnd.bytes(rnd.int(10))
  }
  return encodeMessage(fields as unknown as Message)
}

function varint(n: bigint): number[] {
  const out: number[] = []
  do {
    let b = Number(n & 0x7fn)
    n >>= 7n
    if (n > 0n) b |= 0x80
    out.push(b)
  } while (n > 0n)
  return out
}

function mutate(rnd: Rnd, f: Uint8Array): Uint8Array {
  const bytes = Array.from(f)
  switch (rnd.int(8)) {
    case 0: // truncate
      return f.subarray(0, rnd.int(f.length))
    case 1: // extend
      return Uint8Array.from([...bytes, ...rnd.bytes(1 + rnd.int(8))])
    case 2: {
      // flip bytes
      for (let k = 1 + rnd.int(4); k > 0; k--) bytes[rnd.int(bytes.length)]! ^= 1 + rnd.int(255)
      return Uint8Array.from(bytes)
    }
    case 3: {
      // a bad varint somewhere: overlong, too long, beyond 2^53
      const bad = rnd.pick([[0x80, 0x00], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], varint(2n ** 53n), varint(2n ** 60n)])
      const at = rnd.int(bytes.length + 1)
      bytes.splice(at, rnd.chance(0.5) ? 1 : 0, ...bad)
      return Uint8Array.from(bytes)
    }
    case 4: {
      // an oversized length prefix for a field
      const at = 1 + rnd.int(Math.max(1, bytes.length - 1))
      bytes.splice(at, 0, ...varint(BigInt(rnd.pick([0x7fffffff, 2 ** 40, Number.MAX_SAFE_INTEGER, 70_000, bytes.length + 1]))))
      return Uint8Array.from(bytes.slice(0, at + 9))
    }
    case 5: // unknown type
      bytes[0] = rnd.pick([0, 24, 25, 99, 127])
      return Uint8Array.from(bytes)
    case 6: // another (known) type's number over this payload
      bytes[0] = 1 + rnd.int(23)
      return Uint8Array.from(bytes)
    default: // a duplicate frame glued on
      return Uint8Array.from([...bytes, ...bytes])
  }
}

type Fuzz = { kind: string; data: Uint8Array | string }

function fuzzFrame(rnd: Rnd, ctx: LaneCtx): Fuzz {
  const r = rnd.float()
  if (r < 0.1) return { kind: 'random', data: rnd.bytes(rnd.chance(0.95) ? rnd.int(64) : rnd.int(4000)) }
  if (r < 0.4) return { kind: 'mutated', data: mutate(rnd, encodeMessage(validFrame(rnd, ctx))) }
  if (r < 0.92) return { kind: 'valid', data: encodeMessage(validFrame(rnd, ctx)) }
  if (r < 0.96) return { kind: 'server', data: serverFrame(rnd) }
  if (r < 0.98) return { kind: 'text', data: rnd.pick(['', 'hello', '{"type":"ping"}', '\u0001\u0015']) }
  if (r < 0.998) return { kind: 'hello-again', data: helloFrame('fz-again', '') }
  return { kind: 'oversize', data: new Uint8Array(MAX_FRAME + 1 + rnd.int(1000)) }
}

/** What the gateway must do with a frame on a connection past WELCOME. */
function expected(f: Fuzz): 'open' | 4000 | 1009 {
  if (typeof f.data === 'string') return 4000
  if (f.data.length > MAX_FRAME) return 1009
  let m: Message
  try {
    m = decodeMessage(f.data)
  } catch {
    return 4000
  }
  return CLIENT.has(m.type) ? 'open' : 4000
}

// ---------------------------------------------------------------------------------------------

let etcd: Cluster
let gwSecret: Gateway
let gwOpen: Gateway
const quiet = pino({ level: 'silent' })
beforeAll(async () => {
  etcd = await startCluster(1)
  gwSecret = await startGateway({ etcd: etcd.endpoint, secret: SECRET, logger: quiet })
  gwOpen = await startGateway({ etcd: etcd.endpoint, logger: quiet })
})
afterAll(async () => {
  await gwSecret?.close()
  await gwOpen?.close()
  await etcd?.stop()
})

async function health(g: Gateway): Promise<{ status: number; body: { ok: boolean; connections: number; streams: number } }> {
  const res = await fetch(`${httpUrl(g.url)}/health`)
  return { status: res.status, body: (await res.json()) as { ok: boolean; connections: number; streams: number } }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`hang: ${what} took over ${ms} ms`)), ms)
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    )
  })
}

test(`fuzzing with ${FRAMES} frames over short-lived connections leaves the gateway healthy and the log clean`, async () => {
  console.log(`gateway fuzz: seed ${SEED} (replay with REPJS_FUZZ_SEED=${SEED}), ${FRAMES} frames over ${LANES} lanes`)
  const good = uniqueRun('fz-good')
  const fuzzRuns = [0, 1, 2].map((i) => `fz-${SEED}-${i}`)
  const tokens = new Map([good, ...fuzzRuns].map((r) => [r, createToken(SECRET, r)]))

  // Well-behaved replicas: one per gateway, and a direct one to compare with.
  const ids = ['good-direct', 'good-secret', 'good-open']
  const direct = await connect({ run: good, etcd: etcd.endpoint, program: PROGRAM, replicaId: ids[0] })
  const viaSecret = await connect({ run: good, gateway: gwSecret.url, token: tokens.get(good), program: PROGRAM, replicaId: ids[1] })
  const viaOpen = await connect({ run: good, gateway: gwOpen.url, program: PROGRAM, replicaId: ids[2] })
  const base = { secret: (await health(gwSecret)).body, open: (await health(gwOpen)).body }
  expect(base.secret.connections).toBe(1)
  expect(base.open.connections).toBe(1)

  let fuzzing = true
  const behave = async (rep: Replica) => {
    const out: unknown[] = []
    const f = rep.distributed(() => Math.random(), { name: 'x' })
    while (fuzzing) {
      out.push(await withTimeout(rep.now(), 15_000, 'now() through the gateway'))
      out.push(await withTimeout(f(), 15_000, 'distributed() through the gateway'))
    }
    return out
  }
  const behaving = [behave(viaSecret), behave(viaOpen)]

  // A forced GC makes the numbers tighter when the process has one (NODE_OPTIONS=--expose-gc).
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
  gc()
  const heapBefore = process.memoryUsage().heapUsed
  const stats = { connections: 0, frames: 0, checked: 0, kinds: {} as Record<string, number>, closes: {} as Record<string, number> }
  const problems: string[] = []
  const loopDelay = monitorEventLoopDelay({ resolution: 20 })
  loopDelay.enable()
  const allowedCloses = new Set([1000, CLOSE.TOO_BIG, CLOSE.PROTOCOL_ERROR, CLOSE.UNAUTHORIZED, CLOSE.FORBIDDEN_RUN])

  const lane = async (i: number, quota: number) => {
    const rnd = new Rnd(SEED, i)
    let sent = 0
    // Sentinel pings: numbers the fuzz frames themselves practically never use.
    let ping = 3_000_000_000_000_000 + i * 1_000_000
    while (sent < quota) {
      const g = rnd.chance(0.5) ? gwSecret : gwOpen
      // An intruder: the well-behaved run with a token that is not for it (only the gateway with a
      // secret can keep anyone out). Everything it sends must be refused.
      const intruder = g === gwSecret && rnd.chance(0.1)
      const run = intruder ? good : rnd.pick(fuzzRuns)
      const ctx: LaneCtx = { ...FUZZ_STREAMS, run, replica: `fz${i}` }
      let c: RawClient
      try {
        // The test's other steps wait 10 s too. Once, in the whole long suite (npm run test:long),
        // 30 lanes could not connect within 5 s at one moment; alone and beside 2 or 6 CPU-bound
        // processes it did not recur. The message says how long this process's event loop stalled,
        // which tells a stalled test process (gateways and clients share it) from a gateway that
        // stopped accepting.
        c = await openRaw(g.url, { timeoutMs: 10_000 })
      } catch (err) {
        problems.push(`lane ${i}: cannot connect: ${String(err)} (this process's event loop stalled up to ${Math.round(loopDelay.max / 1e6)} ms so far)`)
        return
      }
      stats.connections++
      let welcomed = false
      const h = rnd.float()
      if (intruder) {
        const token = rnd.pick([
          () => tokens.get(rnd.pick(fuzzRuns))!,
          () => createToken('not-the-secret', good),
          () => createToken(SECRET, good, 60, Date.now() - 3600_000),
          () => tokens.get(good)!.slice(0, -3) + 'AAA',
          () => '',
          () => Buffer.from(JSON.stringify({ run: good, exp: 9e9 })).toString('base64url') + '.' + tokens.get(fuzzRuns[0]!)!.split('.')[1],
        ])()
        c.sendRaw(helloFrame(good, token, `intruder${i}`))
        stats.kinds.intruder = (stats.kinds.intruder ?? 0) + 1
        sent++
        stats.frames++
      } else if (h < 0.85) {
        // Hello: mostly right; sometimes a token for another run, a bad one, a bad run id, or none.
        c.sendRaw(helloFrame(run, g === gwSecret ? tokens.get(run)! : '', `fz${i}`))
        try {
          await withTimeout(c.next((m) => m.type === 'welcome' || m.type === 'error', 10_000), 12_000, 'hello')
          welcomed = c.frames.some((f) => f?.type === 'welcome')
        } catch (err) {
          if (!c.isClosed()) problems.push(`lane ${i}: no answer to hello: ${String(err)}`)
        }
        if (!welcomed) problems.push(`lane ${i}: a valid hello was not welcomed (${JSON.stringify(c.frames)})`)
      } else {
        const bad = rnd.pick([
          () => helloFrame(run, createToken(SECRET, rnd.pick([good, ...fuzzRuns.filter((r) => r !== run)])), 'fz'),
          () => helloFrame(run, 'garbage.token', 'fz'),
          () => helloFrame('bad run id', '', 'fz'),
          () => encodeMessage({ type: 'hello', run, replica: 'fz', token: tokens.get(run)!, meta: rnd.bytes(rnd.int(30)) }),
          () => mutate(rnd, helloFrame(run, tokens.get(run)!, 'fz')),
          () => encodeMessage({ type: 'ping', n: 1 }),
        ])()
        c.sendRaw(bad)
        sent++
        stats.frames++
      }
      const step = welcomed && rnd.chance(0.7)
      const k = 1 + rnd.int(60)
      for (let j = 0; j < k && sent < quota && !c.isClosed(); j++) {
        const f = fuzzFrame(rnd, ctx)
        stats.kinds[f.kind] = (stats.kinds[f.kind] ?? 0) + 1
        c.sendRaw(f.data)
        sent++
        stats.frames++
        if (!step) continue
        // Step mode: a ping after each frame; the pong (or the close) says it was handled.
        const n = ping++
        c.send({ type: 'ping', n })
        const want = expected(f)
        let got: 'open' | number
        try {
          await withTimeout(c.next((m) => m.type === 'pong' && m.n === n, 10_000).catch(() => undefined), 12_000, 'a pong')
          got = c.frames.some((m) => m?.type === 'pong' && m.n === n) ? 'open' : (await c.closed).code
        } catch (err) {
          problems.push(`lane ${i}: ${String(err)} after a ${f.kind} frame ${Buffer.from(typeof f.data === 'string' ? f.data : f.data.subarray(0, 64)).toString('hex')}`)
          break
        }
        stats.checked++
        if (got !== want) {
          const hex = typeof f.data === 'string' ? JSON.stringify(f.data) : Buffer.from(f.data.subarray(0, 80)).toString('hex')
          const errs = c.frames.filter((m) => m?.type === 'error').map((m) => (m as Messages['error']).message)
          problems.push(`lane ${i}: ${f.kind} frame ${hex} (${typeof f.data === 'string' ? 'text' : f.data.length + ' bytes'}): expected ${want}, got ${got}; errors ${JSON.stringify(errs)}`)
        }
        if (got === 4000) {
          const last = c.frames.filter((m) => m?.type === 'error').at(-1) as Messages['error'] | undefined
          if (!last || ![ErrorCodes.PROTOCOL, ErrorCodes.UNKNOWN_MESSAGE, ErrorCodes.BAD_ARGUMENT].includes(last.code as never)) {
            problems.push(`lane ${i}: closed 4000 after a ${f.kind} frame without a protocol ERROR (${JSON.stringify(last)})`)
          }
        }
      }
      if (!c.isClosed()) {
        // Blast mode (or the end of a step lane): one ping to see everything was handled.
        const n = ping++
        c.send({ type: 'ping', n })
        try {
          await withTimeout(c.next((m) => m.type === 'pong' && m.n === n, 10_000).catch(() => undefined), 12_000, 'the last pong')
        } catch (err) {
          problems.push(`lane ${i}: ${String(err)}`)
        }
        if (!c.isClosed() && !c.frames.some((m) => m?.type === 'pong' && m.n === n)) problems.push(`lane ${i}: no pong and no close`)
        c.close(1000)
      }
      let closed: { code: number; reason: string }
      try {
        closed = await withTimeout(c.closed, 10_000, 'the close')
      } catch (err) {
        problems.push(`lane ${i}: ${String(err)}`)
        c.ws.terminate()
        continue
      }
      stats.closes[closed.code] = (stats.closes[closed.code] ?? 0) + 1
      if (!allowedCloses.has(closed.code)) problems.push(`lane ${i}: close code ${closed.code} (${closed.reason})`)
      if (intruder) {
        if (closed.code !== CLOSE.UNAUTHORIZED && closed.code !== CLOSE.FORBIDDEN_RUN) problems.push(`lane ${i}: an intruder was closed with ${closed.code}, not 4001/4002`)
        const answered = c.frames.filter((m) => m?.type !== 'error').map((m) => m?.type)
        if (answered.length) problems.push(`lane ${i}: an intruder got ${JSON.stringify(answered)}`)
      }
    }
  }

  const t0 = performance.now()
  const per = Math.floor(FRAMES / LANES)
  await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i, i === 0 ? FRAMES - per * (LANES - 1) : per)))
  const secs = (performance.now() - t0) / 1000
  fuzzing = false
  const [outSecret, outOpen] = await Promise.all(behaving)

  console.log(
    `gateway fuzz: ${stats.frames} frames in ${secs.toFixed(1)} s (${Math.round(stats.frames / secs)} frames/s), ` +
      `${stats.connections} connections, ${stats.checked} frames checked one by one; kinds ${JSON.stringify(stats.kinds)}; closes ${JSON.stringify(stats.closes)}; ` +
      `event loop delay p99 ${Math.round(loopDelay.percentile(99) / 1e6)} ms, max ${Math.round(loopDelay.max / 1e6)} ms`,
  )
  loopDelay.disable()
  expect(problems.slice(0, 20), `seed ${SEED}`).toEqual([])
  expect(stats.frames).toBe(FRAMES)

  // The well-behaved replicas were served throughout, and agree with a direct replica.
  expect(outSecret.length).toBeGreaterThan(4)
  expect(outOpen.length).toBeGreaterThan(4)
  const n = Math.max(outSecret.length, outOpen.length) / 2
  const replay: unknown[] = []
  const f = direct.distributed(() => Math.random(), { name: 'x' })
  for (let i = 0; i < n; i++) replay.push(await direct.now(), await f())
  expect(outSecret).toEqual(replay.slice(0, outSecret.length))
  expect(outOpen).toEqual(replay.slice(0, outOpen.length))

  // Only the well-behaved connections remain; shared watches are back to theirs.
  await until(() => gwSecret.connections === 1 && gwOpen.connections === 1, 10_000, 'the fuzz connections to close')
  await until(async () => (await health(gwSecret)).body.streams === base.secret.streams && (await health(gwOpen)).body.streams === base.open.streams, 10_000, 'the fuzz subscriptions to go')
  for (const g of [gwSecret, gwOpen]) {
    const h = await health(g)
    expect(h.status).toBe(200)
    expect(h.body).toMatchObject({ ok: true, connections: 1 })
  }
  await new Promise((r) => setTimeout(r, 200))
  gc()
  const growth = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024
  console.log(`gateway fuzz: heap growth ${growth.toFixed(1)} MB`)
  expect(growth).toBeLessThan(100)

  // What is stored: the well-behaved run holds only its replicas' records, all decoding; in the fuzz
  // runs every value decodes too (the gateway stored nothing it should have refused); no gateway keeps a run-once lock's lease
  // alive for a closed connection (a lock left in etcd by an abnormal close expires with its lease).
  for (const g of [gwSecret, gwOpen]) {
    const text = await (await fetch(`${httpUrl(g.url)}/metrics`)).text()
    expect(metric(text, 'repjs_gateway_locks')).toBe(0)
  }
  const store = createEtcdStore({ endpoints: etcd.endpoint })
  try {
    const all = await store.client.getAll().prefix('/repjs/v1/').buffers()
    const counts = { good: 0, decoded: 0, corrupt: 0 }
    const bad: string[] = []
    for (const [key, buf] of Object.entries(all)) {
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
      const [, , , run, kind, stream, slot] = key.split('/')
      const read = () =>
        kind === 's' || kind === 'm' ? decodeRecord(codec, bytes, { run: run!, stream: stream!, slot: Number(slot) })
          : kind === 'meta' ? decodeMeta(codec, bytes, run!)
            : kind === 'v' ? decodeVote(codec, bytes, { run: run!, stream: stream!, slot: Number(slot) })
              : kind === 'p' ? decodePresence(codec.format, bytes)
              : kind === 'snap' ? decodeSnapshot(codec, bytes, run!, stream!)
                : codec.decode(bytes, key)
      if (run === good) {
        counts.good++
        try {
          const value = read()
          if (kind === 's' && !ids.includes((value as { by: string }).by)) bad.push(`${key}: written by ${(value as { by: string }).by}`)
          if (kind === 'p' && !ids.includes((value as { replica: string }).replica)) bad.push(`${key}: presence of ${(value as { replica: string }).replica}`)
          if (kind !== 's' && kind !== 'meta' && kind !== 'p') bad.push(`${key}: not written by the well-behaved replicas`)
        } catch (err) {
          bad.push(`${key}: ${String(err).slice(0, 200)}`)
        }
        continue
      }
      if (!['meta', 's', 'v', 'm', 'l', 'p', 'snap'].includes(kind ?? '')) bad.push(`${key}: unexpected key`)
      if (kind === 'l') continue // a lock's token (holder:lease:handle), not a value
      try {
        read()
        counts.decoded++
      } catch (err) {
        counts.corrupt++
        bad.push(`${key}: stored although it does not decode: ${String(err).slice(0, 200)}`)
      }
    }
    console.log(`gateway fuzz: etcd holds ${counts.good} keys of the well-behaved run; of the fuzz runs' ${counts.decoded + counts.corrupt} values ${counts.decoded} decode and ${counts.corrupt} do not`)
    expect(bad.slice(0, 20)).toEqual([])
    expect(counts.good).toBeGreaterThan(1)
  } finally {
    await store.close()
  }

  await Promise.all([viaSecret.close(), viaOpen.close(), direct.close()])
}, LONG ? 900_000 : 120_000)
