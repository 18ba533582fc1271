// `repjs inspect` (and its alias `repjs log`) on a run recorded by `repjs run`: the table's
// columns, JSON lines that match the stored records, --from, --follow seeing a slot decided after
// it started (then Ctrl-C exits 0), and an unknown run.
import { spawn } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { beforeAll, expect, test } from 'vitest'
import { createCodec } from '../../core/codec.js'
import { decodeRecord, encodeRecord } from '../../core/record.js'
import { jsonValue } from '../../node-gateway/cli/json-value.js'
import { createCborFormat, createEtcdStore } from '../../node-gateway/index.js'
import { slotPrefix, slotOf } from '../../node-gateway/store/keys.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { cli, outcome, tempDir, track, type Proc } from '../helpers/run-script.js'

const etcd = useEtcd()
const sample = fileURLToPath(new URL('../fixtures/inspect-sample.cjs', import.meta.url))
const repjs = (args: string[], stdin?: string): Proc =>
  track(spawn(process.execPath, [cli, ...args], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] }), stdin)

const run = uniqueRun('inspect')
beforeAll(async () => {
  const dir = tempDir('repjs-inspect-')
  copyFileSync(sample, join(dir, 'sample.cjs'))
  const rec = await outcome(repjs(['run', '--run', run, '--etcd', etcd.endpoint, '--eof-ends-input', join(dir, 'sample.cjs')], 'hello\n'))
  expect(rec.code, rec.stderr).toBe(0)
}, 60_000)

test('the table: a header naming the run and its streams, aligned columns, one row per slot', async () => {
  const out = await outcome(repjs(['inspect', '--run', run, '--etcd', etcd.endpoint]))
  expect(out.code, out.stderr).toBe(0)
  const [head, cols, ...rows] = out.stdout.trimEnd().split('\n')
  expect(head).toMatch(new RegExp(`^run ${run} · program script:[0-9a-f]+ · incarnation [0-9a-f]+ · replicas - · streams: main, input$`))
  expect(cols!.split(/\s{2,}/)).toEqual(['SLOT', 'KIND', 'NAME', 'CALL SITE', 'PROPOSER', 'VALUE', 'AGREED TIME'])
  expect(rows).toHaveLength(4)
  const at = (name: string) => cols!.indexOf(name)
  const cell = (row: string, name: string, next?: string) => row.slice(at(name), next ? at(next) : undefined).trim()
  const table = rows.map((r) => ({ slot: cell(r, 'SLOT', 'KIND'), kind: cell(r, 'KIND', 'NAME'), name: cell(r, 'NAME', 'CALL SITE'), site: cell(r, 'CALL SITE', 'PROPOSER'), time: cell(r, 'AGREED TIME') }))
  expect(table.map((r) => [r.slot, r.kind, r.name, r.site])).toEqual([
    ['0', 'now', 'Date.now', 'sample.cjs:3'],
    ['1', 'random', 'Math.random', 'sample.cjs:4'],
    ['2', 'random', 'crypto.randomUUID', 'sample.cjs:5'],
    ['3', 'random', 'crypto.randomBytes', 'sample.cjs:6'],
  ])
  expect(table[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  expect(table.slice(1).map((r) => r.time)).toEqual(['-', '-', '-'])
  expect(rows[3]).toContain('Uint8Array(4) [')
  // repjs log is the same command
  expect((await outcome(repjs(['log', '--run', run, '--etcd', etcd.endpoint]))).stdout).toBe(out.stdout)
})

test("--json --stream '*': one JSON object per line, matching the stored records of every stream", async () => {
  const out = await outcome(repjs(['inspect', '--run', run, '--etcd', etcd.endpoint, '--json', '--stream', '*']))
  expect(out.code, out.stderr).toBe(0)
  const lines = out.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  const codec = createCodec(createCborFormat())
  const client = new Etcd3({ hosts: etcd.endpoint })
  const want: unknown[] = []
  for (const stream of ['main', 'input']) {
    for (const kv of await client.getAll().prefix(slotPrefix(run, stream)).sort('Key', 'Ascend').exec().then((r) => r.kvs)) {
      const slot = slotOf(kv.key.toString())
      const r = decodeRecord(codec, new Uint8Array(kv.value), { run, stream, slot })
      want.push({ stream, slot, kind: r.kind, name: r.name, args: r.argsHash, site: r.site, by: r.by, ok: r.ok, value: jsonValue(r.value) })
    }
  }
  client.close()
  expect(lines.map(({ at: _at, ...rest }) => rest)).toEqual(want)
  expect(want).toHaveLength(5)
  expect(lines[3]!.value).toEqual({ $bytes: expect.stringMatching(/^[A-Za-z0-9+/]{6}==$/) })
  expect(lines[4]).toMatchObject({ stream: 'input', kind: 'input', value: { line: 'hello' } })
  expect(lines[4]!.at).toBe(new Date((lines[4]!.value as { at: number }).at).toISOString())
  expect(lines[0]!.at).toBe(new Date(lines[0]!.value as number).toISOString())
})

test('--from N starts at slot N', async () => {
  const out = await outcome(repjs(['inspect', '--run', run, '--etcd', etcd.endpoint, '--json', '--from', '2']))
  expect(out.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { slot: number }).slot)).toEqual([2, 3])
})

test('--follow prints a slot decided after it started, and exits 0 on Ctrl-C', async () => {
  const p = repjs(['inspect', '--run', run, '--etcd', etcd.endpoint, '--follow', '--json'])
  await p.lines(4)
  // Slot 4 decided now, as a replica proposes it.
  const store = createEtcdStore({ endpoints: etcd.endpoint })
  const at = { run, stream: 'main', slot: 4 }
  const agreed = 0.25
  const res = await store.propose(at, encodeRecord(createCodec(createCborFormat()), at, { kind: 'random', name: 'late', argsHash: '-', site: 'x.js:1', by: 'late', ok: true, value: agreed }))
  expect(res.won).toBe(true)
  await store.close()
  const lines = await p.lines(5)
  expect(JSON.parse(lines[4]!)).toMatchObject({ stream: 'main', slot: 4, kind: 'random', name: 'late', value: agreed })
  p.proc.kill('SIGINT')
  expect(await p.exited).toBe(0)
})

test('an unknown run: exit 1 with REPJS_UNKNOWN_RUN', async () => {
  const out = await outcome(repjs(['inspect', '--run', uniqueRun('nothing'), '--etcd', etcd.endpoint]))
  expect(out.code).toBe(1)
  expect(out.stderr).toMatch(/does not exist on .* \[REPJS_UNKNOWN_RUN\]/)
})
