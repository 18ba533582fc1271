// rep.check(hash): an agreed check of replica state on real etcd. Majority of 3 (quorum 3): the
// replica whose hash differs gets REPJS_DIVERGED naming the slot, even when it voted first, and two
// agreeing replicas go on without the third; first decides (quorum 1); a late replica compares with
// the recorded hash and writes nothing; etcd writes counted.
import { afterAll, expect, test } from 'vitest'
import { connect, RepJSError, type Replica } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { spawnGateway } from '../helpers/gateway.js'

const etcd = useEtcd()
const open: Replica[] = []
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()))
})

async function replica(run: string, replicas?: number): Promise<Replica> {
  // Without presence: these tests count the etcd writes of checks.
  const r = await connect({ run, etcd: etcd.endpoint, program: 'check', replicas, presence: false })
  open.push(r)
  return r
}

/** etcd's current revision: every write (a put, or one Txn's puts and deletes) adds one. */
async function revision(): Promise<number> {
  const res = await fetch(`${etcd.endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}' })
  return Number(((await res.json()) as { header: { revision: string } }).header.revision)
}

/** The same agreed work on each replica before the check: two agreed calls on the main stream. */
async function work(r: Replica): Promise<number> {
  const x = await r.distributed(() => Math.random(), { name: 'x' })()
  return x + (await r.now())
}

/** Resolves once `r` has written its vote and waits for the others. */
function voted(r: Replica): Promise<void> {
  return new Promise((done) => {
    const stop = r.on('status', (s) => s.state === 'waiting-for-quorum' && (stop(), done()))
  })
}

const diverged = (p: Promise<unknown>) => p.then(() => expect.unreachable('the check passed'), (err: unknown) => {
  expect(RepJSError.is(err, 'REPJS_DIVERGED'), String(err)).toBe(true)
  return (err as RepJSError).details
})

test('3 replicas with equal states pass one majority check: a vote each (or fewer) and 1 decision', async () => {
  const run = uniqueRun('check')
  const reps = [await replica(run, 3), await replica(run), await replica(run)]
  const values = await Promise.all(reps.map(work))
  expect(new Set(values).size).toBe(1)
  const before = await revision()
  const results = await Promise.all(reps.map((r) => r.check(`state-${values[0]}`)))
  const writes = (await revision()) - before
  console.log(`majority check (quorum 3) of 3 replicas: ${writes} etcd writes (votes recorded: ${results[0]!.votes.length})`)
  // two agreeing votes decide; a third vote is written only if it came before the decision
  expect(writes).toBeGreaterThanOrEqual(results[0]!.votes.length + 1)
  expect(writes).toBeLessThanOrEqual(4)
  for (const res of results) expect(res).toMatchObject({ stream: 'main', slot: 2, hash: `state-${values[0]}` })
  expect(new Set(results.map((r) => JSON.stringify(r.votes))).size).toBe(1)
  // the log goes on after a check
  expect(new Set(await Promise.all(reps.map((r) => r.now())))).toHaveProperty('size', 1)
})

test('the replica whose hash differs gets REPJS_DIVERGED naming the slot and both hashes, even when it voted first; the others pass', async () => {
  const run = uniqueRun('check')
  const [a, b, c] = [await replica(run, 3), await replica(run), await replica(run)]
  await Promise.all([a, b, c].map(work))
  const odd = diverged(c.check('ffff'))
  await voted(c)
  // bytes are recorded as lowercase hex: b's bytes and a's string are the same hash
  const [ra, rb] = await Promise.all([a.check('0102ff'), b.check(new Uint8Array([1, 2, 255]))])
  expect(ra).toEqual({ stream: 'main', slot: 2, hash: '0102ff', votes: ['ffff', '0102ff', '0102ff'] })
  expect(rb.hash).toBe('0102ff')
  const details = await odd
  expect(details).toMatchObject({ stream: 'main', slot: 2, name: 'check', hash: 'ffff', agreed: '0102ff' })
  // the others go on together
  expect(await a.now()).toBe(await b.now())
})

test('two agreeing replicas of 3 decide without the third', async () => {
  const run = uniqueRun('check')
  const [a, b] = [await replica(run, 3), await replica(run)]
  const [ra, rb] = await Promise.all([a.check('same'), b.check('same')])
  expect(ra).toEqual({ stream: 'main', slot: 0, hash: 'same', votes: ['same', 'same'] })
  expect(rb).toEqual(ra)
})

test('no strict majority: every replica gets REPJS_DIVERGED (2 of 2 differ; 3 of 3 differ)', async () => {
  const two = uniqueRun('check')
  const [a, b] = [await replica(two, 2), await replica(two)]
  const [da, db] = await Promise.all([diverged(a.check('aa')), diverged(b.check('bb'))])
  expect(da).toMatchObject({ slot: 0, hash: 'aa', agreed: null })
  expect(db).toMatchObject({ slot: 0, hash: 'bb', agreed: null })
  expect((da.votes as string[]).sort()).toEqual(['aa', 'bb'])
  const three = uniqueRun('check')
  const reps = [await replica(three, 3), await replica(three), await replica(three)]
  const ds = await Promise.all(reps.map((r, i) => diverged(r.check(`h${i}`))))
  for (const d of ds) expect(d).toMatchObject({ slot: 0, agreed: null })
  expect((ds[0]!.votes as string[]).sort()).toEqual(['h0', 'h1', 'h2'])
})

test('quorum 1: the first replica decides in one Txn (1 etcd write in all); the others only compare', async () => {
  const run = uniqueRun('check')
  const [a, b, c] = [await replica(run), await replica(run), await replica(run)]
  await Promise.all([a, b, c].map(work))
  const before = await revision()
  expect(await a.check('s1')).toEqual({ stream: 'main', slot: 2, hash: 's1', votes: ['s1'] })
  expect(await b.check('s1')).toMatchObject({ slot: 2, hash: 's1' })
  // first decides: a diverged first replica would blame the others (use a quorum > 1 to avoid that)
  expect(await diverged(c.check('s2'))).toMatchObject({ slot: 2, hash: 's2', agreed: 's1', votes: ['s1'] })
  const writes = (await revision()) - before
  console.log(`first-decides check (quorum 1) of 3 replicas: ${writes} etcd write`)
  expect(writes).toBe(1)
})

test('a late replica replaying the log compares with the recorded hash and writes nothing', async () => {
  const run = uniqueRun('check')
  const [a, b, c] = [await replica(run, 3), await replica(run), await replica(run)]
  await Promise.all([a, b, c].map(work))
  await Promise.all([a, b, c].map((r) => r.check('h1')))
  await Promise.all([a, b, c].map((r) => r.stream('side').check('h2', { quorum: 1, name: 'side' })))
  const before = await revision()
  const late = await replica(run)
  await work(late)
  expect(await late.check('h1')).toMatchObject({ stream: 'main', slot: 2, hash: 'h1' })
  expect(await late.stream('side').check('h2', { quorum: 1, name: 'side' })).toMatchObject({ stream: 'side', slot: 0, hash: 'h2' })
  const wrong = await replica(run)
  await work(wrong)
  expect(await diverged(wrong.check('other'))).toMatchObject({ stream: 'main', slot: 2, hash: 'other', agreed: 'h1' })
  expect((await revision()) - before).toBe(0)
  // a different quorum is a different call: the call identity check catches it
  const odd = await replica(run)
  await work(odd)
  expect(await diverged(odd.check('h1', { quorum: 1 }))).toMatchObject({ slot: 2 })
})

test('hash arguments: empty or too long is REPJS_BAD_ARGUMENT, before any slot is taken', async () => {
  const r = await replica(uniqueRun('check'))
  for (const h of ['', 'x'.repeat(1025), new Uint8Array(0), 42 as unknown as string]) {
    await expect(r.check(h)).rejects.toMatchObject({ code: 'REPJS_BAD_ARGUMENT' })
  }
  expect(await r.check('ok')).toMatchObject({ slot: 0 })
})

test('through a gateway: a majority check of two gateway replicas and one direct replica blames the odd one', async () => {
  const run = uniqueRun('check')
  const g = await spawnGateway(etcd.endpoint)
  try {
    const direct = await replica(run, 3)
    const [a, b] = [await connect({ run, gateway: g.url, program: 'check' }), await connect({ run, gateway: g.url, program: 'check' })]
    open.push(a, b)
    const odd = diverged(a.check('odd'))
    await voted(a)
    const [rd, rb] = await Promise.all([direct.check('even'), b.check('even')])
    expect(rd).toEqual({ stream: 'main', slot: 0, hash: 'even', votes: ['odd', 'even', 'even'] })
    expect(rb).toEqual(rd)
    expect(await odd).toMatchObject({ slot: 0, hash: 'odd', agreed: 'even' })
  } finally {
    await g.kill()
  }
})
