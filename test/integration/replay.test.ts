// `repjs replay` on a run recorded by `repjs run`: the same script replays the whole log (values,
// input and run-once outcomes from the log; the run-once rename is not run again); a seeded change
// is reported at its slot with both call sites (exit 3); a script that stops early or asks for
// more than was recorded is reported as such (exit 0); nothing is ever written to the run.
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { beforeAll, expect, test } from 'vitest'
import { runPrefix } from '../../node-gateway/store/keys.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { cli, outcome, tempDir, track, type Outcome } from '../helpers/run-script.js'

const etcd = useEtcd()
const sample = fileURLToPath(new URL('../fixtures/replay-sample.cjs', import.meta.url))
const run = uniqueRun('replay')
const dir = tempDir('repjs-replay-')
let recorded: Outcome
let keys: string[] = []

function repjs(args: string[], stdin?: string): Promise<Outcome> {
  return outcome(track(spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] }), stdin))
}
const replay = (script: string) => repjs(['replay', '--run', run, '--etcd', etcd.endpoint, join(dir, script)])
/** A copy of the sample with line `n` (1-based) replaced. */
function variant(name: string, edit: (lines: string[]) => void): string {
  const lines = readFileSync(sample, 'utf8').split('\n')
  edit(lines)
  writeFileSync(join(dir, name), lines.join('\n'))
  return name
}
async function runKeys(): Promise<string[]> {
  const client = new Etcd3({ hosts: etcd.endpoint })
  const got = await client.getAll().prefix(runPrefix(run)).strings()
  client.close()
  return Object.entries(got).map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`).sort()
}

beforeAll(async () => {
  copyFileSync(sample, join(dir, 'sample.cjs'))
  writeFileSync(join(dir, 'a.txt'), 'a')
  recorded = await repjs(['run', '--run', run, '--etcd', etcd.endpoint, '--eof-ends-input', join(dir, 'sample.cjs')], 'hello\n')
  expect(recorded.code, recorded.stderr).toBe(0)
  expect(existsSync(join(dir, 'b.txt'))).toBe(true)
  keys = await runKeys()
}, 60_000)

test('the same script replays the whole log: same output, input from the log, the run-once rename not run again', async () => {
  // a.txt is gone: renaming it again would throw ENOENT.
  const out = await replay('sample.cjs')
  expect(out.stderr).toBe('repjs replay: the whole log replayed (4 slots of stream main, 1 of stream input)\n')
  expect(out.code).toBe(0)
  expect(out.stdout).toBe(recorded.stdout)
  expect(JSON.parse(out.stdout)).toMatchObject({ line: 'hello' })
  expect(existsSync(join(dir, 'a.txt'))).toBe(false)
})

test('a seeded change: the first divergent slot, what the log holds and what the script asked for, both call sites; exit 3', async () => {
  const changed = variant('changed.cjs', (l) => (l[6] = 'const id = String(Math.random())'))
  const out = await replay(changed)
  expect(out.code, out.stderr).toBe(3)
  expect(out.stderr).toBe(
    "repjs replay: divergence at stream 'main' slot 3\n" +
      `  the log holds:        random 'crypto.randomUUID' (args -) at sample.cjs:7, proposed by replica ${/by=|replica ([0-9a-f]+)/.exec(out.stderr)![1]}\n` +
      "  the script asked for: random 'Math.random' (args -) at changed.cjs:7\n",
  )
  // moved: Math.random before Date.now diverges at slot 0
  const moved = variant('moved.cjs', (l) => ([l[3], l[4]] = [l[4]!, l[3]!]))
  const m = await replay(moved)
  expect(m.code).toBe(3)
  expect(m.stderr).toMatch(/slot 0\n {2}the log holds: {8}now 'Date\.now' \(args -\) at sample\.cjs:4, .*\n {2}the script asked for: random 'Math\.random' \(args -\) at moved\.cjs:4\n/)
})

test('a script that ends early: how many slots it used of how many; exit 0', async () => {
  const short = variant('short.cjs', (l) => l.splice(5))
  const out = await replay(short)
  expect(out.code).toBe(0)
  expect(out.stderr).toBe('repjs replay: the script ended before the end of the log: it used 2 of 4 slots of stream main and 0 of 1 slots of stream input\n')
})

test('a script that asks for more than was recorded: the end of the log reached at that slot, stopped; exit 0', async () => {
  const more = variant('more.cjs', (l) => (l[10] = '  rl.close(); console.log(Math.random())'))
  const out = await replay(more)
  expect(out.code).toBe(0)
  expect(out.stdout).toBe(recorded.stdout)
  expect(out.stderr).toMatch(/^repjs replay: the end of the recorded log reached at stream 'main' slot 4: the script asked for more than was recorded \(random 'Math\.random' \(args -\) at more\.cjs:11\); it was stopped there\n$/)
  // a second input line: the input stream ends first
  const twice = variant('twice.cjs', (l) => (l[10] = "  rl.once('line', (x) => console.log('second', x))"))
  const t = await replay(twice)
  expect(t.code).toBe(0)
  expect(t.stderr).toMatch(/reached at stream 'input' slot 1:/)
})

test('nothing was written to the run by the replays; an unknown run is REPJS_UNKNOWN_RUN (exit 1)', async () => {
  expect(await runKeys()).toEqual(keys)
  const out = await repjs(['replay', '--run', uniqueRun('none'), '--etcd', etcd.endpoint, join(dir, 'sample.cjs')])
  expect(out.code).toBe(1)
  expect(out.stderr).toMatch(/\[REPJS_UNKNOWN_RUN\]/)
})
