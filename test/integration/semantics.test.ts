// In-process replicas on one etcd: the API's semantics, one behaviour per test.
import { afterAll, expect, test } from 'vitest'
import { connect, RepJSError, type Replica, type Store } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const etcd = useEtcd()
const open: Replica[] = []
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()))
})

async function replicas(n: number, extra: Parameters<typeof connect>[0] | object = {}, run = uniqueRun()): Promise<Replica[]> {
  const out: Replica[] = []
  for (let i = 0; i < n; i++) out.push(await connect({ run, etcd: etcd.endpoint, program: 'semantics', ...extra }))
  open.push(...out)
  return out
}

test('an agreed error is re-thrown on every replica with the same name, message and code, marked with its replica', async () => {
  const [a, b] = await replicas(2)
  const boom = (who: string) => () => {
    const e = new TypeError(`broken by ${who}`) as TypeError & { code: string }
    e.code = 'E_BROKEN'
    throw e
  }
  const ea = await a.distributed(boom('a'), { name: 'boom' })().catch((e) => e)
  const eb = await b.distributed(boom('b'), { name: 'boom' })().catch((e) => e)
  for (const e of [ea, eb]) {
    expect(e.name).toBe('TypeError')
    expect(e.message).toBe('broken by a')
    expect(e.code).toBe('E_BROKEN')
    expect(e.replica).toBe(a.info.replicaId)
  }
})

test('an unencodable result is agreed as REPJS_UNSERIALIZABLE and replication stays on', async () => {
  const [a, b] = await replicas(2)
  const fa = a.distributed(() => () => 1, { name: 'fn' })
  const fb = b.distributed(() => () => 2, { name: 'fn' })
  await expect(fa()).rejects.toMatchObject({ code: 'REPJS_UNSERIALIZABLE' })
  await expect(fb()).rejects.toMatchObject({ code: 'REPJS_UNSERIALIZABLE' })
  const x = await a.distributed(() => 'a', { name: 'after' })()
  expect(await b.distributed(() => 'b', { name: 'after' })()).toBe(x)
})

test("another replica's value wins over an unencodable local one", async () => {
  const [a, b] = await replicas(2)
  expect(await a.distributed(() => 41, { name: 'v' })()).toBe(41)
  expect(await b.distributed(() => Symbol('x'), { name: 'v' })()).toBe(41)
})

test('agreed time never decreases even when a replica clock is far behind', async () => {
  const run = uniqueRun()
  const [fast] = await replicas(1, { clock: () => 2_000_000 }, run)
  const [slow] = await replicas(1, { clock: () => 1_000_000 }, run)
  expect(await fast!.now()).toBe(2_000_000)
  expect(await slow!.now()).toBe(2_000_000)
  // the slow replica proposes first now, but proposes max(own clock, last agreed)
  const t2 = await slow!.now()
  expect(t2).toBe(2_000_000)
  expect(await fast!.now()).toBe(t2)
})

test('median time ignores one bad clock and waits for the quorum', async () => {
  const run = uniqueRun()
  const clocks = [1_000, 1_010, 9_999_999]
  const reps: Replica[] = []
  for (const c of clocks) reps.push(...(await replicas(1, { clock: () => c, replicas: 3 }, run)))
  const states: string[] = []
  reps[0]!.on('status', (s) => states.push(s.state))
  const first = reps[0]!.now({ mode: 'median' })
  const second = reps[1]!.now({ mode: 'median' })
  let settled = false
  void first.then(() => (settled = true))
  await new Promise((r) => setTimeout(r, 300))
  expect(settled).toBe(false)
  expect(states).toContain('waiting-for-quorum')
  const third = reps[2]!.now({ mode: 'median' })
  const [t1, t2, t3] = await Promise.all([first, second, third])
  expect(t1).toBe(1_010)
  expect(t2).toBe(1_010)
  expect(t3).toBe(1_010)
  expect(states.at(-1)).not.toBe('waiting-for-quorum')
})

test('median time without a quorum is an error that says how to give one', async () => {
  const [a] = await replicas(1)
  await expect(a!.now({ mode: 'median' })).rejects.toMatchObject({ code: 'REPJS_BAD_ARGUMENT' })
})

