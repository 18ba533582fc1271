// A replica process for the fault-injection suite (see harness.ts). It runs a fixed, deterministic
// program of agreed calls through the built `dist/` connect() and logs, one JSON line each, to
// $REPJS_F_LOG (appended synchronously, so a kill -9 loses nothing that was logged):
//   {t:'rec', s, n, h}      an agreed record it was given: stream, slot, record hash (record-hash.mjs)
//   {t:'now', v}            an agreed time, in program order
//   {t:'typed', line}       a line it typed; {t:'in', line, n}: the line agreed at input slot n;
//   {t:'ack', line, n}      a line it typed was agreed (at input slot n)
//   {t:'once', k, ok, code} the outcome of run-once call k (code REPJS_IN_DOUBT if in doubt)
//   {t:'status', s}         status changes; {t:'error', code, message}: a fatal error; {t:'done', ops}: finished after that many ops
// Run-once side effects are appended to $REPJS_F_EFFECTS as {k, by} before the call's hold.
// stdout, for the test to wait on: `op <i>`, `status <state>`, `effect <k>`, `once <k> ok|<code>`.
//
// Env: REPJS_F_RUN, REPJS_F_ID, REPJS_F_ETCD (comma list) or REPJS_F_GATEWAY (comma list) and
// REPJS_F_TOKEN, REPJS_F_OPS, REPJS_F_INPUT_EVERY, REPJS_F_ONCE_EVERY, REPJS_F_ONCE_HOLD_MS,
// REPJS_F_TTL_MS, REPJS_F_CLOCK ('offset:<ms>' or 'jump:<op>:<ms>': the clock of this process only,
// patched before connect), REPJS_F_PAUSE_MS (between ops), REPJS_F_PAYLOAD (bytes per distributed value),
// REPJS_F_UNTIL (a file: after REPJS_F_OPS ops, go on until it exists).
import { appendFileSync, existsSync } from 'node:fs'
import { recordHash } from './record-hash.mjs'

const env = process.env
const id = env.REPJS_F_ID
const log = (o) => appendFileSync(env.REPJS_F_LOG, JSON.stringify(o) + '\n')
const say = (line) => process.stdout.write(line + '\n')
const num = (name, d) => Number(env[name] ?? d)

// Clock faults: only this process's Date.now / performance.now / new Date(), never the machine's.
let skew = 0
const clock = env.REPJS_F_CLOCK ?? ''
if (clock.startsWith('offset:')) skew = Number(clock.slice(7))
const jump = clock.startsWith('jump:') ? clock.slice(5).split(':').map(Number) : undefined
if (skew || jump) {
  const realNow = Date.now
  const realPerf = performance.now.bind(performance)
  const RealDate = Date
  Date.now = () => realNow() + skew
  performance.now = () => realPerf() + skew
  globalThis.Date = class extends RealDate {
    constructor(...a) {
      if (a.length === 0) super(realNow() + skew)
      else super(...a)
    }
    static now() {
      return realNow() + skew
    }
  }
}

const { connect } = await import('../../dist/node-gateway/index.js')
const target = env.REPJS_F_GATEWAY
  ? { gateway: env.REPJS_F_GATEWAY.split(','), token: env.REPJS_F_TOKEN }
  : { etcd: env.REPJS_F_ETCD.split(',') }

const fatal = (err) => {
  log({ t: 'error', code: err?.code ?? null, message: String(err?.message ?? err) })
  process.stderr.write(`replica ${id}: ${err?.code ?? ''} ${err?.stack ?? err}\n`)
  process.exit(3)
}

let rep
try {
  rep = await connect({ run: env.REPJS_F_RUN, replicaId: id, program: 'faults', ...target })
} catch (err) {
  fatal(err)
}
rep.on('status', (s) => {
  log({ t: 'status', s: s.state })
  say(`status ${s.state}`)
})

// Every agreed record the program is given passes through the engine's slot(): log it there.
const engine = rep.engine
const slot = engine.slot
engine.slot = async function (stream, ident, decide) {
  const rec = await slot.call(this, stream, ident, decide)
  log({ t: 'rec', s: stream.name, n: rec.slot, h: recordHash(rec) })
  return rec
}

const ops = num('REPJS_F_OPS', 50)
const inputEvery = num('REPJS_F_INPUT_EVERY', 5)
const onceEvery = num('REPJS_F_ONCE_EVERY', 0)
const holdMs = num('REPJS_F_ONCE_HOLD_MS', 50)
const ttlMs = num('REPJS_F_TTL_MS', 3000)
const pauseMs = num('REPJS_F_PAUSE_MS', 0)
const payload = num('REPJS_F_PAYLOAD', 0)
const until = env.REPJS_F_UNTIL

const step = rep.distributed(function step(i) {
  return { by: id, i, r: Math.random(), pad: payload ? 'x'.repeat(payload) : '' }
})
const once = rep.distributedLocked(
  async function effect(k) {
    appendFileSync(env.REPJS_F_EFFECTS, JSON.stringify({ k, by: id, pid: process.pid }) + '\n')
    say(`effect ${k}`)
    await new Promise((r) => setTimeout(r, holdMs))
    return { k, by: id }
  },
  { ttlMs },
)

try {
  let i = 0
  for (; i < ops || (until && !existsSync(until)); i++) {
    if (jump && i === jump[0]) skew += jump[1]
    if (inputEvery && i % inputEvery === 0) {
      if (rep.pendingInput().length === 0) {
        const line = `${id}/${i}`
        log({ t: 'typed', line })
        rep.typeLine(line)
      }
      const got = await rep.inputLine()
      log({ t: 'in', line: got.line, n: got.slot })
      if (got.local) log({ t: 'ack', line: got.line, n: got.slot })
    }
    if (onceEvery && i % onceEvery === onceEvery - 1) {
      try {
        await once(i)
        log({ t: 'once', k: i, ok: true })
        say(`once ${i} ok`)
      } catch (err) {
        if (err?.code !== 'REPJS_IN_DOUBT') throw err
        log({ t: 'once', k: i, ok: false, code: err.code })
        say(`once ${i} ${err.code}`)
      }
    }
    log({ t: 'now', v: await rep.now() })
    await step(i)
    await rep.random()
    say(`op ${i}`)
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs))
  }
  log({ t: 'done', ops: i })
  await rep.close()
  process.exit(0)
} catch (err) {
  fatal(err)
}
