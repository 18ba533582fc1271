// etcd stays bounded over many short runs: each run makes its calls and ends, then is deleted
// (deleteRun, what `repjs runs rm` does) or expires (--run-ttl); etcd compacts its history by itself
// (periodic auto-compaction) and is defragmented now and then, as the README advises for production.
// 10,000 calls in `npm test`, 1,000,000 with REPJS_LONG. The measurements are printed.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { connect, createEtcdStore } from '../../node-gateway/index.js'
import type { EtcdStore } from '../../node-gateway/store/etcd-store.js'
import { ROOT, RUNS_ROOT } from '../../node-gateway/store/keys.js'
import { deleteRun } from '../../node-gateway/store/run-delete.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'

const LONG = !!process.env.REPJS_LONG
const RUNS = LONG ? 1000 : 100
const CALLS = LONG ? 1000 : 100
const PARALLEL = LONG ? 16 : 4
const SAMPLES = LONG ? 50 : 15
/** etcd compacts its history to what it was this long ago, this often (periodic mode). */
const RETENTION = '1s'
/**
 * Well above the pauses a replica's keep-alives see here (a defragment blocks etcd for a moment; the
 * long form's 16 replicas in one process on a loaded machine saw a run with a 3 s TTL expire).
 */
const TTL = LONG ? 30_000 : 5000
/** Each call's value is about this large (a 400-character pad plus the record). */
const VALUE_BYTES = 450
/** What a deleted or expired run leaves: its tombstone (well under this). */
const TOMBSTONE_BYTES = 1024
/** bbolt's pages and etcd's own keys besides the runs. */
const SLACK_BYTES = 256 * 1024
/** A few compaction periods (RETENTION) after the last run went. */
const COMPACTION_WAIT_MS = 30_000

