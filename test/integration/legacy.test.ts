// The legacy corpus (test/legacy/): unmodified Node programs, each run as 3 replicas of one run
// under `repjs run`, print identical stdout and leave identical files; run plain twice, they
// differ (so each comparison could fail). Input goes into one replica only.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { filesIn, outcome, plain, tempDir, threeReplicas, type Outcome } from '../helpers/run-script.js'

let etcd: Cluster
beforeAll(async () => {
  etcd = await startCluster(1)
})
afterAll(async () => {
  await etcd?.stop()
})

const lines = (s: string) => s.split('\n').filter(Boolean)

/** All three exited 0 with the same stdout, and RepJS said nothing (quiet by default). */
function agreed(outs: Outcome[]): string {
  for (const o of outs) {
    expect(o.stderr, 'stderr').toBe('')
    expect(o.code).toBe(0)
  }
  expect(outs[1]!.stdout).toBe(outs[0]!.stdout)
  expect(outs[2]!.stdout).toBe(outs[0]!.stdout)
  return outs[0]!.stdout
}

test.concurrent('dice game (Math.random, readline line events, new Date())', async () => {
  const input = 'roll\nroll\nroll\nstop\n'
  const out = agreed(await threeReplicas('dice.js', { run: uniqueRun('dice'), etcd: etcd.endpoint, input }))
  expect(lines(out)).toHaveLength(5)
  expect(out).toMatch(/^You rolled [1-6] and [1-6] \(total \d+\)/m)
  expect(out).toMatch(/^Final score: \d+$/m)
  const [p1, p2] = await Promise.all([outcome(plain('dice.js', [], { stdin: input })), outcome(plain('dice.js', [], { stdin: input }))])
  expect(lines(p1.stdout)).toHaveLength(5)
  expect(p1.stdout).not.toBe(p2.stdout)
})

test.concurrent('log writer (new Date(), Date() into a file per replica)', async () => {
  const cwds = [tempDir(), tempDir(), tempDir()]
  const out = agreed(await threeReplicas('logwriter.js', { run: uniqueRun('log'), etcd: etcd.endpoint, args: ['service.log', '6'], cwds }))
  expect(out).toMatch(/^wrote 8 lines to service\.log/)
  const files = cwds.map(filesIn)
  expect(lines(files[0]!['service.log']!)).toHaveLength(8)
  expect(files[1]).toEqual(files[0])
  expect(files[2]).toEqual(files[0])
  // plain runs one after the other: the second one's clock is later
  const a = tempDir()
  const b = tempDir()
  const p1 = await outcome(plain('logwriter.js', ['service.log', '6'], { cwd: a }))
  const p2 = await outcome(plain('logwriter.js', ['service.log', '6'], { cwd: b }))
  expect(p1.code).toBe(0)
  expect(readFileSync(join(a, 'service.log'), 'utf8')).not.toBe(readFileSync(join(b, 'service.log'), 'utf8'))
  expect(p1.stdout).not.toBe(p2.stdout)
})

