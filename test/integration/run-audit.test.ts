// `repjs run --audit script.js`: the script runs once, locally (no --run, no etcd), unchanged in
// what it prints and how it exits, and a report on stderr lists every non-deterministic call it
// made with counts and call sites, marked agreed / run once / NOT replicated.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { audit, outcome, tempDir } from '../helpers/run-script.js'

/** The report line for one call: mark, name, count, sites. */
const row = (mark: string, name: string, count: number, sites: string) =>
  new RegExp(`^  ${mark.replace(/ /g, ' ')}\\s+${name.replace(/[().]/g, (c) => `\\${c}`)}\\s+${count}×  ${sites.replace(/[().]/g, (c) => `\\${c}`)}`, 'm')

test.concurrent('a status reporter full of machine-specific calls: each NOT replicated call is listed with its site', async () => {
  const dir = tempDir('repjs-audit-')
  const o = await outcome(audit('status.js', [], [dir]))
  expect(o.code).toBe(4) // the script's exit code (process.exitCode = 4)
  expect(o.stdout).toMatch(/^status of .+ written at \d+ in \d+ µs\n$/) // its stdout, nothing else
  expect(existsSync(join(dir, 'status.json'))).toBe(true) // it really ran
  const r = o.stderr
  expect(r).toContain('repjs audit: ')
  expect(r).toMatch(row('NOT replicated', 'os.hostname()', 1, 'status.js:11'))
  expect(r).toMatch(row('NOT replicated', 'process.pid', 1, 'status.js:12'))
  expect(r).toMatch(row('NOT replicated', 'os.uptime()', 1, 'status.js:13'))
  expect(r).toMatch(row('NOT replicated', 'os.loadavg()', 1, 'status.js:14'))
  expect(r).toMatch(row('NOT replicated', 'process.memoryUsage()', 1, 'status.js:15'))
  expect(r).toMatch(row('NOT replicated', 'process.hrtime.bigint()', 2, 'status.js:9 (1×), status.js:22 (1×)'))
  expect(r).toMatch(row('run once', 'fs.renameSync()', 1, 'status.js:21'))
  expect(r).toMatch(row('agreed', 'new Date()', 1, 'status.js:16'))
  expect(r).toMatch(row('agreed', 'Math.random()', 1, 'status.js:17'))
  expect(r).toMatch(row('agreed', 'Date.now()', 1, 'status.js:23'))
  expect(r).toMatch(/3 agreed, 1 run once, 6 NOT replicated/)
  // Node's own reads (process.env.TERM by readline, FORCE_COLOR by console) are not the script's
  expect(r).not.toContain('process.env')
})

test.concurrent('--local-fs: the fs functions run on every replica, so the audit marks them NOT replicated', async () => {
  const o = await outcome(audit('status.js', ['--local-fs'], [tempDir('repjs-audit-')]))
  expect(o.stderr).toMatch(row('NOT replicated', 'fs.renameSync()', 1, 'status.js:21'))
})

test.concurrent('the dice game with input: readline, stdin and Math.random counted per site', async () => {
  const o = await outcome(audit('dice.js', [], [], { stdin: 'roll\nroll\nroll\nstop\n' }))
  expect(o.code).toBe(0)
  expect(o.stdout.split('\n').filter(Boolean)).toHaveLength(5)
  expect(o.stderr).toMatch(row('agreed', 'Math.random()', 6, 'dice.js:7'))
  expect(o.stderr).toMatch(row('agreed', 'new Date()', 3, 'dice.js:19'))
  expect(o.stderr).toMatch(row('agreed', 'readline.createInterface()', 1, 'dice.js:4'))
  expect(o.stderr).toMatch(row('agreed', 'process.stdin', 1, 'dice.js:4'))
  expect(o.stderr).toMatch(/4 agreed, 0 run once, 0 NOT replicated\. Everything seen is handled/)
})

test.concurrent('an ESM script: named imports from node:crypto and readline/promises are seen too', async () => {
  const o = await outcome(audit('quiz.mjs', [], [], { stdin: '1\n' }))
  expect(o.stdout).toMatch(/^Q1: /)
  expect(o.stderr).toMatch(row('agreed', 'crypto.randomInt()', 4, 'quiz.mjs:10 (2×), quiz.mjs:11 (2×)'))
  expect(o.stderr).toMatch(row('agreed', 'readline/promises createInterface()', 1, 'quiz.mjs:6'))
  expect(o.stderr).toMatch(row('agreed', 'Date.now()', 1, 'quiz.mjs:7'))
})