let etcd: Cluster
let admin: EtcdStore
beforeAll(async () => {
  etcd = await startCluster(1, { extraArgs: ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', RETENTION] })
  // A defragment blocks the member for a moment: longer deadlines than a replica's.
  admin = createEtcdStore({ endpoints: etcd.endpoint, callTimeoutMs: 60_000 })
})
afterAll(async () => {
  await admin?.close()
  await etcd?.stop()
})

interface Sample {
  runs: number
  calls: number
  dbSize: number
  dbSizeInUse: number
  revision: number
}

async function sample(runs: number, calls: number): Promise<Sample> {
  const s = await admin.client.maintenance.status()
  return { runs, calls, dbSize: Number(s.dbSize), dbSizeInUse: Number(s.dbSizeInUse), revision: Number(s.header.revision) }
}

/** One short run: CALLS agreed calls with a ~500-byte value each, then gone (deleted, or expired when `ttl`). */
async function shortRun(prefix: string, ttl: boolean): Promise<void> {
  const run = uniqueRun(prefix)
  const rep = await connect({ run, program: 'size@1', etcd: etcd.endpoint, ...(ttl ? { runTtlMs: TTL } : {}) })
  const f = rep.distributed((i: number) => ({ i, pad: 'x'.repeat(400) }), { name: 'f' })
  for (let i = 0; i < CALLS; i++) await f(i)
  await rep.close()
  if (!ttl) await deleteRun(admin, run)
}

/** True once etcd has compacted its history up to `revision` (what came before it is gone). */
async function compactedTo(revision: number): Promise<boolean> {
  try {
    await admin.client.get('repjs-size-probe').revision(revision - 1)
    return false
  } catch (err) {
    if (/compacted/i.test(String((err as Error).message))) return true
    throw err
  }
}

const keysUnder = async (prefix: string) => Number((await admin.client.getAll().prefix(prefix).count()))

test(`etcd's database stays bounded over ${RUNS} short runs (${RUNS * CALLS} calls), each deleted or expired`, async () => {
  const prefix = `size${process.pid}`
  const samples: Sample[] = [await sample(0, 0)]
  const every = Math.ceil(RUNS / SAMPLES)
  let done = 0
  let next = 0
  const worker = async () => {
    while (next < RUNS) {
      const n = next++
      await shortRun(prefix, n % 2 === 1)
      done++
      if (done % every === 0) {
        // Defragment (what an operator schedules at quiet times), then measure.
        await admin.client.maintenance.defragment()
        samples.push(await sample(done, done * CALLS))
        const s = samples.at(-1)!
        if (LONG) process.stderr.write(`etcd-size: ${done}/${RUNS} runs, dbSize ${s.dbSize}, in use ${s.dbSizeInUse}, revision ${s.revision}, ${new Date().toISOString()}\n`)
      }
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker))
  // The expiring runs go within their TTL of their last keep-alive.
  const deadline = Date.now() + 5 * TTL
  while ((await keysUnder(`${ROOT}${prefix}`)) > 0) {
    if (Date.now() > deadline) throw new Error('the expiring runs did not expire')
    await new Promise((r) => setTimeout(r, 200))
  }
  // Once the runs are gone, compaction gives their space back: the space in use falls to where it
  // started plus one tombstone per run, far below what the workload wrote (without compaction every
  // value stays in etcd's history). Wait (bounded) until a compaction has passed the last deletion:
  // reading just below it then fails as compacted (a compaction at R keeps R itself readable).
  const gone = (await sample(RUNS, RUNS * CALLS)).revision
  const compactedBy = Date.now() + COMPACTION_WAIT_MS
  while (!(await compactedTo(gone))) {
    if (Date.now() > compactedBy) throw new Error(`no compaction passed revision ${gone} within ${COMPACTION_WAIT_MS} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
  await admin.client.maintenance.defragment()
  samples.push(await sample(RUNS, RUNS * CALLS))
  // What is left: one tombstone per run, outside the runs' prefixes.
  const tombstones = await keysUnder(`${RUNS_ROOT}${prefix}`)
  const fmt = (n: number) => `${(n / 1024).toFixed(0)} KiB`
  console.log(
    `etcd size over ${RUNS} runs x ${CALLS} calls (${RUNS * CALLS} calls; half deleted, half expired; auto-compaction periodic ${RETENTION}; defrag every ${every} runs):\n` +
      samples.map((s) => `  after ${String(s.runs).padStart(5)} runs (${String(s.calls).padStart(8)} calls): dbSize ${fmt(s.dbSize).padStart(9)}, in use ${fmt(s.dbSizeInUse).padStart(9)}, revision ${s.revision}`).join('\n') +
      `\n  tombstones left: ${tombstones}`,
  )
  expect(tombstones).toBe(RUNS)
  const settled = samples[0]!.dbSizeInUse + RUNS * TOMBSTONE_BYTES + SLACK_BYTES
  const end = samples.at(-1)!
  expect(end.dbSizeInUse).toBeLessThanOrEqual(settled)
  expect(end.dbSize).toBeLessThanOrEqual(settled + SLACK_BYTES)
  expect(settled).toBeLessThan(RUNS * CALLS * VALUE_BYTES)
  if (LONG) {
    // While runs come and go: the last third's largest database is at most twice the first third's
    // (growing with the calls, it would be about three times). Only in the long form: in the short
    // one the expiring runs' TTL spans most of the workload, so how many are alive at a sample (and
    // the size) depends on the machine's pace, not on compaction.
    const third = Math.max(1, Math.floor((samples.length - 1) / 3))
    const first = samples.slice(1, 1 + third)
    const last = samples.slice(samples.length - third)
    const max = (xs: Sample[], k: 'dbSize' | 'dbSizeInUse') => Math.max(...xs.map((s) => s[k]))
    expect(max(last, 'dbSize')).toBeLessThanOrEqual(max(first, 'dbSize') * 2)
    expect(max(last, 'dbSizeInUse')).toBeLessThanOrEqual(max(first, 'dbSizeInUse') * 2)
  }
  expect(samples.at(-1)!.revision - samples[0]!.revision).toBeGreaterThan(RUNS * CALLS)
}, LONG ? 4 * 3600_000 : 120_000)