test('vote reduces the first quorum votes in commit order, with a custom reducer', async () => {
  const [a, b, c] = await replicas(3)
  const join = (vs: unknown[]) => (vs as string[]).slice().sort().join('+')
  const out = await Promise.all([a!.vote('x', { quorum: 2, reduce: join }), b!.vote('y', { quorum: 2, reduce: join })])
  expect(out[0]).toBe('x+y')
  expect(out[1]).toBe('x+y')
  // a late voter gets the recorded outcome, and its vote is not written
  expect(await c!.vote('z', { quorum: 2, reduce: join })).toBe('x+y')
})

test('random modes: call, batch and seed agree, and randomUUID / getRandomValues agree', async () => {
  const [a, b] = await replicas(2)
  for (const mode of ['call', 'batch', 'seed'] as const) {
    const va = [await a!.random({ mode }), await a!.random({ mode }), await a!.random({ mode })]
    const vb = [await b!.random({ mode }), await b!.random({ mode }), await b!.random({ mode })]
    expect(vb).toEqual(va)
    expect(new Set(va).size).toBe(3)
  }
  expect(await b!.randomUUID()).toBe(await a!.randomUUID())
  const ba = await a!.getRandomValues(new Uint32Array(4))
  const bb = await b!.getRandomValues(new Uint32Array(4))
  expect([...bb]).toEqual([...ba])
})

test('named streams are independent: their relative order may differ between replicas', async () => {
  const [a, b] = await replicas(2)
  const sa = a!.stream('sensor')
  const sb = b!.stream('sensor')
  const x1 = await a!.distributed(() => 'main-a', { name: 'm' })()
  const y1 = await sa.distributed(() => 'sensor-a', { name: 's' })()
  const y2 = await sb.distributed(() => 'sensor-b', { name: 's' })()
  const x2 = await b!.distributed(() => 'main-b', { name: 'm' })()
  expect([x1, y1]).toEqual(['main-a', 'sensor-a'])
  expect([x2, y2]).toEqual([x1, y1])
})

test('callSites: false records no site: a divergence still names the slot and both calls, without where they were made', async () => {
  const [a, b] = await replicas(2, { callSites: false })
  await a!.distributed(() => 2, { name: 'left' })()
  const err = await b!.distributed(() => 3, { name: 'right' })().catch((e) => e)
  expect(RepJSError.is(err, 'REPJS_DIVERGED')).toBe(true)
  expect(err.message).toContain("call 'right'")
  expect(err.message).toContain("call 'left'")
  expect(err.message).toContain('slot 0')
  expect(err.details.logged.site).toBeFalsy()
  expect(err.details.asked.site).toBeFalsy()
  expect(err.message).not.toMatch(/semantics\.test\.ts/)
})

test('a replica making a different call at a slot gets REPJS_DIVERGED naming both sides', async () => {
  const [a, b] = await replicas(2)
  await a!.distributed((_n: number) => 1, { name: 'step' })(1)
  await a!.distributed(() => 2, { name: 'left' })()
  await b!.distributed((_n: number) => 1, { name: 'step' })(1)
  const err = await b!.distributed(() => 3, { name: 'right' })().catch((e) => e)
  expect(RepJSError.is(err, 'REPJS_DIVERGED')).toBe(true)
  expect(err.message).toContain("call 'right'")
  expect(err.message).toContain("call 'left'")
  expect(err.message).toContain('slot 1')
  expect(err.details.asked.site).toMatch(/semantics\.test\.ts:\d+/)
  expect(err.details.logged.site).toMatch(/semantics\.test\.ts:\d+/)
  // same name, other arguments: also divergence
  const [c, d] = await replicas(2)
  await c!.distributed((n: number) => n, { name: 'f' })(1)
  await expect(d!.distributed((n: number) => n, { name: 'f' })(2)).rejects.toMatchObject({ code: 'REPJS_DIVERGED' })
})

