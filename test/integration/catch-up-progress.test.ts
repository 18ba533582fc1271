// A replica joining a long log reports catch-up progress: status `catching-up` with its slot and
// the log's head (known from the start, past the prefetch window), a few times per second; and
// `repjs run --verbose` prints it as progress lines, then a live line.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { expect, test, vi } from 'vitest'
import { createCborFormat } from '../../core/cbor-format.js'
import { createReplica, type Replica } from '../../core/replica.js'
import { connect, type Status } from '../../node-gateway/index.js'
import { createEtcdStore } from '../../node-gateway/store/etcd-store.js'
import { PROGRESS_INTERVAL_MS } from '../../core/status.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { writeRandoms } from '../helpers/long-log.js'
import { cli, tempDir, track } from '../helpers/run-script.js'

const etcd = useEtcd()

test('status events while catching up carry slot <= head = the log head, at most one per PROGRESS_INTERVAL_MS', async () => {
  const run = uniqueRun('progress')
  const n = 10_000
  const values = await writeRandoms({ run, etcd: etcd.endpoint, program: 'progress', n })
  const events: Array<Status & { at: number }> = []
  const rep = await connect({ run, etcd: etcd.endpoint, program: 'progress', onStatus: (s) => events.push({ ...s, at: performance.now() }) })
  const got: number[] = []
  for (let i = 0; i < n; i++) {
    got.push(await rep.random({ name: 'Math.random' }))
    // Paced so that catching up takes about a second: several progress events are due.
    if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50))
  }
  expect(got).toEqual(values)
  const progress = events.filter((s) => s.state === 'catching-up' && s.head >= 0)
  expect(progress.length).toBeGreaterThanOrEqual(3)
  for (const s of progress) {
    expect(s.head).toBe(n - 1) // the whole log's head, not the prefetch window's (4,096 ahead)
    expect(s.slot).toBeLessThanOrEqual(s.head)
  }
  for (let i = 1; i < progress.length; i++) {
    expect(progress[i]!.slot).toBeGreaterThan(progress[i - 1]!.slot)
    expect(progress[i]!.at - progress[i - 1]!.at).toBeGreaterThanOrEqual(PROGRESS_INTERVAL_MS - 1)
  }
  expect(rep.status).toMatchObject({ state: 'live', slot: n, head: n - 1 })
  await rep.close()
}, 60_000)

test('while the head read has not answered, the status shows no head (not how far the first pages reached)', async () => {
  const run = uniqueRun('progress-late-head')
  const n = 6_000
  const values = await writeRandoms({ run, etcd: etcd.endpoint, program: 'progress', n })
  const store = createEtcdStore({ endpoints: etcd.endpoint })
  // The head read answers only after the log delivered its first pages (a loaded machine's order);
  // the status is looked at just before it answers.
  let rep: Replica | undefined
  let firstPages!: () => void
  const paged = new Promise<void>((r) => (firstPages = r))
  const follow = store.follow.bind(store)
  store.follow = (r, stream, from, h) => follow(r, stream, from, { ...h, slot: (slot, record) => (h.slot(slot, record), slot >= 1000 && firstPages()) })
  const headSlot = store.headSlot.bind(store)
  const before: Status[] = []
  store.headSlot = async (r, stream) => {
    await paged
    before.push({ ...rep!.status })
    return headSlot(r, stream)
  }
  rep = await createReplica({ store, format: createCborFormat(), run, program: 'progress' })
  const got: number[] = []
  for (let i = 0; i < n; i++) got.push(await rep.random({ name: 'Math.random' }))
  expect(got).toEqual(values)
  expect(before).toEqual([{ state: 'catching-up', slot: expect.any(Number), head: -1 }])
  await vi.waitFor(() => expect(rep!.status).toMatchObject({ state: 'live', slot: n, head: n - 1 }))
  await rep.close()
}, 60_000)

test('repjs run --verbose joining a 20,000-slot run prints catch-up progress with the right head, then live', async () => {
  const run = uniqueRun('progress-cli')
  const n = 20_000
  await writeRandoms({ run, etcd: etcd.endpoint, program: 'progress-cli', n })
  const dir = tempDir('repjs-progress-')
  const script = join(dir, 'randoms.js')
  writeFileSync(script, `let s = 0\nfor (let i = 0; i < ${n}; i++) s += Math.random()\nconsole.log('sum', s.toFixed(3))\n`)
  const p = track(spawn(process.execPath, [cli, 'run', '--run', run, '--etcd', etcd.endpoint, '--program', 'progress-cli', '--verbose', script], { stdio: ['ignore', 'pipe', 'pipe'] }))
  expect(await p.exited).toBe(0)
  expect(p.stdout).toMatch(/^sum \d+\.\d{3}\n$/)
  const lines = p.stderr.split('\n')
  const progress = lines.map((l) => /^repjs: catching up: slot ([\d,]+) of ([\d,]+) \((\d+)%\)$/.exec(l)).filter((m) => m !== null)
  // At least one: replayed calls are answered in the worker (the replay window), so the 20,000 slots
  // take about half a second, one or two progress intervals; the interval itself is checked above.
  expect(progress.length, p.stderr).toBeGreaterThanOrEqual(1)
  const slots = progress.map((m) => Number(m[1]!.replaceAll(',', '')))
  for (let i = 1; i < slots.length; i++) expect(slots[i]).toBeGreaterThan(slots[i - 1]!)
  for (const m of progress) expect(m[2], p.stderr).toBe('20,000')
  const live = lines.findIndex((l) => /^repjs: caught up: live at slot 20,000 after [\d,]+ slots in [\d.]+ s$/.test(l))
  expect(live, p.stderr).toBeGreaterThan(lines.indexOf(progress.at(-1)!.input))
}, 60_000)
