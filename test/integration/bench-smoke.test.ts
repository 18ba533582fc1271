/**
 * A smoke run of the benchmark's code (`node bench/run.mjs --smoke`): every experiment runs with
 * tiny counts against real etcd and writes its JSON, markdown and SVG. Correctness only: no timing
 * is asserted, only that each result is complete, says where it was measured, and that replicas agreed.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { settled } from '../helpers/run-script.js'

const ROOT = join(import.meta.dirname, '..', '..')
const EXPERIMENTS = ['floor', 'prototype', 'catch-up', 'streams', 'fan-out', 'calls', 'replicas', 'as-users-run-it']
const out = mkdtempSync(join(tmpdir(), 'repjs-bench-test-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

function bench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const cp = spawn(process.execPath, [join(ROOT, 'bench', 'run.mjs'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    cp.stdout.on('data', (d) => (output += d))
    cp.stderr.on('data', (d) => (output += d))
    cp.on('error', reject)
    void settled(cp).then(({ code }) => resolve({ code, output }))
  })
}
const read = (name: string) => readFileSync(join(out, name), 'utf8')
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (name: string): any => JSON.parse(read(`${name}.json`))

type Config = Record<string, unknown> & { streams: { counts: number[]; n: number } }
test('every mode configures every experiment; streams split N evenly', async () => {
  const configs = join(ROOT, 'bench', 'configs.mjs') // a plain module of the benchmark, not typed
  const { CONFIGS } = (await import(configs)) as { CONFIGS: Record<'full' | 'quick' | 'smoke', Config> }
  const keys = Object.keys(CONFIGS.full).sort()
  for (const mode of ['quick', 'smoke'] as const) expect(Object.keys(CONFIGS[mode]).sort()).toEqual(keys)
  for (const c of Object.values(CONFIGS)) for (const s of c.streams.counts) expect(c.streams.n % s).toBe(0)
})

test('an unknown option or experiment is refused with the usage', async () => {
  const r = await bench(['--only', 'nope'])
  expect(r.code).toBe(2)
  expect(r.output).toMatch(/unknown experiment nope[\s\S]*usage: node bench\/run\.mjs/)
})

// 3.2 min at a load average of 13 on 2 cores, 5 min at 40: the limit leaves room for a loaded machine (not a retry: a hang still fails).
test('npm run bench -- --smoke runs every experiment and writes JSON, markdown and SVG for each', { timeout: 540_000 }, async () => {
  const r = await bench(['--smoke', '--out', out])
  expect(r.output).not.toMatch(/FAILED/)
  expect(r.code, r.output.slice(-3000)).toBe(0)
  for (const name of EXPERIMENTS) {
    const o = json(name)
    expect(o.experiment).toBe(name)
    expect(Date.parse(o.env.date)).toBeGreaterThan(0)
    expect(o.env.machine.cores).toBeGreaterThan(0)
    expect(o.env.mode).toBe('smoke')
    expect(o.etcd.version).toMatch(/\d+\.\d+\.\d+/)
    expect(typeof o.etcd.fsync).toBe('boolean')
    expect(Array.isArray(o.targets)).toBe(true)
    const md = read(`${name}.md`)
    expect(md).toMatch(/^# /)
    expect(md).toMatch(/\n\|---\|/)
    expect(md).not.toMatch(/NaN|undefined/)
    const svg = read(`${name}.svg`)
    expect(svg).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>\n$/)
    expect(svg).not.toMatch(/NaN|undefined|Infinity/)
    expect(svg).toMatch(/<(circle|rect x)/)
  }
  // What each experiment measured, as the smoke configuration asked.
  const floor = json('floor')
  for (const k of ['floorEtcd3', 'floorHttp2', 'floorRaw', 'distributed', 'now', 'distributedEtcd3']) expect(floor.single[k].n).toBe(40)
  expect(floor.single.floorRaw.etcdPerCall.txn).toBeGreaterThan(0.9) // floor C's Txns reached etcd (it also checks each answer and the keys)
  expect(floor.gateway.gateway.n).toBe(40)
  expect(floor.gateway.gateway.gatewayCpuUsPerCall).toBeGreaterThan(0)
  expect(floor.bridge.run1.n).toBe(40)
  expect(floor.bridge.replayRatio).toBeGreaterThan(0)
  // The browser worker's bridge: measured when Chromium is there, otherwise the row says why and is not gated.
  const browserRow = floor.targets.find((t: { what: string }) => t.what.startsWith('runInWorker bridge'))
  if (floor.browser.missing) expect(browserRow).toMatchObject({ gated: false, result: expect.stringContaining('not measured') })
  else {
    expect(floor.browser.n).toBe(40)
    expect(browserRow.gated).toBe(true)
    for (const x of [floor.browser.replay.workerUs, floor.browser.replay.pageUs, floor.browser.live.workerUs]) expect(x).toBeGreaterThan(0)
  }
  const proto = json('prototype')
  expect(proto.rows.map((x: { key: string }) => x.key)).toEqual(['one', 'three', 'threeEtcd3', 'threeOnThree'])
  for (const row of proto.rows.slice(1, 3)) expect(row.replicasDetail.reduce((a: number, x: { slotsWon: number }) => a + x.slotsWon, 0)).toBe(40)
  const catchUp = json('catch-up')
  expect(catchUp.replay.slots).toBe(1000)
  expect(catchUp.chase.lateProgress.length).toBeGreaterThan(0)
  const streams = json('streams')
  expect(streams.rows).toHaveLength(4)
  for (const p of streams.rows) expect(p.agreed).toBe(true)
  const fan = json('fan-out')
  expect(fan.missingDeliveries).toBe(0)
  expect(fan.runs).toHaveLength(2) // every run reported, the worst gated
  expect(fan.lastClient.p99Ms).toBe(Math.max(...fan.runs.map((x: { lastClientP99Ms: number }) => x.lastClientP99Ms)))
  const calls = json('calls')
  expect(calls.rows).toHaveLength(3 * 2) // no RepJS, 1 and 2 replicas; N = 0 and 10
  const reps = json('replicas')
  expect(reps.rows.map((x: { ok: boolean }) => x.ok)).toEqual([true, true])
  const users = json('as-users-run-it')
  type UserRow = { key: string; system: string; measured: boolean; reps?: unknown[] }
  const usersRepjs = users.rows.filter((x: UserRow) => x.system === 'repjs')
  expect(usersRepjs.map((x: UserRow) => [x.key, x.reps?.length])).toEqual([['one', 1], ['three', 1]])
  // CPU per call of each replica, read by the replica itself after its last call.
  const cpu = usersRepjs.map((x: { replicaCpu: { cpuUsPerCall: number; callsCpuUsPerCall: number }[] }) => x.replicaCpu)
  expect(cpu.map((c: unknown[]) => c.length)).toEqual([1, 3])
  for (const c of cpu.flat()) expect(c.cpuUsPerCall).toBeGreaterThan(c.callsCpuUsPerCall)
  // The prototype is measured only when REPPY_DIR points at a checkout of it; otherwise its recorded figures.
  expect(users.prototypeMeasured).toBe(Boolean(process.env.REPPY_DIR))
  expect(users.rows.filter((x: UserRow) => x.system === 'prototype').map((x: UserRow) => x.measured)).toEqual([users.prototypeMeasured, users.prototypeMeasured])
  expect(read('as-users-run-it.md')).toMatch(users.prototypeMeasured ? /measured in the same run/ : /recorded in issue 14/)
  const summary = read('summary.md')
  for (const name of EXPERIMENTS) expect(summary).toContain(`[${name}](${name}.md)`)
  expect(summary).toMatch(/distributed\(\)` direct vs the raw etcd3 floor/)
  // Every issue-14 target has its row.
  for (const row of [/direct, p50 per call/, /vs floor C, the raw HTTP\/2 exchange/, /Node CPU per agreed call/, /Gateway CPU per call/, /through a gateway vs direct/,
    /bridge: added per call over the async API \(Node/, /Replay under `repjs run`/, /runInWorker bridge in a browser worker/, /As users run it, 1 replica/, /As users run it, 3 replicas/,
    /CPU per call of each replica/, /Catch-up: replay/, /late replica/, /worst of 2 run/, /memory per idle connection/]) expect(summary).toMatch(row)
  // --only reruns one experiment; the summary keeps the other experiments' rows.
  const dates = Object.fromEntries(json('summary').results.map((x: { name: string; date: string }) => [x.name, x.date]))
  const one = await bench(['--smoke', '--only', 'catch-up', '--out', out])
  expect(one.code, one.output.slice(-2000)).toBe(0)
  const after = Object.fromEntries(json('summary').results.map((x: { name: string; date: string }) => [x.name, x.date]))
  expect(Object.keys(after)).toEqual(EXPERIMENTS)
  for (const name of EXPERIMENTS) expect(after[name] === dates[name]).toBe(name !== 'catch-up')
  // --render writes the same tables and plots again from the JSON, measuring nothing.
  const before = EXPERIMENTS.map((name) => read(`${name}.md`) + read(`${name}.svg`))
  const again = await bench(['--render', '--out', out])
  expect(again.code, again.output).toBe(0)
  expect(EXPERIMENTS.map((name) => read(`${name}.md`) + read(`${name}.svg`))).toEqual(before)
})