test("onDiverged: 'halt' stops the replica at the first divergence", async () => {
  const run = uniqueRun()
  const [a] = await replicas(1, {}, run)
  const [b] = await replicas(1, { onDiverged: 'halt' }, run)
  await a!.distributed(() => 1, { name: 'one' })()
  await expect(b!.distributed(() => 1, { name: 'two' })()).rejects.toMatchObject({ code: 'REPJS_DIVERGED' })
  expect(b!.status.state).toBe('closed')
  await expect(b!.now()).rejects.toMatchObject({ code: 'REPJS_DIVERGED' })
})

test('a replica of another program gets REPJS_VERSION_MISMATCH unless it opts out', async () => {
  const run = uniqueRun()
  await replicas(1, { program: 'app@1' }, run)
  await expect(connect({ run, etcd: etcd.endpoint, program: 'app@2' })).rejects.toMatchObject({ code: 'REPJS_VERSION_MISMATCH' })
  const [ok] = await replicas(1, { program: 'app@2', allowProgramMismatch: true }, run)
  expect(ok!.info.program).toBe('app@1')
})

test('a new run id never sees values of an old run; the same id resumes it', async () => {
  const run1 = uniqueRun()
  const [a] = await replicas(1, {}, run1)
  const v1 = await a!.distributed(() => 'old', { name: 'v' })()
  const [b] = await replicas(1, {}, uniqueRun())
  expect(await b!.distributed(() => 'new', { name: 'v' })()).toBe('new')
  const [c] = await replicas(1, {}, run1)
  expect(await c!.distributed(() => 'other', { name: 'v' })()).toBe(v1)
  expect(c!.info.incarnation).toBe(a!.info.incarnation)
  expect(b!.info.incarnation).not.toBe(a!.info.incarnation)
})

test('a replica whose slot is already decided locally does not propose', async () => {
  const run = uniqueRun()
  const [a] = await replicas(1, {}, run)
  for (let i = 0; i < 20; i++) await a!.now()
  const [b] = await replicas(1, {}, run)
  const store = (b as unknown as { engine: { store: Store } }).engine.store
  let proposals = 0
  const propose = store.propose.bind(store)
  store.propose = (...args) => (proposals++, propose(...args))
  for (let i = 0; i < 20; i++) await b!.now()
  expect(proposals).toBe(0)
  await b!.now()
  expect(proposals).toBe(1)
})

test('every replica runs fn locally, also when replaying', async () => {
  const run = uniqueRun()
  const [a] = await replicas(1, {}, run)
  const [b] = await replicas(1, {}, run)
  const seen: string[] = []
  await a!.distributed(() => seen.push('a'), { name: 'side' })()
  await b!.distributed(() => seen.push('b'), { name: 'side' })()
  expect(seen).toEqual(['a', 'b'])
})

test('distributed works as a method decorator (applied as TypeScript emits standard decorators)', async () => {
  const [a, b] = await replicas(2)
  // `@rep.distributed` and `@rep.distributed({ name })` on a method compile to these calls
  // (test/types/decorators.ts type-checks the real syntax).
  const ctx = (name: string) => ({ kind: 'method', name }) as unknown as ClassMethodDecoratorContext
  const make = (rep: Replica, base: number) => {
    const roll = rep.distributed(function (this: { base: number }) {
      return this.base + 1
    }, ctx('roll'))
    const roll2 = rep.distributed({ name: 'named-roll' })(function (this: { base: number }) {
      return this.base + 2
    }, ctx('roll2'))
    return { base, roll, roll2 }
  }
  const da = make(a!, 10)
  const db = make(b!, 20)
  expect(await da.roll()).toBe(11)
  expect(await db.roll()).toBe(11)
  expect(await db.roll2()).toBe(22)
  expect(await da.roll2()).toBe(22)
})

test('status goes connecting -> live, and closed on close; calls after close fail with REPJS_CLOSED', async () => {
  const [a] = await replicas(1)
  await a!.now()
  expect(a!.status.state).toBe('live')
  const states: string[] = []
  a!.on('status', (s) => states.push(s.state))
  await a!.close()
  expect(states).toEqual(['closed'])
  await expect(a!.now()).rejects.toMatchObject({ code: 'REPJS_CLOSED' })
})
