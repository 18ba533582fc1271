/**
 * Core's CPU per agreed call, without etcd or a transport (issue 14): replicas of one run in this
 * process on an in-memory store whose proposals and deliveries settle a macrotask later (as I/O
 * would), N sequential `now()` per replica. With 1 replica: the proposer's path; with 2: the
 * proposer's and a follower's (who learns each slot from the store's follow), reported together
 * per slot. CPU of the whole process (process.cpuUsage), so compare builds A/B, interleaved.
 * With REPLAY=1, each round then replays the N slots in a new replica (its log read in pages of
 * 1,000 slots, one page a macrotask, as a catch-up read delivers them): replayed slots/s and CPU.
 * SITES=0 turns call-site capture off; CALL=distributed times a `distributed()` function instead of now().
 *
 *   node bench/engine-cpu.mjs [replicas=1] [N=20000] [checkout=.] [rounds=3]
 */
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const [rArg = '1', nArg = '20000', checkout = '.', roundsArg = '3'] = process.argv.slice(2)
const R = Number(rArg), N = Number(nArg), ROUNDS = Number(roundsArg)
const dist = resolve(checkout, 'dist/core')
const { createReplica } = await import(pathToFileURL(join(dist, 'replica.js')).href)
const { createCborFormat } = await import(pathToFileURL(join(dist, 'cbor-format.js')).href)
const later = (fn) => setImmediate(fn)

/** One run's keys in memory, shared by every replica's store; deliveries to followers a macrotask later. */
function memoryBackend() {
  const kv = new Map()
  const followers = new Set()
  const store = () => ({
    async openRun(run, source) {
      const k = `${run}/meta`
      const meta = typeof source === 'function' ? source() : source // a RunMetaSource: bytes, or a function giving them
      if (!kv.has(k)) { kv.set(k, meta); return { meta, created: true } }
      return { meta: kv.get(k), created: false }
    },
    propose(ref, record) {
      return new Promise((ok) => later(() => {
        const k = `${ref.run}/${ref.stream}/${ref.slot}`
        const had = kv.get(k)
        if (had) return ok({ won: false, record: had })
        kv.set(k, record)
        for (const f of followers) if (f.prefix === `${ref.run}/${ref.stream}` && ref.slot >= f.from) f.h.slot(ref.slot, record)
        ok({ won: true, record })
      }))
    },
    follow(run, stream, from, h) {
      const f = { prefix: `${run}/${stream}`, from, h }
      const page = (s) => later(() => {
        const end = s + 1000
        for (; s < end && kv.has(`${f.prefix}/${s}`); s++) h.slot(s, kv.get(`${f.prefix}/${s}`))
        if (s === end) return page(s)
        h.caughtUp()
        followers.add(f)
      })
      page(from)
      return () => followers.delete(f)
    },
    async readSnapshot() { return undefined },
    async close() {},
  })
  return { store }
}

const cpu = () => { const c = process.cpuUsage(); return c.user + c.system }
for (let round = 0; round < ROUNDS; round++) {
  const back = memoryBackend()
  const run = `cpu-${round}`
  const reps = []
  for (let i = 0; i < R; i++) reps.push(await createReplica({ store: back.store(), format: createCborFormat(), run, program: 'p', replicaId: `r${i}`, presence: false, callSites: process.env.SITES !== '0' }))
  const c0 = cpu(), t0 = performance.now()
  await Promise.all(reps.map(async (rep) => {
    const call = process.env.CALL === 'distributed' ? rep.distributed(() => Date.now(), { name: 'd' }) : () => rep.now()
    for (let k = 0; k < N; k++) await call()
  }))
  const c1 = cpu(), t1 = performance.now()
  console.log(JSON.stringify({ replicas: R, round, cpuUsPerSlot: +((c1 - c0) / N).toFixed(2), wallUsPerSlot: +((t1 - t0) * 1e3 / N).toFixed(2) }))
  if (process.env.REPLAY === '1') {
    const rep = await createReplica({ store: back.store(), format: createCborFormat(), run, program: 'p', replicaId: 'late', presence: false, callSites: process.env.SITES !== '0' })
    const c2 = cpu(), t2 = performance.now()
    for (let k = 0; k < N; k++) await rep.now()
    const c3 = cpu(), t3 = performance.now()
    console.log(JSON.stringify({ replay: true, round, slotsPerS: Math.round(N / ((t3 - t2) / 1e3)), cpuUsPerSlot: +((c3 - c2) / N).toFixed(2) }))
    await rep.close()
  }
  for (const rep of reps) await rep.close()
}