test.concurrent('token generator (crypto.randomUUID, randomBytes sync and callback, randomInt, globalThis.crypto)', async () => {
  const cwds = [tempDir(), tempDir(), tempDir()]
  const out = agreed(await threeReplicas('tokens.js', { run: uniqueRun('tokens'), etcd: etcd.endpoint, cwds }))
  expect(lines(out)).toHaveLength(4)
  expect(out).toMatch(/^ada {4}[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} key=[0-9a-f]{8}… pin=\d{4} recovery=[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$/m)
  const files = cwds.map(filesIn)
  expect(Object.keys(files[0]!)).toEqual(['credentials.json'])
  expect(files[1]).toEqual(files[0])
  expect(files[2]).toEqual(files[0])
  const [p1, p2] = await Promise.all([outcome(plain('tokens.js', [], { cwd: tempDir() })), outcome(plain('tokens.js', [], { cwd: tempDir() }))])
  expect(p1.code).toBe(0)
  expect(p1.stdout).not.toBe(p2.stdout)
})

test.concurrent('file rotator in a shared directory (renameSync, unlinkSync run once; --once fs.appendFileSync)', async () => {
  const shared = tempDir('repjs-rotate-')
  const out = agreed(await threeReplicas('rotate.js', { run: uniqueRun('rotate'), etcd: etcd.endpoint, flags: ['--once', 'fs.appendFileSync'], args: [shared, '5'] }))
  expect(lines(out).slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((g) => `rotated generation ${g}`))
  // the directory is what one run leaves: 3 rotated generations and a fresh log, nothing doubled
  const files = filesIn(shared)
  expect(Object.keys(files)).toEqual(['app.log', 'app.log.1', 'app.log.2', 'app.log.3'])
  expect(lines(files['app.log']!)).toHaveLength(1)
  for (const [i, gen] of [[1, 5], [2, 4], [3, 3]] as const) {
    expect(lines(files[`app.log.${i}`]!).map((l) => l.replace(/ id=.*/, ''))).toEqual([0, 1, 2].map((e) => `gen ${gen} entry ${e}`))
  }
  // what the replicas printed about the directory is what is in it
  expect(out).toContain(`app.log.1: 3 line(s), first: ${lines(files['app.log.1']!)[0]}`)
  const [p1, p2] = await Promise.all([outcome(plain('rotate.js', [tempDir(), '5'])), outcome(plain('rotate.js', [tempDir(), '5'])),])
  expect(p1.code).toBe(0)
  expect(p1.stdout).not.toBe(p2.stdout)
})

test.concurrent('quiz REPL, ESM (readline/promises question(), import { randomInt } from node:crypto)', async () => {
  const input = '12\n20\n42\n'
  const out = agreed(await threeReplicas('quiz.mjs', { run: uniqueRun('quiz'), etcd: etcd.endpoint, input }))
  expect(out).toMatch(/^Q1: \d+ x \d+ = (right!|no, .*)\nQ2: .*\nQ3: .*\nscore \d\/3 in \d+ ms/)
  // plain Node's readline/promises drops lines that arrive before the next question (exit 13):
  // only the first question matters here, and it differs
  const [p1, p2] = await Promise.all([outcome(plain('quiz.mjs', [], { stdin: input })), outcome(plain('quiz.mjs', [], { stdin: input }))])
  expect(p1.stdout).toMatch(/^Q1: /)
  expect(p1.stdout).not.toBe(p2.stdout)
})

test.concurrent('simulation seeded by Date.now() with its own LCG, timed with performance.now()', async () => {
  const out = agreed(await threeReplicas('sim.js', { run: uniqueRun('sim'), etcd: etcd.endpoint, args: ['20', '2'] }))
  expect(lines(out)).toHaveLength(22)
  expect(out).toMatch(/^seed \d+: \d+ rabbits, \d+ foxes\n/)
  expect(out).toMatch(/\ndone: 20 steps in \d+ ms\n$/)
  const p1 = await outcome(plain('sim.js', ['20', '2']))
  const p2 = await outcome(plain('sim.js', ['20', '2']))
  expect(p1.code).toBe(0)
  expect(p1.stdout.split('\n')[0]).not.toBe(p2.stdout.split('\n')[0]) // another seed
})

test.concurrent('notes REPL (for await over a readline interface, crypto.randomUUID, new Date())', async () => {
  const input = 'buy milk\ncall mom\nlist\nquit\n'
  const out = agreed(await threeReplicas('notes.js', { run: uniqueRun('notes'), etcd: etcd.endpoint, input }))
  expect(lines(out)).toHaveLength(6)
  expect(out).toMatch(/\n {2}[0-9a-f]{8} \S+ buy milk\n {2}[0-9a-f]{8} \S+ call mom\n2 notes, bye\n$/)
  const [p1, p2] = await Promise.all([outcome(plain('notes.js', [], { stdin: input })), outcome(plain('notes.js', [], { stdin: input }))])
  expect(p1.code).toBe(0)
  expect(p1.stdout).not.toBe(p2.stdout)
})
